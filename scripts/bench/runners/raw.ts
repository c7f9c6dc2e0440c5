/**
 * The raw-socket bound: the least work a client can do for each workload.
 *
 * It logs in, sends the command bytes, and counts what comes back until the tagged OK, framing
 * just enough to stay correct (lines and `{n}` literals, so a literal that happens to hold
 * "a1 OK" cannot end the read early) and decoding nothing. Whatever time it takes is the server's
 * and the transport's; the other implementations are measured as a ratio to it.
 *
 * Usage: `deno run --allow-all scripts/bench/runners/raw.ts WORKLOAD plain|tls`
 *
 * @module
 */

import {
  BULK_ITEMS,
  halfOf,
  META_ITEMS,
  readSettings,
  report,
  type RunResult,
  type RunSettings,
  tripUid,
} from "./_common.ts";
import { concatBytes } from "../../../utils/bytes.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A response-framing byte counter over one connection. */
class RawConnection {
  readonly #conn: Deno.Conn;
  readonly #buf = new Uint8Array(256 * 1024);
  #chunk = new Uint8Array(0);
  #pos = 0;
  #tag = 0;
  /** Bytes read from the socket since the last reset. */
  wireBytes = 0;
  /** Literal payload bytes seen since the last reset. */
  literalBytes = 0;
  /** Untagged responses seen since the last reset. */
  untagged = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Clears the counters. */
  reset(): void {
    this.wireBytes = 0;
    this.literalBytes = 0;
    this.untagged = 0;
  }

  /** Returns the next tag. */
  nextTag(): string {
    return `a${++this.#tag}`;
  }

  /** Writes a command line (CRLF added). */
  async send(line: string): Promise<void> {
    await this.write(encoder.encode(line + "\r\n"));
  }

  /** Writes raw bytes. */
  async write(bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      done += await this.#conn.write(bytes.subarray(done));
    }
  }

  async #fill(): Promise<void> {
    const n = await this.#conn.read(this.#buf);
    if (n === null) throw new Error("Connection closed by the server");
    this.wireBytes += n;
    this.#chunk = this.#buf.subarray(0, n);
    this.#pos = 0;
  }

  /**
   * Reads one complete response and returns its first line (literals skipped, only counted).
   */
  async readResponse(): Promise<string> {
    let first: string | null = null;
    let parts: Uint8Array<ArrayBuffer>[] = [];
    for (;;) {
      if (this.#pos >= this.#chunk.length) await this.#fill();
      const lf = this.#chunk.indexOf(10, this.#pos);
      if (lf < 0) {
        parts.push(this.#chunk.slice(this.#pos));
        this.#pos = this.#chunk.length;
        continue;
      }
      let line = this.#chunk.subarray(this.#pos, lf + 1);
      this.#pos = lf + 1;
      if (parts.length) {
        parts.push(line);
        line = concatBytes(parts);
        parts = [];
      }
      first ??= decoder.decode(line.subarray(0, Math.min(line.length, 200)));
      const size = literalSize(line);
      if (size < 0) return first;
      // Skip the literal: counted, never copied.
      let left = size;
      this.literalBytes += size;
      while (left > 0) {
        if (this.#pos >= this.#chunk.length) await this.#fill();
        const take = Math.min(left, this.#chunk.length - this.#pos);
        this.#pos += take;
        left -= take;
      }
    }
  }

  /** Reads responses until the tagged completion of `tag`; returns its status word. */
  async untilTagged(tag: string): Promise<string> {
    const prefix = tag + " ";
    for (;;) {
      const first = await this.readResponse();
      if (first.startsWith("* ")) this.untagged++;
      else if (first.startsWith(prefix)) {
        return first.slice(prefix.length).split(" ", 1)[0];
      }
    }
  }

  /** Sends one command and waits for its tagged status, which must be OK. */
  async command(text: string): Promise<void> {
    const tag = this.nextTag();
    await this.send(`${tag} ${text}`);
    const status = await this.untilTagged(tag);
    if (status !== "OK") {
      throw new Error(`Command "${text.split(" ")[0]}" answered "${status}"`);
    }
  }

  /** Closes the socket. */
  close(): void {
    this.#conn.close();
  }
}

// The n of a line ending in "{n}\r\n" (or "{n+}"), or -1.
function literalSize(line: Uint8Array): number {
  let end = line.length - 1;
  if (line[end] === 10) end--;
  if (line[end] === 13) end--;
  if (line[end] !== 0x7d) return -1;
  let i = end - 1;
  if (line[i] === 0x2b) i--;
  let n = 0;
  let scale = 1;
  while (i >= 0 && line[i] >= 0x30 && line[i] <= 0x39) {
    n += (line[i] - 0x30) * scale;
    scale *= 10;
    i--;
  }
  return i >= 0 && line[i] === 0x7b && scale > 1 ? n : -1;
}

function quote(s: string): string {
  return `"${s.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}

async function run(s: RunSettings): Promise<RunResult> {
  const base = {
    workload: s.workload,
    impl: "raw",
    transport: s.tls ? "tls" : "plain",
  };
  const conn = s.tls
    ? await Deno.connectTls({
      hostname: s.host,
      port: s.port,
      caCerts: [s.caPem],
    })
    : await Deno.connect({ hostname: s.host, port: s.port });
  const raw = new RawConnection(conn);
  try {
    await raw.readResponse();
    await raw.command(`LOGIN ${quote(s.user)} ${quote(s.pass)}`);
    await raw.command("SELECT INBOX");
    raw.reset();
    let items = 0;
    let ok = true;
    // One-after-another round trips also report their first half's time (see halfOf).
    const half = halfOf(s);
    let firstHalfMs: number | undefined;
    const start = performance.now();
    switch (s.workload) {
      case "bulk":
      case "bulk_stream":
      case "bulk_fetchall":
        // The raw bound streams by nature: all three bulk variants are the same bytes.
        await raw.command(`FETCH 1:* ${BULK_ITEMS}`);
        items = raw.untagged;
        ok = items === s.messages &&
          (s.expectBytes === 0 || raw.literalBytes === s.expectBytes);
        break;
      case "meta":
        await raw.command(`FETCH 1:* ${META_ITEMS}`);
        items = raw.untagged;
        ok = items === s.messages;
        break;
      case "uid":
        for (let i = 0; i < s.trips; i++) {
          if (i === half) firstHalfMs = performance.now() - start;
          await raw.command(`UID FETCH ${tripUid(i, s.messages)} (FLAGS)`);
        }
        items = raw.untagged;
        ok = items === s.trips;
        break;
      case "uid_pipelined": {
        // All commands in one write; the server answers them in order.
        const tags: string[] = [];
        let text = "";
        for (let i = 0; i < s.trips; i++) {
          const tag = raw.nextTag();
          tags.push(tag);
          text += `${tag} UID FETCH ${tripUid(i, s.messages)} (FLAGS)\r\n`;
        }
        const writing = raw.write(encoder.encode(text));
        for (const tag of tags) {
          const status = await raw.untilTagged(tag);
          if (status !== "OK") ok = false;
        }
        await writing;
        items = raw.untagged;
        ok &&= items === s.trips;
        break;
      }
      case "noop":
        for (let i = 0; i < s.trips; i++) {
          if (i === half) firstHalfMs = performance.now() - start;
          await raw.command("NOOP");
        }
        items = s.trips;
        break;
    }
    const ms = performance.now() - start;
    const bytes = raw.wireBytes;
    await raw.command("LOGOUT").catch(() => {});
    return { ...base, ms, bytes, items, ok, firstHalfMs };
  } finally {
    raw.close();
  }
}

if (import.meta.main) {
  const settings = readSettings();
  try {
    report(await run(settings));
  } catch (error) {
    report({
      workload: settings.workload,
      impl: "raw",
      transport: settings.tls ? "tls" : "plain",
      ms: null,
      bytes: 0,
      items: 0,
      ok: false,
      error: error instanceof Error ? error.message : String(error),
    });
    Deno.exitCode = 1;
  }
}
