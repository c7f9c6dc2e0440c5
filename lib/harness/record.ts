/**
 * The recorder: a loopback proxy between any IMAP client and a real server that writes the
 * session as a transcript (DESIGN §6), with secrets replaced by {@link SECRET_MARKER}: the LOGIN
 * password (atom, quoted string or literal, whose count is adjusted), the AUTHENTICATE initial
 * response (SASL-IR) and every AUTHENTICATE payload line. Usernames are kept. STARTTLS is
 * terminated on both sides: after the server's OK the proxy upgrades its upstream connection
 * (verifying the server) and offers its own certificate to the client, records the plaintext and
 * marks the switch with `# starttls`. A recorded file replays without edits.
 *
 * @example
 * ```ts ignore
 * import { record } from "./record.ts";
 * await using rec = await record({ upstream: { hostname: "127.0.0.1", port: 143 } });
 * // point a client at rec.hostname:rec.port; once it logs out:
 * await Deno.writeFile("session.imap", await rec.done);
 * ```
 *
 * @module
 */

import {
  defaultListenerFactory,
  type ListenerFactory,
  type ServerTlsOptions,
  type ServerTransport,
} from "../../transports/listen.ts";
import type { TlsOptions, Transport } from "../../transports/transport.ts";
import {
  comment,
  lineText,
  literalOf,
  type LiteralSpec,
  SECRET_MARKER,
  SessionTracker,
  type TranscriptEntry,
  type TranscriptLine,
  writeTranscript,
} from "./transcript.ts";
import { joinBytes } from "./_shared.ts";
import { fromLatin1, latin1 } from "../../utils/bytes.ts";

const encoder = new TextEncoder();
const MARKER = encoder.encode(SECRET_MARKER);

/** A token of a command line: its span and whether it announces the line's literal. */
interface Token {
  start: number;
  end: number;
  literal: boolean;
}

/** Splits a command line into space-separated arguments, keeping quoted strings whole. */
function tokens(text: string, literal: LiteralSpec | null): Token[] {
  const out: Token[] = [];
  let end = text.length;
  while (end > 0 && (text[end - 1] === "\n" || text[end - 1] === "\r")) end--;
  let i = 0;
  while (i < end) {
    if (text[i] === " ") {
      i++;
      continue;
    }
    const start = i;
    if (literal !== null && i === literal.start) {
      out.push({ start, end, literal: true });
      break;
    }
    if (text[i] === '"') {
      for (i++; i < end && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      i++;
    } else {
      while (i < end && text[i] !== " ") i++;
    }
    out.push({ start, end: Math.min(i, end), literal: false });
  }
  return out;
}

/** Replaces `[start, end)` of a line with the marker, or a literal count with the marker's. */
function splice(text: string, t: Token): string {
  const sync = !text.slice(t.start, t.end).endsWith("+}");
  const value = t.literal ? `{${MARKER.length}${sync ? "" : "+"}}` : SECRET_MARKER;
  return text.slice(0, t.start) + value + text.slice(t.end);
}

/** Frames one direction of the session into lines and literals. */
class Framer {
  #buf: Uint8Array = new Uint8Array(0);
  #literal:
    | { entry: TranscriptLine; remaining: number; parts: Uint8Array[]; secret: boolean }
    | null = null;

  constructor(
    readonly onLine: (line: Uint8Array) => { entry: TranscriptLine; secretLiteral: boolean },
  ) {}

  push(chunk: Uint8Array): void {
    let data = this.#buf.length > 0 ? joinBytes([this.#buf, chunk]) : chunk;
    this.#buf = new Uint8Array(0);
    while (data.length > 0) {
      if (this.#literal !== null) {
        const lit = this.#literal;
        const take = Math.min(lit.remaining, data.length);
        lit.parts.push(data.slice(0, take));
        lit.remaining -= take;
        data = data.subarray(take);
        if (lit.remaining === 0) {
          lit.entry.literal = lit.secret ? MARKER.slice() : joinBytes(lit.parts);
          this.#literal = null;
        }
        continue;
      }
      const lf = data.indexOf(0x0a);
      if (lf === -1) {
        this.#buf = data.slice();
        return;
      }
      const line = data.slice(0, lf + 1);
      data = data.subarray(lf + 1);
      const size = literalOf(line)?.size;
      const { entry, secretLiteral } = this.onLine(line);
      if (size !== undefined) {
        this.#literal = { entry, remaining: size, parts: [], secret: secretLiteral };
        if (size === 0) {
          entry.literal = secretLiteral ? MARKER.slice() : new Uint8Array(0);
          this.#literal = null;
        }
      }
    }
  }

  /** Whether the direction stopped in the middle of a line or a literal. */
  get incomplete(): boolean {
    return this.#buf.length > 0 || this.#literal !== null;
  }

  /** The entry whose literal never completed, if any. */
  get openEntry(): TranscriptLine | null {
    return this.#literal?.entry ?? null;
  }
}

/** Options of a recording session. */
export interface SessionOptions {
  /** The `# server:` metadata; by default the greeting's text. */
  server?: string;
  /** The `# transport:` metadata. */
  transport?: "tcp" | "tls" | "stream";
  /** The `# recorded:` date (default: now). */
  recorded?: Date;
}

/**
 * Builds a transcript from the bytes each side sends, masking secrets as they pass.
 * Runtime-neutral; {@link record} and {@link recordConnections} feed it.
 */
export class RecordingSession {
  #entries: TranscriptEntry[] = [];
  #tracker = new SessionTracker();
  #client: Framer;
  #server: Framer;
  #loginArg = 0;
  #greeting: string | undefined;
  #starttlsTag: string | undefined;
  #options: SessionOptions;

  /**
   * Creates an empty session.
   *
   * @param options metadata for the header
   */
  constructor(options: SessionOptions = {}) {
    this.#options = options;
    this.#client = new Framer((line) => this.#clientLine(line));
    this.#server = new Framer((line) => this.#serverLine(line));
  }

  #clientLine(raw: Uint8Array): { entry: TranscriptLine; secretLiteral: boolean } {
    const info = this.#tracker.client(raw);
    let text = latin1(raw);
    let secretLiteral = false;
    if (info.role === "command") {
      this.#loginArg = -2; // the tag and "LOGIN" come before the arguments
      this.#starttlsTag = info.command === "STARTTLS" ? info.tag : undefined;
    }
    if (info.command === "LOGIN" && info.role !== "payload") {
      const toks = tokens(text, info.literal);
      for (let k = toks.length - 1; k >= 0; k--) {
        if (this.#loginArg + k === 1) {
          secretLiteral = toks[k].literal;
          text = splice(text, toks[k]);
        }
      }
      this.#loginArg += toks.length;
    } else if (info.command === "AUTHENTICATE" && info.role === "command") {
      const toks = tokens(text, info.literal);
      if (toks.length >= 4 && !toks[3].literal) text = splice(text, toks[3]);
    } else if (info.command === "AUTHENTICATE" && info.role === "payload") {
      const body = lineText(raw);
      if (body !== "*") text = SECRET_MARKER + text.slice(body.length);
    }
    const entry: TranscriptLine = {
      kind: "line",
      side: "C",
      line: fromLatin1(text),
      lineNumber: 0,
    };
    this.#entries.push(entry);
    return { entry, secretLiteral };
  }

  #serverLine(line: Uint8Array): { entry: TranscriptLine; secretLiteral: boolean } {
    const info = this.#tracker.server(line);
    this.#greeting ??= lineText(line);
    if (info.role === "response" && this.#starttlsTag !== undefined) {
      if (info.first === this.#starttlsTag) {
        const ok = /^\S+ OK\b/i.test(lineText(line));
        this.#starttlsTag = undefined;
        this.starttlsOutcome = ok ? "ok" : "refused";
      }
    }
    const entry: TranscriptLine = { kind: "line", side: "S", line, lineNumber: 0 };
    this.#entries.push(entry);
    return { entry, secretLiteral: false };
  }

  /**
   * Set when the server answered the client's STARTTLS: `"ok"` means both sides must switch to
   * TLS now. The proxy clears it once handled.
   */
  starttlsOutcome: "ok" | "refused" | undefined;

  /**
   * Whether the client's last complete line was a STARTTLS command still waiting for its answer.
   *
   * @returns `true` while the proxy must not read more from the client
   */
  get awaitingStarttls(): boolean {
    return this.#starttlsTag !== undefined;
  }

  /**
   * Feeds bytes the client sent.
   *
   * @param chunk the bytes, in order
   */
  client(chunk: Uint8Array): void {
    this.#client.push(chunk);
  }

  /**
   * Feeds bytes the server sent.
   *
   * @param chunk the bytes, in order
   */
  server(chunk: Uint8Array): void {
    this.#server.push(chunk);
  }

  /**
   * Adds a comment or metadata line at the current position (e.g. `starttls`).
   *
   * @param text the text after `# `
   */
  note(text: string): void {
    this.#entries.push(comment(text));
  }

  /**
   * Writes the transcript so far: the metadata header, then every complete line. A line or
   * literal cut off by the end of the connection is left out, with a note.
   *
   * @returns the transcript's bytes
   */
  transcript(): Uint8Array {
    const greeting = this.#greeting?.replace(/^\* \S+ (\[[^\]]*\] ?)?/, "");
    const header = [
      comment(`server: ${this.#options.server ?? greeting ?? "unknown"}`),
      comment(`recorded: ${(this.#options.recorded ?? new Date()).toISOString()}`),
      comment(`transport: ${this.#options.transport ?? "tcp"}`),
    ];
    const open = [this.#client.openEntry, this.#server.openEntry];
    const body = this.#entries.filter((e) => !open.includes(e as TranscriptLine));
    const notes = this.#client.incomplete || this.#server.incomplete
      ? [comment("note: the connection ended inside a line or a literal, which was left out")]
      : [];
    return writeTranscript([...header, ...body, ...notes]);
  }
}

/** The upstream side of a proxy: a client transport that can start TLS. */
export type Upstream = Pick<Transport, "read" | "write" | "close" | "startTls">;

/** Options for proxying one session. */
export interface ProxyOptions extends SessionOptions {
  /** The certificate offered to the client on STARTTLS. */
  clientTls?: ServerTlsOptions;
  /** How the upstream server's certificate is checked on STARTTLS. */
  upstreamTls?: TlsOptions;
}

/**
 * Relays one session between two connections until either side closes, recording it.
 *
 * @param client the connection to the client
 * @param upstream the connection to the server
 * @param options metadata and the certificates STARTTLS needs
 * @returns the transcript's bytes
 */
export async function recordConnections(
  client: ServerTransport,
  upstream: Upstream,
  options: ProxyOptions = {},
): Promise<Uint8Array> {
  const session = new RecordingSession(options);
  let down: ServerTransport = client;
  let up: Upstream = upstream;
  let upgrade: { resolve: (v: boolean) => void; promise: Promise<boolean> } | undefined;
  const closeAll = async () => {
    await Promise.all([down.close(), up.close()]);
  };
  const clientToServer = async () => {
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await down.read(buf);
      if (n === null) break;
      const chunk = buf.slice(0, n);
      session.client(chunk);
      if (session.awaitingStarttls) {
        let resolve!: (v: boolean) => void;
        const promise = new Promise<boolean>((r) => resolve = r);
        upgrade = { resolve, promise };
      }
      await up.write(chunk);
      // The client must not be read while the TLS switch is pending: the handshake takes it over.
      if (upgrade !== undefined && !await upgrade.promise) break;
      upgrade = undefined;
    }
  };
  const serverToClient = async () => {
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await up.read(buf);
      if (n === null) break;
      const chunk = buf.slice(0, n);
      session.server(chunk);
      await down.write(chunk);
      if (session.starttlsOutcome === undefined) continue;
      const ok = session.starttlsOutcome === "ok";
      session.starttlsOutcome = undefined;
      if (ok) {
        if (options.clientTls === undefined || down.startTls === undefined) {
          throw new Error("Client asked for STARTTLS: the recorder needs a certificate for it");
        }
        if (options.upstreamTls === undefined || up.startTls === undefined) {
          throw new Error("Client asked for STARTTLS: the recorder needs the upstream TLS options");
        }
        [down, up] = await Promise.all([
          down.startTls(options.clientTls),
          up.startTls(options.upstreamTls),
        ]);
        session.note("starttls");
      }
      upgrade?.resolve(true);
    }
  };
  const results = await Promise.allSettled([
    clientToServer().finally(closeAll),
    serverToClient().finally(() => {
      upgrade?.resolve(false);
      return closeAll();
    }),
  ]);
  const failed = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
  if (
    failed !== undefined &&
    !(failed.reason instanceof Error && /closed|reset|broken/i.test(failed.reason.message))
  ) {
    throw failed.reason;
  }
  return session.transcript();
}

/** Where the recorder connects and how it listens. */
export interface RecordOptions extends SessionOptions {
  /** The real server. `tls` means implicit TLS; `caCerts`/`servername` check its certificate. */
  upstream: {
    hostname: string;
    port: number;
    tls?: boolean;
    caCerts?: string[];
    servername?: string;
  };
  /** Serve the client over implicit TLS with this certificate. */
  listenTls?: ServerTlsOptions;
  /** The certificate offered to the client on STARTTLS (default: `listenTls`). */
  starttlsCert?: ServerTlsOptions;
  /** Address to bind (default `"127.0.0.1"`). */
  hostname?: string;
  /** Port to bind (default 0: any free port). */
  port?: number;
  /** The runtime's listeners (default: chosen at run time). */
  listeners?: ListenerFactory;
}

/** A recording proxy waiting for (or relaying) its one client. */
export interface Recorder extends AsyncDisposable {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /** Resolves to the transcript's bytes when the session ends; rejects if it could not run. */
  readonly done: Promise<Uint8Array>;
  /** Stops listening and ends the session; idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a recording proxy on loopback for one client.
 *
 * @param options the upstream server, TLS certificates, metadata
 * @returns the proxy: its address, `done` (the transcript) and `close()`
 */
export async function record(options: RecordOptions): Promise<Recorder> {
  const factory = options.listeners ?? await defaultListenerFactory();
  const listener = await factory.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 0,
    tls: options.listenTls,
  });
  const servername = options.upstream.servername ?? options.upstream.hostname;
  const upstreamTls: TlsOptions = { hostname: servername, caCerts: options.upstream.caCerts };
  let client: ServerTransport | null = null;
  let upstream: Transport | null = null;
  const done = (async () => {
    try {
      client = await listener.accept();
    } finally {
      await listener.close();
    }
    if (client === null) throw new Error("Recorder closed before a client connected");
    try {
      upstream = await factory.connect({
        hostname: options.upstream.hostname,
        port: options.upstream.port,
        tls: options.upstream.tls ? upstreamTls : undefined,
      });
    } catch (err) {
      await client.close();
      throw err;
    }
    return await recordConnections(client, upstream, {
      ...options,
      transport: options.transport ?? (options.upstream.tls ? "tls" : "tcp"),
      clientTls: options.starttlsCert ?? options.listenTls,
      upstreamTls,
    });
  })();
  const close = async () => {
    await listener.close();
    await (client as ServerTransport | null)?.close();
    await (upstream as Transport | null)?.close();
    await done.catch(() => {});
  };
  return {
    hostname: listener.hostname,
    port: listener.port,
    done,
    close,
    [Symbol.asyncDispose]: close,
  };
}
