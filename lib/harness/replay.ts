/**
 * The replay server: plays the `S:` side of a transcript to one real client and checks every
 * line the client sends against the `C:` lines, failing with a readable diff on the first
 * mismatch.
 *
 * Rules: consecutive `S:` lines are sent, then the server waits for the next `C:` line. The
 * recorded tag of each command (its first token) is mapped to the client's tag, and tagged
 * responses (and ESEARCH's `(TAG "…")`) are sent with the client's tag. When a `C:` line ends in
 * a synchronising literal, the `S:` lines recorded after it (the `+`) are sent before the literal
 * is read; literal bytes are compared exactly. {@link SECRET_MARKER} in a `C:` line matches any
 * argument (atom, quoted string) or payload line; a literal whose bytes are the marker matches a
 * literal of any size. `# wait: MS` pauses; `# starttls` switches both sides to TLS (the server
 * needs `tls`).
 *
 * @example
 * ```ts ignore
 * import { replay } from "./replay.ts";
 * const bytes = await Deno.readFile("fixtures/transcripts/dovecot/python_basic.imap");
 * await using server = await replay(bytes);
 * // point a client at server.hostname:server.port, then:
 * const result = await server.done;
 * if (!result.ok) throw result.error;
 * ```
 *
 * @module
 */

import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { quoteBytes } from "../errors.ts";
import {
  defaultListenerFactory,
  type ListenerFactory,
  type ServerTlsOptions,
  type ServerTransport,
} from "../../transports/listen.ts";
import {
  type ClientLineInfo,
  lineText,
  literalOf,
  metadataOf,
  parseTranscript,
  SECRET_MARKER,
  type ServerLineInfo,
  SessionTracker,
  type Transcript,
  type TranscriptLine,
} from "./transcript.ts";
import { equalBytes, joinBytes, streamTransport } from "./_shared.ts";

/** The client sent something other than the transcript's next `C:` line. */
export class ReplayMismatch extends Error {
  /** The expected line (with the client's tag), escaped, or a description. */
  readonly expected: string;
  /** The received line, escaped, or a description such as `end of stream`. */
  readonly received: string;
  /** The 1-based transcript line of the expected `C:` line. */
  readonly lineNumber: number;
  /** The byte offset of the first difference within the line (or the literal). */
  readonly offset: number;

  /**
   * Creates the error; the message shows both lines one above the other.
   *
   * @param what where the difference is (`"line"` or `"literal"`)
   * @param expected the expected bytes, escaped
   * @param received the received bytes, escaped
   * @param lineNumber the transcript line
   * @param offset the first differing byte
   */
  constructor(
    what: "line" | "literal",
    expected: string,
    received: string,
    lineNumber: number,
    offset: number,
  ) {
    super(
      `Replay mismatch in the client ${what} at transcript line ${lineNumber}, byte ${offset}:\n` +
        `  expected: ${expected}\n  received: ${received}`,
    );
    this.name = "ReplayMismatch";
    this.expected = expected;
    this.received = received;
    this.lineNumber = lineNumber;
    this.offset = offset;
  }
}

/** The outcome of one replayed session. */
export interface ReplayResult {
  /** `true` when the client sent exactly the transcript's `C:` side. */
  ok: boolean;
  /** Why it failed: a {@link ReplayMismatch}, or the connection's error. */
  error?: Error;
  /** How many `C:` lines were matched. */
  clientLines: number;
}

/** Options of a replay. */
export interface ReplayOptions {
  /** Serve implicit TLS with this certificate; also needed by transcripts with `# starttls`. */
  tls?: ServerTlsOptions;
  /** Listen for implicit TLS (default: `true` when `tls` is given and not `starttlsOnly`). */
  implicitTls?: boolean;
  /** Milliseconds to wait for each client line before failing (default 10 000). */
  timeout?: number;
  /** Address to bind (default `"127.0.0.1"`). */
  hostname?: string;
  /** Port to bind (default 0: any free port). */
  port?: number;
  /** The runtime's listeners (default: chosen at run time). */
  listeners?: ListenerFactory;
}

/** A replay server waiting for (or serving) its one client. */
export interface ReplayServer extends AsyncDisposable {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** Settles when the session ends; never rejects. */
  readonly done: Promise<ReplayResult>;
  /** Stops listening and ends the session; idempotent. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const MARKER = encoder.encode(SECRET_MARKER);
const MAX_LINE = 1_000_000;

function toTranscript(t: Uint8Array | Transcript): Transcript {
  return t instanceof Uint8Array ? parseTranscript(t) : t;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** Where the marker stands as a whole token in `line`, or -1. */
function markerIndex(line: Uint8Array): number {
  outer: for (let i = 0; i + MARKER.length <= line.length; i++) {
    if (i > 0 && line[i - 1] !== 0x20) continue;
    for (let k = 0; k < MARKER.length; k++) if (line[i + k] !== MARKER[k]) continue outer;
    const after = line[i + MARKER.length];
    if (after === undefined || after === 0x20 || after === 0x0d || after === 0x0a) return i;
  }
  return -1;
}

/**
 * Compares a received client line with the expected one (already carrying the client's tag).
 *
 * @returns -1 when they match, else the offset of the first difference
 */
function compareLine(expected: Uint8Array, received: Uint8Array, secretLiteral: boolean): number {
  if (secretLiteral) {
    // The literal's size is the secret's: compare what precedes "{n}" and require a literal.
    const e = literalOf(expected)!;
    const r = literalOf(received);
    const head = expected.subarray(0, e.start);
    if (r === null || r.start !== e.start || !equalBytes(head, received.subarray(0, r.start))) {
      return firstDifference(head, received);
    }
    return -1;
  }
  const m = markerIndex(expected);
  if (m === -1) return equalBytes(expected, received) ? -1 : firstDifference(expected, received);
  const prefix = expected.subarray(0, m);
  const suffix = expected.subarray(m + MARKER.length);
  if (!equalBytes(prefix, received.subarray(0, m))) return firstDifference(prefix, received);
  const tail = received.subarray(received.length - suffix.length);
  if (received.length < m + suffix.length || !equalBytes(suffix, tail)) return m;
  // A secret sent as a literal where an atom was recorded: the client would wait for "+".
  if (literalOf(received) !== null && literalOf(expected) === null) return m;
  return -1;
}

/** Buffered pull reads over a connection, with a per-read timeout. */
class Reader {
  #conn: ServerTransport;
  #buf: Uint8Array = new Uint8Array(0);
  #timeout: number;

  constructor(conn: ServerTransport, timeout: number) {
    this.#conn = conn;
    this.#timeout = timeout;
  }

  get buffered(): number {
    return this.#buf.length;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), this.#timeout);
    });
    try {
      const n = await Promise.race([this.#conn.read(chunk), timedOut]);
      if (n === "timeout") throw new ReadTimeout(this.#timeout);
      if (n === null) return false;
      this.#buf = joinBytes([this.#buf, chunk.subarray(0, n)]);
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads through the next LF; at end of stream gives what is left, or `null`. */
  async line(): Promise<Uint8Array | null> {
    for (let from = 0;;) {
      const lf = this.#buf.indexOf(0x0a, from);
      if (lf !== -1) {
        const out = this.#buf.slice(0, lf + 1);
        this.#buf = this.#buf.slice(lf + 1);
        return out;
      }
      from = this.#buf.length;
      if (from > MAX_LINE) throw new Error(`Client line is longer than ${MAX_LINE} bytes`);
      if (!await this.#fill()) {
        const rest = this.#buf;
        this.#buf = new Uint8Array(0);
        return rest.length > 0 ? rest : null;
      }
    }
  }

  /** Reads exactly `n` bytes, or fewer at end of stream. */
  async exact(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n && await this.#fill());
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(out.length);
    return out;
  }
}

class ReadTimeout extends Error {
  constructor(ms: number) {
    super(`nothing within ${ms} ms`);
  }
}

/** Maps the recorded tag in a server line to the client's. */
function mapServerLine(line: Uint8Array, info: ServerLineInfo, tags: Map<string, string>) {
  if (info.role !== "response") return line;
  const live = tags.get(info.first);
  if (live !== undefined && info.first !== "*" && info.first !== "+") {
    return joinBytes([encoder.encode(live), line.subarray(info.first.length)]);
  }
  if (info.first === "*") {
    const m = /^\* ESEARCH \(TAG "([^"\\]*)"\)/i.exec(lineText(line));
    const mapped = m === null ? undefined : tags.get(m[1]);
    if (m !== null && mapped !== undefined) {
      const at = m[0].length - 2 - m[1].length;
      const text = encoder.encode(mapped);
      return joinBytes([line.subarray(0, at), text, line.subarray(at + m[1].length)]);
    }
  }
  return line;
}

const CONTINUE_LITERAL = encoder.encode("+ Ready for literal data\r\n");

/**
 * Replays a transcript over an accepted connection (or any byte stream), then closes it.
 *
 * @param transcript the transcript, as bytes or parsed
 * @param connection the connection to the client
 * @param options `tls` for `# starttls`, `timeout` per client line
 * @returns the outcome; a mismatch is reported in it, never thrown
 */
export async function replayConnection(
  transcript: Uint8Array | Transcript,
  connection: ServerTransport,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const timeout = options.timeout ?? 10_000;
  const { entries } = toTranscript(transcript);
  const tracker = new SessionTracker();
  const infos = entries.map((e) =>
    e.kind === "comment" ? null : e.side === "C" ? tracker.client(e.line) : tracker.server(e.line)
  );
  let conn = connection;
  let reader = new Reader(conn, timeout);
  const tags = new Map<string, string>();
  let out: Uint8Array[] = [];
  let clientLines = 0;
  const flush = async () => {
    if (out.length === 0) return;
    const data = joinBytes(out);
    out = [];
    await conn.write(data);
  };
  /** Queues the S: lines and handles the metadata from `i` up to the next C: line. */
  const serverRun = async (i: number, onlyContinuation = false): Promise<number> => {
    for (; i < entries.length; i++) {
      const e = entries[i];
      if (e.kind === "comment") {
        const text = lineText(e.raw);
        const wait = /^#\s*wait:\s*(\d+)\s*$/i.exec(text);
        if (wait !== null) {
          await flush();
          await new Promise((resolve) => setTimeout(resolve, Number(wait[1])));
        } else if (/^#\s*starttls\s*$/i.test(text)) {
          await flush();
          if (options.tls === undefined || conn.startTls === undefined) {
            throw new Error("Transcript switches to TLS: replay needs the tls option");
          }
          if (reader.buffered > 0) throw new Error("Client sent data before the TLS handshake");
          conn = await conn.startTls(options.tls);
          reader = new Reader(conn, timeout);
        }
        continue;
      }
      if (e.side === "C") break;
      const info = infos[i] as ServerLineInfo;
      if (onlyContinuation && info.first === "+") continue;
      out.push(mapServerLine(e.line, info, tags));
      if (e.literal) out.push(e.literal);
    }
    return i;
  };
  const mismatch = (
    what: "line" | "literal",
    e: TranscriptLine,
    expected: Uint8Array,
    received: Uint8Array | string,
    offset: number,
  ) =>
    new ReplayMismatch(
      what,
      (what === "line" ? "C: " : "") + quoteBytes(expected, 400),
      typeof received === "string"
        ? `(${received})`
        : (what === "line" ? "C: " : "") + quoteBytes(received, 400),
      e.lineNumber,
      offset,
    );
  try {
    let i = 0;
    while ((i = await serverRun(i)) < entries.length) {
      const e = entries[i] as TranscriptLine;
      const info = infos[i] as ClientLineInfo;
      await flush();
      let expected = e.line;
      let received: Uint8Array | null;
      try {
        received = await reader.line();
      } catch (err) {
        if (!(err instanceof ReadTimeout)) throw err;
        throw mismatch("line", e, expected, err.message, 0);
      }
      if (received === null) throw mismatch("line", e, expected, "end of stream", 0);
      if (info.role === "command") {
        const sp = received.indexOf(0x20);
        const live = new TextDecoder().decode(received.subarray(0, sp === -1 ? 0 : sp));
        if (live !== "") {
          tags.set(info.tag, live);
          expected = joinBytes([encoder.encode(live), e.line.subarray(info.tag.length)]);
        }
      }
      const secretLiteral = e.literal !== undefined && equalBytes(e.literal, MARKER);
      const diff = compareLine(expected, received, secretLiteral);
      if (diff !== -1) throw mismatch("line", e, expected, received, diff);
      clientLines++;
      i++;
      const expectedLit = literalOf(e.line);
      const receivedLit = literalOf(received);
      if (e.literal === undefined || expectedLit === null || receivedLit === null) continue;
      if (receivedLit.sync) {
        const before = out.length;
        i = await serverRun(i);
        if (out.length === before) out.push(CONTINUE_LITERAL);
        await flush();
      } else if (expectedLit.sync) i = await serverRun(i, true);
      let data: Uint8Array;
      try {
        data = await reader.exact(receivedLit.size);
      } catch (err) {
        if (!(err instanceof ReadTimeout)) throw err;
        throw mismatch("literal", e, e.literal, err.message, 0);
      }
      if (data.length < receivedLit.size) {
        throw mismatch("literal", e, e.literal, "end of stream", data.length);
      }
      if (!secretLiteral && !equalBytes(data, e.literal)) {
        throw mismatch("literal", e, e.literal, data, firstDifference(e.literal, data));
      }
    }
    await flush();
    return { ok: true, clientLines };
  } catch (err) {
    const error = err instanceof Error ? err : new Error(String(err));
    if (error instanceof ReplayMismatch) {
      try {
        await conn.write(encoder.encode("* BYE replay mismatch\r\n"));
      } catch { /* the client is gone */ }
    }
    return { ok: false, error, clientLines };
  } finally {
    await conn.close();
  }
}

/**
 * Starts a replay server on loopback for one client.
 *
 * @param transcript the transcript, as bytes or parsed
 * @param options TLS, timeout, address and listener factory
 * @returns the server: its address, `done` (the outcome) and `close()`
 * @throws TranscriptSyntaxError when the transcript cannot be parsed
 */
export async function replay(
  transcript: Uint8Array | Transcript,
  options: ReplayOptions = {},
): Promise<ReplayServer> {
  const parsed = toTranscript(transcript);
  const factory = options.listeners ?? await defaultListenerFactory();
  const implicit = options.implicitTls ?? options.tls !== undefined;
  const listener = await factory.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    tls: implicit ? options.tls : undefined,
  });
  let conn: ServerTransport | null = null;
  let closed = false;
  const done = (async (): Promise<ReplayResult> => {
    try {
      conn = await listener.accept();
    } catch (err) {
      return { ok: false, error: err as Error, clientLines: 0 };
    } finally {
      await listener.close();
    }
    if (conn === null || closed) {
      await conn?.close();
      return {
        ok: false,
        error: new Error("Replay server closed before a client connected"),
        clientLines: 0,
      };
    }
    return await replayConnection(parsed, conn, options);
  })();
  const close = async () => {
    closed = true;
    await listener.close();
    await (conn as ServerTransport | null)?.close();
    await done;
  };
  return {
    hostname: listener.hostname,
    port: listener.port,
    done,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Replays a transcript over a pair of web streams (a process's stdin and stdout), for clients
 * that spawn a stream command (IMAP4_stream).
 *
 * @param transcript the transcript, as bytes or parsed
 * @param readable what the client writes (stdin)
 * @param writable where the client reads (stdout)
 * @param options timeout
 * @returns the outcome
 */
export function replayStdio(
  transcript: Uint8Array | Transcript,
  readable: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  // The streams are the caller's (a process's stdio): let go of them without cancelling.
  return replayConnection(transcript, streamTransport(readable, writable), options);
}

/** One transcript of a suite. */
export interface SuiteCase {
  /** The file's path relative to the suite's directory. */
  name: string;
  /** The parsed transcript. */
  transcript: Transcript;
  /** Its `# key: value` metadata. */
  metadata: Record<string, string>;
}

/** The outcome of one transcript of a suite. */
export interface SuiteResult extends ReplayResult {
  /** The file's path relative to the suite's directory. */
  name: string;
}

/**
 * Replays every `*.imap` file under a directory (recursively, in name order), one replay server
 * each, calling `client` to drive a client against it. A transcript whose metadata says
 * `# transport: tls` is served over implicit TLS when `options.tls` is given.
 *
 * @param dir the directory
 * @param client drives one session; its failure is recorded as the case's error
 * @param options replay options for every case
 * @returns one result per transcript
 */
export async function runSuite(
  dir: string,
  client: (server: ReplayServer, testCase: SuiteCase) => Promise<void>,
  options: ReplayOptions = {},
): Promise<SuiteResult[]> {
  const names: string[] = [];
  const walk = async (sub: string) => {
    for (const d of await readdir(join(dir, sub), { withFileTypes: true })) {
      const rel = sub === "" ? d.name : `${sub}/${d.name}`;
      if (d.isDirectory()) await walk(rel);
      else if (d.name.endsWith(".imap")) names.push(rel);
    }
  };
  await walk("");
  names.sort();
  const results: SuiteResult[] = [];
  for (const name of names) {
    const transcript = parseTranscript(new Uint8Array(await readFile(join(dir, name))));
    const metadata = metadataOf(transcript);
    const tls = metadata.transport === "tls" || metadata.starttls !== undefined ||
        transcript.entries.some((e) =>
          e.kind === "comment" && /^#\s*starttls/.test(lineText(e.raw))
        )
      ? options.tls
      : undefined;
    const server = await replay(transcript, {
      ...options,
      tls,
      implicitTls: metadata.transport === "tls" && tls !== undefined,
    });
    let clientError: Error | undefined;
    try {
      await client(server, { name, transcript, metadata });
    } catch (err) {
      clientError = err instanceof Error ? err : new Error(String(err));
    }
    if (clientError !== undefined) await server.close();
    const result = await server.done;
    results.push({
      name,
      ...result,
      ok: result.ok && clientError === undefined,
      error: result.error ?? clientError,
    });
  }
  return results;
}
