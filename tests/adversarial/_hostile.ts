/**
 * A scripted hostile IMAP server on loopback, for the adversarial suite: it plays a list of steps
 * (send bytes, whole or drip-fed; read a client line; wait; close; upgrade to TLS) and records
 * every byte the client sent, so that a test can assert what never reached the wire.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IMAP4, type IMAP4Options } from "../../lib/imap4.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const certs = new URL("../../fixtures/certs/", import.meta.url);

/** Reads a PEM file of `fixtures/certs/`. */
export function pem(name: string): string {
  return Deno.readTextFileSync(new URL(name, certs));
}

/** The test CA that signed `server.pem` and `wrong_host.pem`. */
export const CA = pem("ca.pem");

/** How the bytes of a `send` step go out. */
export interface SendOptions {
  /** Write one byte per write (TCP no-delay is on), waiting `delay` ms between bytes. */
  bytewise?: boolean;
  /** Write this many bytes per write. */
  chunk?: number;
  /** Milliseconds between writes (default 0, i.e. one macrotask). */
  delay?: number;
}

/** One step of a script. */
export type Step =
  | { kind: "send"; data: Uint8Array; options: SendOptions }
  | { kind: "expect"; pattern: RegExp }
  | { kind: "read"; bytes: number }
  | { kind: "wait"; ms: number }
  | { kind: "close" }
  | { kind: "drain" }
  | { kind: "starttls"; cert: string }
  | { kind: "run"; fn: (peer: Peer) => Promise<void> };

/** Sends text or bytes. */
export function send(data: string | Uint8Array, options: SendOptions = {}): Step {
  return { kind: "send", data: typeof data === "string" ? encoder.encode(data) : data, options };
}

/** Reads one client line (through LF) and checks it against `pattern` (CRLF excluded). */
export function expect(pattern: RegExp | string): Step {
  const re = typeof pattern === "string"
    ? new RegExp(`^${pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`)
    : pattern;
  return { kind: "expect", pattern: re };
}

/** Reads exactly `bytes` bytes from the client (a literal it sends). */
export function readBytes(bytes: number): Step {
  return { kind: "read", bytes };
}

/** Waits, saying nothing. */
export function wait(ms: number): Step {
  return { kind: "wait", ms };
}

/** Closes the connection. */
export function hangUp(): Step {
  return { kind: "close" };
}

/** Says nothing and reads (and records) whatever the client sends until it closes. */
export function drain(): Step {
  return { kind: "drain" };
}

/** Upgrades to TLS as the server with `fixtures/certs/<cert>.pem`; what follows is encrypted. */
export function starttls(cert = "server"): Step {
  return { kind: "starttls", cert };
}

/** Runs arbitrary code against the connection. */
export function run(fn: (peer: Peer) => Promise<void>): Step {
  return { kind: "run", fn };
}

/** The server's greeting and its answer to the client's first CAPABILITY (tag A0). */
export function greet(caps = "IMAP4rev1", greeting = "* OK hostile server ready\r\n"): Step[] {
  return [
    send(greeting),
    expect("A0 CAPABILITY"),
    send(`* CAPABILITY ${caps}\r\nA0 OK CAPABILITY completed\r\n`),
  ];
}

/** A LOGIN (with tag `tag`) answered OK with capabilities, so no CAPABILITY follows. */
export function login(tag = "A1", caps = "IMAP4rev1"): Step[] {
  return [expect(new RegExp(`^${tag} LOGIN `)), send(`${tag} OK [CAPABILITY ${caps}] in\r\n`)];
}

/** A SELECT (with tag `tag`) answered OK. */
export function select(tag = "A2"): Step[] {
  return [
    expect(new RegExp(`^${tag} SELECT `)),
    send(`* 3 EXISTS\r\n* 0 RECENT\r\n${tag} OK [READ-WRITE] selected\r\n`),
  ];
}

/** Greeting, LOGIN (A1) and SELECT (A2): the next command the client sends is A3. */
export function selected(): Step[] {
  return [...greet(), ...login(), ...select()];
}

/** The connection a script runs against; exposed to `run` steps. */
export interface Peer {
  /** Writes bytes as a `send` step would. */
  write(data: Uint8Array, options?: SendOptions): Promise<void>;
  /** Reads one client line, CRLF included; null at end of stream. */
  line(): Promise<string | null>;
  /** Sleeps, unless the server is being closed. */
  sleep(ms: number): Promise<void>;
}

/** Pull-based buffered reading of one connection, recording everything. */
class Wire {
  conn: Deno.Conn;
  buf = new Uint8Array(0);
  constructor(conn: Deno.Conn, readonly record: (b: Uint8Array) => void) {
    this.conn = conn;
  }
  async more(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    this.record(chunk.subarray(0, n));
    const next = new Uint8Array(this.buf.length + n);
    next.set(this.buf);
    next.set(chunk.subarray(0, n), this.buf.length);
    this.buf = next;
    return true;
  }
  async line(): Promise<string | null> {
    for (;;) {
      const lf = this.buf.indexOf(0x0a);
      if (lf !== -1) {
        const out = decoder.decode(this.buf.subarray(0, lf + 1));
        this.buf = this.buf.slice(lf + 1);
        return out;
      }
      if (!(await this.more())) return null;
    }
  }
  async exact(n: number): Promise<Uint8Array | null> {
    while (this.buf.length < n) if (!(await this.more())) return null;
    const out = this.buf.slice(0, n);
    this.buf = this.buf.slice(n);
    return out;
  }
}

function closeQuietly(c: { close(): void } | null | undefined): void {
  try {
    c?.close();
  } catch {
    // Closed already.
  }
}

/** A running hostile server; `await using` closes it. */
export class HostileServer implements AsyncDisposable {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Script problems: a client line that did not match, the client closing too early... */
  readonly failures: string[] = [];
  /** How many connections were accepted. */
  accepted = 0;
  #listener: Deno.Listener;
  #received: Uint8Array[] = [];
  #conns: { close(): void }[] = [];
  #background: Promise<unknown>[] = [];
  #timers = new Set<{ id?: ReturnType<typeof setTimeout>; resolve: () => void }>();
  #stopped = false;
  #done: Promise<void>;

  /**
   * Starts listening and runs `script` on the first connection accepted.
   *
   * @param script the steps
   * @param tlsCert when set, the listener speaks implicit TLS with this certificate
   */
  constructor(script: Step[], tlsCert?: string) {
    this.#listener = tlsCert
      ? Deno.listenTls({
        hostname: "127.0.0.1",
        port: 0,
        cert: pem(`${tlsCert}.pem`),
        key: pem(`${tlsCert}.key`),
      })
      : Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#done = this.#serve(script);
  }

  /** Everything the client sent, decoded as UTF-8 (TLS sessions: the decrypted bytes). */
  text(): string {
    return decoder.decode(this.bytes());
  }

  /** Everything the client sent, as bytes. */
  bytes(): Uint8Array {
    const n = this.#received.reduce((s, b) => s + b.length, 0);
    const out = new Uint8Array(n);
    let at = 0;
    for (const b of this.#received) out.set(b, (at += b.length) - b.length);
    return out;
  }

  /** The client's lines, CRLF removed. */
  lines(): string[] {
    return this.text().split("\r\n").filter((l) => l !== "");
  }

  /** Resolves when the script has finished (or failed). */
  get done(): Promise<void> {
    return this.#done;
  }

  async #serve(script: Step[]): Promise<void> {
    let conn: Deno.Conn;
    try {
      conn = await this.#listener.accept();
    } catch {
      return; // Closed before anyone connected.
    }
    this.accepted++;
    this.#conns.push(conn);
    if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
    const wire = new Wire(conn, (b) => this.#received.push(b.slice()));
    const peer: Peer = {
      write: (data, options) => this.#write(wire, data, options ?? {}),
      line: () => wire.line(),
      sleep: (ms) => this.#sleep(ms),
    };
    try {
      for (const step of script) {
        if (this.#stopped) return;
        await this.#step(wire, peer, step);
      }
      // The script is over: say nothing more, and let the client decide when to leave.
      await this.#step(wire, peer, { kind: "drain" });
    } catch (e) {
      if (!this.#stopped) this.failures.push(`script error: ${(e as Error).message}`);
    } finally {
      closeQuietly(wire.conn);
      // Accept (and close) anything else, so a second connection attempt does not hang.
      this.#background.push(
        this.#listener.accept().then((c) => {
          this.accepted++;
          closeQuietly(c);
        }, () => {}),
      );
    }
  }

  async #step(wire: Wire, peer: Peer, step: Step): Promise<void> {
    switch (step.kind) {
      case "send":
        return await this.#write(wire, step.data, step.options);
      case "expect": {
        const line = await wire.line();
        if (line === null) {
          this.failures.push(`client closed, expected ${step.pattern}`);
          throw new Error("client closed");
        }
        const text = line.replace(/\r?\n$/, "");
        if (!step.pattern.test(text)) {
          this.failures.push(`client sent ${JSON.stringify(text)}, expected ${step.pattern}`);
          throw new Error("unexpected client line");
        }
        return;
      }
      case "read":
        if ((await wire.exact(step.bytes)) === null) {
          this.failures.push(`client closed before sending ${step.bytes} bytes`);
          throw new Error("client closed");
        }
        return;
      case "wait":
        return await this.#sleep(step.ms);
      case "close":
        closeQuietly(wire.conn);
        this.#stopped = true;
        return;
      case "drain":
        try {
          while (await wire.more());
        } catch {
          // Reset by the client: that is its way of leaving too.
        }
        return;
      case "starttls":
        return await this.#upgrade(wire, step.cert);
      case "run":
        return await step.fn(peer);
    }
  }

  async #write(wire: Wire, data: Uint8Array, options: SendOptions): Promise<void> {
    const size = options.bytewise ? 1 : options.chunk ?? data.length;
    for (let at = 0; at < data.length; at += size) {
      if (this.#stopped) return;
      const piece = data.subarray(at, at + size);
      let off = 0;
      while (off < piece.length) off += await wire.conn.write(piece.subarray(off));
      if ((options.bytewise || options.chunk) && at + size < data.length) {
        await this.#sleep(options.delay ?? 0);
      }
    }
  }

  /**
   * Server-side STARTTLS. Deno can only start TLS as a client, so the raw connection is relayed
   * to a private `Deno.listenTls` on loopback, whose accepted connection carries the clear text.
   */
  async #upgrade(wire: Wire, cert: string): Promise<void> {
    const inner = Deno.listenTls({
      hostname: "127.0.0.1",
      port: 0,
      cert: pem(`${cert}.pem`),
      key: pem(`${cert}.key`),
    });
    let plain: Deno.TcpConn;
    let tls: Deno.TlsConn;
    try {
      [plain, tls] = await Promise.all([
        Deno.connect({ hostname: "127.0.0.1", port: (inner.addr as Deno.NetAddr).port }),
        inner.accept(),
      ]);
    } finally {
      inner.close();
    }
    this.#conns.push(plain, tls);
    const raw = wire.conn;
    const leftover = wire.buf;
    const relay = async (from: Deno.Conn, to: Deno.Conn, first?: Uint8Array) => {
      const buf = new Uint8Array(16384);
      try {
        if (first && first.length > 0) await to.write(first);
        for (;;) {
          const n = await from.read(buf);
          if (n === null) break;
          let at = 0;
          while (at < n) at += await to.write(buf.subarray(at, n));
        }
      } catch {
        // One side closed: the other relay ends too.
      } finally {
        closeQuietly(to);
        closeQuietly(from);
      }
    };
    this.#background.push(relay(raw, plain, leftover), relay(plain, raw));
    wire.conn = tls;
    wire.buf = new Uint8Array(0);
    try {
      await tls.handshake();
    } catch (e) {
      this.failures.push(`TLS handshake failed on the server: ${(e as Error).message}`);
      throw e;
    }
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const entry: { id?: ReturnType<typeof setTimeout>; resolve: () => void } = {
        resolve: () => {
          this.#timers.delete(entry);
          resolve();
        },
      };
      entry.id = setTimeout(entry.resolve, ms);
      this.#timers.add(entry);
    });
  }

  /** Stops everything: ends waits, closes the connections and the listener, awaits the script. */
  async close(): Promise<void> {
    this.#stopped = true;
    for (const t of [...this.#timers]) {
      clearTimeout(t.id);
      t.resolve();
    }
    for (const c of this.#conns) closeQuietly(c);
    closeQuietly(this.#listener);
    await this.#done;
    await Promise.all(this.#background);
  }

  /** Closes the server. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Starts a hostile server.
 *
 * @param script the steps to play on the first connection
 * @param tlsCert implicit TLS with this certificate (e.g. `"server"`), or plain TCP
 * @returns the running server
 */
export function hostile(script: Step[], tlsCert?: string): HostileServer {
  return new HostileServer(script, tlsCert);
}

/** The client options every scenario uses: small timeouts, fixed tags A0, A1... */
export const OPTS: IMAP4Options = { timeout: 300, tagPrefix: "A" };

/** Connects a client to `srv` with {@link OPTS} and `extra`. */
export function connect(srv: HostileServer, extra: IMAP4Options = {}): Promise<IMAP4> {
  return IMAP4.connect("127.0.0.1", srv.port, { ...OPTS, ...extra });
}

/**
 * Connects a client to `srv`, logs in and selects INBOX (the server plays {@link selected}).
 *
 * @param srv the hostile server
 * @param extra client options on top of {@link OPTS}
 * @returns the client, in state SELECTED
 */
export async function openSelected(srv: HostileServer, extra: IMAP4Options = {}): Promise<IMAP4> {
  const M = await connect(srv, extra);
  await M.login("user", "pw");
  await M.select("INBOX");
  return M;
}

/** What a call gave, and how long it took. */
export interface Outcome<T> {
  value?: T;
  error?: unknown;
  ms: number;
}

/** Runs `p` and measures it, catching any error. */
export async function timed<T>(p: Promise<T> | (() => Promise<T>)): Promise<Outcome<T>> {
  const t0 = performance.now();
  try {
    const value = await (typeof p === "function" ? p() : p);
    return { value, ms: performance.now() - t0 };
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
}

/**
 * Asserts that `p` fails with exactly the class `cls` (not a subclass where it matters) within
 * `maxMs`, and that its message matches `message`.
 *
 * @returns the error
 */
export async function failsWith(
  p: Promise<unknown> | (() => Promise<unknown>),
  cls: abstract new (...args: never[]) => Error,
  maxMs: number,
  message?: RegExp,
): Promise<Error> {
  const out = await timed(p);
  assert.ok(out.error !== undefined, `expected ${cls.name}, got a value: ${String(out.value)}`);
  assert.ok(
    out.error instanceof cls,
    `expected ${cls.name}, got ${(out.error as Error)?.name}: ${(out.error as Error)?.message}`,
  );
  assert.ok(out.ms < maxMs, `took ${Math.round(out.ms)} ms, bound ${maxMs} ms`);
  if (message) assert.match((out.error as Error).message, message);
  return out.error as Error;
}

/**
 * Asserts the client is dead for good: state LOGOUT, and a later call fails with IMAP4.abort at
 * once without writing anything.
 */
export async function assertDead(M: IMAP4, srv?: HostileServer): Promise<void> {
  assert.equal(M.state, "LOGOUT");
  const before = srv?.bytes().length ?? 0;
  await failsWith(M.noop(), IMAP4.abort, 100);
  await failsWith(M.capability(), IMAP4.abort, 100);
  if (srv) assert.equal(srv.bytes().length, before, "a dead client wrote bytes");
}
