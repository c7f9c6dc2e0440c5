/**
 * A raw scripted IMAP client for the harness tests: it plays the `C:` side of a transcript and
 * checks every server byte.
 *
 * @module
 */

import assert from "node:assert/strict";
import { lineText, SessionTracker, type Transcript } from "../../lib/harness/mod.ts";
import { TLS } from "./_common.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The password the client sends where the transcript has the secret marker. */
export const PASSWORD = "s3cret-pw";

export type Duplex = {
  read(b: Uint8Array): Promise<number | null>;
  write(b: Uint8Array): Promise<number | void>;
};

/** Pull reads for a raw test client. */
export class Reads {
  buf = new Uint8Array(0);
  constructor(public conn: Duplex) {}
  async exact(n: number): Promise<Uint8Array> {
    while (this.buf.length < n) {
      const chunk = new Uint8Array(65536);
      const k = await this.conn.read(chunk);
      if (k === null) break;
      const next = new Uint8Array(this.buf.length + k);
      next.set(this.buf);
      next.set(chunk.subarray(0, k), this.buf.length);
      this.buf = next;
    }
    const out = this.buf.slice(0, n);
    this.buf = this.buf.slice(out.length);
    return out;
  }
  async rest(): Promise<string> {
    let s = dec.decode(this.buf);
    this.buf = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    for (let k; (k = await this.conn.read(chunk)) !== null;) s += dec.decode(chunk.subarray(0, k));
    return s;
  }
}

const join = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), at += p.length;
  return out;
};

/**
 * Plays the client side of a transcript with tags `zz0, zz1...` and real secrets in place of the
 * marker, checking that every server byte arrives with the client's tags.
 */
export async function drive(
  first: Duplex,
  t: Transcript,
  upgrade?: (c: Duplex) => Promise<Duplex>,
  tagFor: (recorded: string, n: number) => string = (_, n) => `zz${n}`,
): Promise<void> {
  let r = new Reads(first);
  const tracker = new SessionTracker();
  const tags = new Map<string, string>();
  let expected: Uint8Array[] = [];
  const check = async () => {
    const want = join(expected);
    expected = [];
    assert.equal(dec.decode(await r.exact(want.length)), dec.decode(want));
  };
  let n = 0;
  for (const e of t.entries) {
    if (e.kind === "comment") {
      if (lineText(e.raw) === "# starttls") {
        await check();
        r = new Reads(await upgrade!(r.conn));
      }
      continue;
    }
    if (e.side === "S") {
      const info = tracker.server(e.line);
      let text = dec.decode(e.line);
      const live = tags.get(info.first);
      if (info.role === "response" && live) text = live + text.slice(info.first.length);
      expected.push(enc.encode(text));
      if (e.literal) expected.push(e.literal);
      continue;
    }
    await check();
    const info = tracker.client(e.line);
    let text = dec.decode(e.line);
    if (info.role === "command") {
      tags.set(info.tag, tagFor(info.tag, n++));
      text = tags.get(info.tag) + text.slice(info.tag.length);
    }
    let literal = e.literal;
    if (literal && dec.decode(literal) === "<redacted>") {
      literal = enc.encode(PASSWORD);
      text = text.replace("{10}", `{${PASSWORD.length}}`);
    }
    text = text.replace(/^<redacted>\r\n$/, btoa(`\0imaptest\0${PASSWORD}`) + "\r\n")
      .replace(" <redacted>", ` "${PASSWORD}"`);
    await r.conn.write(enc.encode(text));
    if (literal) await r.conn.write(literal);
  }
  await check();
  assert.equal(await r.rest(), "", "the replay server closes after the transcript");
}

/**
 * Connects to `server` over TCP and {@link drive}s `t` through it, upgrading with STARTTLS (trusting
 * the replay test certificate) where the transcript does; closes the connection at the end.
 */
export async function driveTcp(
  server: { hostname: string; port: number },
  t: Transcript,
  tagFor?: (recorded: string, n: number) => string,
): Promise<void> {
  const conn = await Deno.connect({ hostname: server.hostname, port: server.port });
  try {
    await drive(
      conn,
      t,
      async (c) =>
        await Deno.startTls(c as Deno.TcpConn, { hostname: "localhost", caCerts: [TLS.cert] }),
      tagFor,
    );
  } finally {
    try {
      conn.close();
    } catch { /* upgraded: the TLS connection owns it */ }
  }
}
