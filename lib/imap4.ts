/**
 * `IMAP4`, `IMAP4_SSL` and `IMAP4_stream`: Python's imaplib, async, over any transport.
 *
 * Commands are written in call order; those that RFC 3501 §5.5 allows to be pipelined are sent
 * without waiting for earlier ones to complete, the others wait for all earlier commands and hold
 * back later ones. Responses are read only while a command waits for them.
 *
 * @module
 */

import type { Transport, TransportFactory } from "../transports/transport.ts";
import { getTransports } from "../transports/mod.ts";
import { type Claim, ClaimIndex, claimOf, uidOf } from "./claims.ts";
import { TagTable } from "./tag_table.ts";
import { Commands, PIPELINABLE, type State } from "./commands.ts";
import { IMAP4Abort, IMAP4Error, IMAP4ReadOnly } from "./errors.ts";
import {
  type Arg,
  encodeCommand,
  type EncodedCommand,
  type EncodeOptions,
  OneLine,
} from "./wire/encoder.ts";
import { DEFAULT_LIMITS, type Response, ResponseReader } from "./wire/reader.ts";
import type { Waiter } from "./wire/watchdog.ts";
import { type CancelTimer, startTimer } from "./wire/timer.ts";
import { concatBytes, fromLatin1, toBase64 } from "../utils/bytes.ts";
import { randomTagPrefix } from "../utils/int2ap.ts";
import { Time2Internaldate } from "../utils/internaldate.ts";

import type { CommandResult, Datum } from "./datum.ts";
export type { CommandResult, Datum };

/** Receives wire lines, secrets masked: `C: ...` for the client, `S: ...` for the server. */
export type Logger = (line: string) => void;

/** Options of every connection. All optional. */
export interface IMAP4Options {
  /**
   * Milliseconds that connecting, the greeting and every response line may take (default
   * 30,000); a literal in flight must also keep `minLiteralRate`.
   */
  timeout?: number;
  /** A fixed tag prefix (e.g. `"A"` for tags A0, A1...), for transcripts. Default: random. */
  tagPrefix?: string;
  /** imaplib's debug level: at 4 and above, wire lines are printed to stderr (secrets masked). */
  debug?: number;
  /** Receives every wire line, secrets masked. */
  logger?: Logger;
  /** The longest response line accepted, in bytes (default 1,000,000). */
  maxLineLength?: number;
  /** The largest literal accepted, in bytes (default 512 MiB). */
  maxLiteralSize?: number;
  /** The largest whole response, in bytes (default 1 GiB). */
  maxResponseSize?: number;
  /** The slowest a literal may flow, in bytes per second (default 16 KiB/s). */
  minLiteralRate?: number;
  /** Cancels the connection: every pending and later call fails with `IMAP4.abort`. */
  signal?: AbortSignal;
  /**
   * The most items kept in `untagged_responses` at once (default 1,000,000): a server flooding
   * data that nobody claims aborts the connection instead of growing memory.
   */
  maxUntaggedResponses?: number;
  /**
   * The most bytes (line characters and literal bytes) kept in `untagged_responses` at once
   * (default 1 GiB); use `fetchStream()` for larger FETCH results.
   */
  maxUntaggedBytes?: number;
  /**
   * Refuse to authenticate in clear text: a PREAUTH greeting on a connection that is not TLS
   * aborts at the greeting, and `login()`/`authenticate()` throw before `starttls()`.
   */
  requireTls?: boolean;
  /** The transports to use; by default those of the running runtime (Deno or Node). */
  transports?: TransportFactory;
}

/** TLS options, for `IMAP4_SSL` and `starttls()`. */
export interface TlsConnectOptions {
  /** Extra PEM root certificates to trust. */
  caCerts?: string[];
  /** The name checked against the certificate (default: the host connected to). */
  hostname?: string;
  /**
   * `false` skips certificate verification (Node only; on Deno it throws, since Deno can only
   * skip it process-wide with `--unsafely-ignore-certificate-errors`). Default `true`.
   */
  verify?: boolean;
}

/** Options of `IMAP4_SSL.connect`. */
export interface IMAP4SSLOptions extends IMAP4Options, TlsConnectOptions {}

/** Options of `IMAP4_stream.connect`. */
export interface IMAP4StreamOptions extends IMAP4Options {
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Working directory of the child. */
  cwd?: string;
  /** Receives the child's stderr (kept apart from the protocol). */
  onStderr?: (chunk: Uint8Array) => void;
}

/** The authenticator of `authenticate()`: gets the decoded challenge, returns the answer. */
export type Authenticator = (
  challenge: Uint8Array,
) => Uint8Array | string | null | Promise<Uint8Array | string | null>;

interface Pending {
  tag: string;
  /** The tag's number: its place in the pending table (see TagTable). */
  num: number;
  name: string;
  /** Runs synchronously when the tagged response is read, so untagged data is attributed right. */
  finish: (typ: string, data: Datum[]) => CommandResult;
  /** Null for a command read by #direct: its outcome is then kept in `value` or `error`. */
  resolve: ((r: CommandResult) => void) | null;
  reject: ((e: unknown) => void) | null;
  value: CommandResult | null;
  error: unknown;
  /** Read by the command itself (IDLE), not by the pump. */
  manual: boolean;
  logout: boolean;
  done: boolean;
  /** The untagged type whose data this command returns, if any. */
  resultType: string | null;
  /** For FETCH and STORE: the messages asked for, so that their data can be told apart. */
  claim: Claim | null;
}

/** The untagged type each pipelinable command returns (see `_untagged_response` calls). */
const RESULT_TYPES: Readonly<Record<string, string>> = {
  FETCH: "FETCH",
  STORE: "FETCH",
  "UID FETCH": "FETCH",
  "UID STORE": "FETCH",
  SEARCH: "SEARCH",
  "UID SEARCH": "SEARCH",
  SORT: "SORT",
  "UID SORT": "SORT",
  THREAD: "THREAD",
  "UID THREAD": "THREAD",
  STATUS: "STATUS",
  LIST: "LIST",
  LSUB: "LSUB",
  CAPABILITY: "CAPABILITY",
  NAMESPACE: "NAMESPACE",
  GETACL: "ACL",
  MYRIGHTS: "MYRIGHTS",
  GETQUOTA: "QUOTA",
  GETQUOTAROOT: "QUOTA",
  SETQUOTA: "QUOTA",
  GETANNOTATION: "ANNOTATION",
  SETANNOTATION: "ANNOTATION",
};

interface FetchSink {
  tag: string;
  items: { data: Datum[]; size: number }[];
  head: number;
  bytes: number;
  highWaterMark: number;
  discard: boolean;
  wake: (() => void) | null;
}

/** Options of {@link IMAP4.fetchStream}. */
export interface FetchStreamOptions {
  /** Use UID FETCH: `message_set` holds UIDs. */
  uid?: boolean;
  /**
   * Bytes of messages read ahead of the consumer before reading pauses (default 4 MiB), so memory
   * stays bounded however large the whole FETCH is.
   */
  highWaterMark?: number;
}

/** A FIFO with O(1) shift (an array's shift is O(n): 2,000 queued commands made it quadratic). */
class Deque<T> {
  private _items: (T | undefined)[] = [];
  private _head = 0;
  /** How many items it holds (counted, not a getter: asked before every command). */
  length = 0;

  push(item: T): void {
    this._items.push(item);
    this.length++;
  }

  peek(): T | undefined {
    return this._items[this._head];
  }

  shift(): T | undefined {
    if (this._head >= this._items.length) return undefined;
    const item = this._items[this._head];
    this._items[this._head++] = undefined;
    this.length--;
    if (this._head > 1024 && this._head * 2 > this._items.length) {
      this._items = this._items.slice(this._head);
      this._head = 0;
    }
    return item;
  }
}

interface Job {
  exclusive: boolean;
  resultType: string | null;
  claim: Claim | null;
  run?: () => Promise<void>;
  reject: (e: unknown) => void;
  /** A pipelined command of one chunk: written together with its neighbours in one write. */
  batch?: {
    tag: string;
    name: string;
    /** The command as sent and its arguments, which its claim is worked out from. */
    pipelineName: string;
    args: readonly Arg[];
    cmd: EncodedCommand;
    finish?: (typ: string, data: Datum[]) => CommandResult;
    resolve: (r: CommandResult) => void;
  };
}

/** Stands for a claim not worked out yet (see #mustWait). */
const UNKNOWN_CLAIM: Claim = Object.freeze({}) as Claim;

/** The finish of commands whose result is the tagged answer itself. */
const asIs = (typ: string, data: Datum[]): CommandResult => [typ, data];

/** Stands for `done` where the caller's own promise is settled directly. */
const NEVER: Promise<CommandResult> = new Promise(() => {});

/** The settle functions of the promise {@link captureSettlers} was last the executor of. */
let capturedResolve: ((r: CommandResult) => void) | null = null;
let capturedReject: ((e: unknown) => void) | null = null;

/**
 * A promise executor that hands its settle functions out through the two variables above: a
 * command's promise is then made without a closure (and its context) of its own, which for
 * thousands of commands issued at once is garbage the collector would have to get through.
 */
function captureSettlers(
  resolve: (r: CommandResult) => void,
  reject: (e: unknown) => void,
): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** The most bytes of pipelined commands coalesced into one write. */
const BATCH_BYTES = 64 * 1024;

/** The first batch's size: the server starts on it while the next ones are registered. */
const BATCH_FIRST = 1024;

interface ContinuationWaiter {
  pending: Pending;
  resolve: (text: string | null) => void;
}

const AllowedVersions = ["IMAP4REV1", "IMAP4", "IMAP4REV2"];
const textEncoder = new TextEncoder();
const MAP_CRLF = /\r\n|\r|\n/g;
const RECENT_LOG = 10;
const MAX_UNTAGGED = 1_000_000;
const MAX_UNTAGGED_BYTES = 1024 * 1024 * 1024;

function normaliseMessage(message: string | Uint8Array): Uint8Array {
  if (typeof message === "string") return textEncoder.encode(message.replace(MAP_CRLF, "\r\n"));
  // Byte-level CRLF normalisation (imaplib's MapCRLF), without decoding the message.
  let extra = 0;
  for (let i = 0; i < message.length; i++) {
    if (message[i] === 0x0a && (i === 0 || message[i - 1] !== 0x0d)) extra++;
    if (message[i] === 0x0d && message[i + 1] !== 0x0a) extra++;
  }
  if (extra === 0) return message;
  const out = new Uint8Array(message.length + extra);
  let o = 0;
  for (let i = 0; i < message.length; i++) {
    const b = message[i];
    if (b === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      if (message[i + 1] === 0x0a) i++;
    } else if (b === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else out[o++] = b;
  }
  return out;
}

function base64Decode(text: string): Uint8Array {
  if (text === "") return new Uint8Array(0);
  let bin: string;
  try {
    bin = atob(text.replace(/\s+/g, ""));
  } catch {
    throw new IMAP4Abort(`Cannot decode AUTHENTICATE challenge: ${JSON.stringify(text)}`);
  }
  return fromLatin1(bin);
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`Port must be an integer from 1 to 65535: ${port}`);
  }
}

function mbox(value: string): Arg {
  return { type: "mailbox", value };
}

function wrapParens(s: string): string {
  return s.length >= 2 && s[0] === "(" && s[s.length - 1] === ")" ? s : `(${s})`;
}

/** How much memory a datum holds, roughly: a line's characters plus a literal's bytes. */
function datumSize(d: Datum): number {
  return d === null ? 0 : typeof d === "string" ? d.length : d[0].length + d[1].length;
}

function lastText(data: Datum[]): string {
  const d = data[data.length - 1];
  return d === null || d === undefined ? "" : typeof d === "string" ? d : d[0];
}

/**
 * An IMAP4rev1 client over a plain TCP connection: Python's `imaplib.IMAP4`, async.
 *
 * @example
 * ```ts ignore
 * import { IMAP4 } from "./mod.ts";
 * await using M = await IMAP4.connect("localhost", 143);
 * await M.login("user", "secret");
 * const [, [count]] = await M.select("INBOX");
 * const [, data] = await M.fetch("1", "(RFC822)");
 * ```
 */
export class IMAP4 {
  /** imaplib's `IMAP4.error`: any error. */
  static readonly error: typeof IMAP4Error = IMAP4Error;
  /** imaplib's `IMAP4.abort`: the connection is dead. */
  static readonly abort: typeof IMAP4Abort = IMAP4Abort;
  /** imaplib's `IMAP4.readonly`: the mailbox turned read-only. */
  static readonly readonly: typeof IMAP4ReadOnly = IMAP4ReadOnly;

  /** The connection state: `NONAUTH`, `AUTH`, `SELECTED` or `LOGOUT`. */
  state: State = "LOGOUT";
  /** The server's capabilities, upper-cased, as imaplib's tuple. */
  capabilities: readonly string[] = [];
  /** `IMAP4REV1` (or `IMAP4`), from the capabilities. */
  PROTOCOL_VERSION = "";
  /** The greeting line. */
  welcome = "";
  /** Untagged data not yet claimed by a command, by response type, in arrival order. */
  untagged_responses: Record<string, Datum[]> = {};
  /** imaplib's debug level (4 and above print wire lines, secrets masked). */
  debug: number;
  /** Whether UTF8=ACCEPT is enabled (RFC 6855). */
  utf8_enabled = false;
  /** Whether the selected mailbox was opened read-only on purpose. */
  is_readonly = false;
  /** The last continuation request's text. */
  continuation_response = "";
  /** The host connected to. */
  host = "";
  /** The port connected to. */
  port = 0;
  /** The tag prefix of this session. */
  readonly tagpre: string;
  /** The number of the next tag. */
  tagnum = 0;

  // Internal state is in TypeScript `private` fields rather than `#private` ones: V8's baseline
  // code reads a #field through a keyed inline cache, 6k instructions a round trip until the path
  // is optimised. What may hold a secret stays #private; toJSON and the custom inspections show
  // the public attributes only.
  #options: IMAP4Options;
  /** The logger of the options, read on every line: a named field costs less than a #field. */
  private readonly _logger: Logger | undefined;
  private _conn: Transport | null = null;
  private _reader: ResponseReader | null = null;
  private _timeout: number;
  private _pending = new TagTable<Pending>();
  /**
   * The command #direct waits for, kept out of the tag table: one command after another then
   * touches no table at all. Set only while #direct runs (so only while _pumping).
   */
  private _direct: Pending | null = null;
  private _finishers = new Map<string, (typ: string, data: Datum[]) => CommandResult>();
  private _autoPending = 0;
  private _queue = new Deque<Job>();
  private _scheduling = false;
  private _pumping = false;
  /** A raw read (`read`, `readline`) is under way: the pump waits for it (one reader at a time). */
  private _rawReading = false;
  /** The pump was wanted during a raw read: it starts once the read ends. */
  private _pumpWanted = false;
  private _contWaiter: ContinuationWaiter | null = null;
  private _drained: (() => void)[] = [];
  private _completions: (() => void)[] = [];
  private _claims = new ClaimIndex<Pending>();
  /** A FETCH or STORE sent while nothing pended, whose claim is not indexed (see #indexLone). */
  private _lone: Pending | null = null;
  private _loneName = "";
  private _loneArgs: readonly Arg[] | null = null;
  /** Whether a write is under way; without one, a write starts at once, in the caller's turn. */
  private _writing = false;
  /** Bytes asked for while a write was under way: they go out together, in order, next. */
  #backlog: Uint8Array[] = [];
  /** Settles with the write of the backlog. */
  #backlogWritten: Promise<void> | null = null;
  #backlogSettle: [() => void, (e: unknown) => void] | null = null;
  /** The deadline of the write under way (one at a time), on the reader's watchdog. */
  private _writeSlot: Waiter | null = null;
  /** Where the write under way settles (see #writeNow): no closures made per write. */
  private readonly _written = (): void => {
    this._reader!.watchdog.stop(this._writeSlot!);
    this._nextWrite();
  };
  /**
   * Starts the write of the backlog, if any, once a write has settled; as a handler, it settles
   * #direct's write (which starts no deadline to stop, unlike _written's).
   */
  private readonly _nextWrite = (): void => {
    const parts = this.#backlog;
    const settle = this.#backlogSettle;
    if (parts.length === 0 || settle === null) {
      this._writing = false;
      return;
    }
    this.#backlog = [];
    this.#backlogWritten = null;
    this.#backlogSettle = null;
    this.#writeNow(concatBytes(parts), false).then(settle[0], settle[1]);
  };
  private readonly _writeFailed = (e: unknown): never => {
    this._reader!.watchdog.stop(this._writeSlot!);
    // After a timeout this is the timeout's error: #fail keeps the first.
    const err = this.#fail(
      new IMAP4Abort(`Socket error: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
    );
    this._nextWrite();
    throw err;
  };
  /** As _writeFailed, for a write whose caller does not wait for it (the connection fails). */
  private readonly _writeFailedQuietly = (e: unknown): void => {
    try {
      this._writeFailed(e);
    } catch {
      // The connection has failed, which rejected every pending command.
    }
  };
  private _dead: IMAP4Abort | null = null;
  private _tls = false;
  /** The last lines sent and received, for print_log; a one-line command is kept as it is. */
  private _recent: (string | OneLine)[] = [];
  private _recentNext = 0;
  private _encodeCache: { caps: readonly string[] | null; options: EncodeOptions } = {
    caps: null,
    options: {},
  };
  /** Secrets in flight (a LOGIN password, AUTHENTICATE answers), masked wherever text goes. */
  #secrets: string[] = [];
  /** Upper bounds of what `untagged_responses` holds (exact after a recount). */
  private _untaggedCount = 0;
  private readonly _maxUntagged: number;
  private readonly _maxUntaggedBytes: number;
  private _untaggedBytes = 0;
  private _idleSink: ((typ: string, datum: Datum[]) => void) | null = null;
  private _fetchSink: FetchSink | null = null;
  private _openGate: (() => void) | null = null;
  private _extraCommands: Record<string, readonly State[]> = {};
  private _onAbort: (() => void) | null = null;
  private _activeIdler: Idler | null = null;

  /**
   * Creates a client that is not connected yet; call {@link IMAP4.open} (or use
   * {@link IMAP4.connect}, which does both).
   *
   * @param options connection options
   */
  constructor(options: IMAP4Options = {}) {
    this.#options = options;
    this._logger = options.logger;
    this.debug = options.debug ?? 0;
    this._timeout = options.timeout ?? DEFAULT_LIMITS.timeout;
    this._maxUntagged = options.maxUntaggedResponses ?? MAX_UNTAGGED;
    this._maxUntaggedBytes = options.maxUntaggedBytes ?? MAX_UNTAGGED_BYTES;
    if (options.tagPrefix !== undefined && !/^[A-Za-z]{1,16}$/.test(options.tagPrefix)) {
      throw new TypeError(
        `Tag prefix must be 1 to 16 letters: ${JSON.stringify(options.tagPrefix)}`,
      );
    }
    this.tagpre = options.tagPrefix ?? randomTagPrefix();
  }

  /**
   * Connects over TCP, reads the greeting and the capabilities.
   *
   * @param host the server (default `localhost`)
   * @param port the port (default 143)
   * @param options connection options
   * @returns the connected client, in state `NONAUTH` (or `AUTH` after a PREAUTH greeting)
   * @throws IMAP4Abort when the connection fails, times out or the server says BYE
   * @example
   * ```ts ignore
   * const M = await IMAP4.connect("localhost", 143, { timeout: 10_000 });
   * ```
   */
  static async connect(
    host = "localhost",
    port = 143,
    options: IMAP4Options = {},
  ): Promise<IMAP4> {
    const m = new IMAP4(options);
    await m.open(host, port);
    return m;
  }

  /**
   * Opens the connection (imaplib's `open`), reads the greeting and asks for the capabilities.
   *
   * @param host the server
   * @param port the port
   * @throws IMAP4Abort when the connection fails
   */
  async open(host = "localhost", port = 143): Promise<void> {
    checkPort(port);
    this.host = host;
    this.port = port;
    const transports = await this.#factory();
    await this._start(() => transports.connect({ hostname: host, port }));
  }

  /** Connects with `connect`, then runs the greeting and capability exchange. @ignore */
  protected async _start(connect: () => Promise<Transport>): Promise<void> {
    const signal = this.#options.signal;
    if (signal?.aborted) {
      throw new IMAP4Abort("Connection aborted by signal", { cause: signal.reason });
    }
    const transport = await this.#withTimeout(connect(), "Timed out connecting to the server");
    this.#attach(transport);
    if (signal) {
      this._onAbort = () =>
        this.#fail(new IMAP4Abort("Connection aborted by signal", { cause: signal.reason }));
      signal.addEventListener("abort", this._onAbort, { once: true });
    }
    try {
      await this.#greeting();
    } catch (e) {
      this.#fail(e);
      throw this._dead ?? e;
    }
  }

  async #factory(): Promise<TransportFactory> {
    return this.#options.transports ?? await getTransports();
  }

  #attach(transport: Transport): void {
    this._reader?.dispose();
    this._conn = transport;
    const reader: ResponseReader = new ResponseReader(transport, {
      timeout: this._timeout,
      maxLineLength: this.#options.maxLineLength ?? DEFAULT_LIMITS.maxLineLength,
      maxLiteralSize: this.#options.maxLiteralSize ?? DEFAULT_LIMITS.maxLiteralSize,
      maxResponseSize: this.#options.maxResponseSize ?? DEFAULT_LIMITS.maxResponseSize,
      minLiteralRate: this.#options.minLiteralRate ?? DEFAULT_LIMITS.minLiteralRate,
    }, (error) => {
      // Failing closes the transport, which settles the read that timed out.
      if (this._reader === reader) this.#fail(error);
    });
    this._reader = reader;
    this._writeSlot = reader.watchdog.slot(this._writeTimedOut);
  }

  async #withTimeout<T>(p: Promise<T>, message: string): Promise<T> {
    let cancel: CancelTimer | undefined;
    let timedOut = false;
    const t = new Promise<never>((_, reject) => {
      if (this._timeout === Infinity) return;
      cancel = startTimer(() => {
        timedOut = true;
        reject(new IMAP4Abort(message));
      }, this._timeout);
    });
    try {
      return await Promise.race([p, t]);
    } catch (e) {
      if (timedOut) {
        // The late connection, if it ever comes, is closed at once.
        p.then((v) => (v as { close?: () => unknown })?.close?.(), () => {});
        throw e;
      }
      if (e instanceof IMAP4Error) throw e;
      throw new IMAP4Abort(`Cannot connect: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    } finally {
      cancel?.();
    }
  }

  async #greeting(): Promise<void> {
    const r = await this._reader!.readResponse();
    const line = r!.lines[0];
    this.welcome = line;
    if (line.startsWith("* BYE")) {
      throw new IMAP4Abort(`Server refused the connection: ${JSON.stringify(line)}`);
    }
    if (!line.startsWith("* ")) {
      throw new IMAP4Abort(`Cannot parse greeting: ${JSON.stringify(line.slice(0, 200))}`);
    }
    this.#dispatch(line, r!);
    if ("PREAUTH" in this.untagged_responses && this.#options.requireTls && !this._tls) {
      throw new IMAP4Abort("Server sent PREAUTH without TLS, and requireTls is set: refusing");
    }
    if ("PREAUTH" in this.untagged_responses) this.state = "AUTH";
    else if ("OK" in this.untagged_responses) this.state = "NONAUTH";
    else throw new IMAP4Abort(`Cannot parse greeting: ${JSON.stringify(line.slice(0, 200))}`);
    await this.#refreshCapabilities();
    for (const version of AllowedVersions) {
      if (this.capabilities.includes(version)) {
        this.PROTOCOL_VERSION = version;
        return;
      }
    }
    throw new IMAP4Error("Server not IMAP4 compliant: no IMAP4rev1 in its capabilities");
  }

  async #refreshCapabilities(): Promise<void> {
    const [, dat] = await this.#execute(
      "CAPABILITY",
      [],
      this.#pop("CAPABILITY"),
    );
    if (dat.length === 1 && dat[0] === null) {
      throw new IMAP4Error("No CAPABILITY response from server");
    }
    this.#setCapabilities(lastText(dat));
  }

  #setCapabilities(text: string): void {
    this.capabilities = Object.freeze(text.toUpperCase().split(/\s+/).filter((s) => s !== ""));
  }

  // ---------------------------------------------------------------------------------------------
  // Utility methods

  /**
   * Returns the RECENT responses received, or asks the server with NOOP when there are none.
   *
   * @returns `["OK", [count...]]`, or `[typ, [null]]` when there are none
   * @throws IMAP4Abort when the connection is dead
   */
  async recent(): Promise<CommandResult> {
    const name = "RECENT";
    const [typ, dat] = this.#untaggedResponse("OK", [null], name);
    if (dat[dat.length - 1]) return [typ, dat];
    const [typ2, dat2] = await this.#simple(
      "NOOP",
      [],
      this.#pop(name),
    );
    return [typ2, dat2];
  }

  /**
   * Returns (and clears) the data received for a response type or code, e.g. `"EXISTS"`,
   * `"UIDVALIDITY"`, `"PERMANENTFLAGS"`.
   *
   * @param code the response type or code
   * @returns `[code, data]`, data `[null]` when none was received
   */
  response(code: string): CommandResult {
    return this.#untaggedResponse(code, [null], code.toUpperCase());
  }

  // ---------------------------------------------------------------------------------------------
  // IMAP4 commands

  /**
   * Appends a message to a mailbox. State AUTH or SELECTED.
   *
   * @param mailbox the mailbox (default INBOX when empty or null)
   * @param flags flags such as `"(\\Seen)"` or `"\\Seen"`, or null
   * @param date_time the internal date: a Date, seconds since the epoch, a quoted string, or null
   * @param message the message; line endings are normalised to CRLF
   * @returns `[typ, data]`; the message is sent only after the server's `+`
   * @throws IMAP4Error on BAD; TypeError for an argument that cannot be sent
   */
  append(
    mailbox: string | null,
    flags: string | null,
    date_time: Date | number | string | null,
    message: string | Uint8Array,
  ): Promise<CommandResult> {
    const box = mailbox ? mailbox : "INBOX";
    const fl = flags ? wrapParens(flags) : null;
    const date = date_time !== null && date_time !== undefined && date_time !== ""
      ? Time2Internaldate(date_time)
      : null;
    const literal = normaliseMessage(message);
    const msg: Arg = this.utf8_enabled
      ? { type: "message", value: literal, prefix: "UTF8 (", suffix: ")", binary: true }
      : { type: "message", value: literal };
    return this.#simple("APPEND", [mbox(box), fl, date, msg]);
  }

  /**
   * Authenticates with a SASL mechanism. State NONAUTH. The authenticator gets each decoded
   * challenge and returns the answer (bytes or text, base64-encoded for it), or null to cancel.
   *
   * @param mechanism the mechanism, e.g. `"PLAIN"`
   * @param authobject the authenticator
   * @returns `["OK", data]`
   * @throws IMAP4Error when the server does not answer OK
   */
  async authenticate(mechanism: string, authobject: Authenticator): Promise<CommandResult> {
    const mech = mechanism.toUpperCase();
    if (!/^[A-Z0-9_-]+$/.test(mech)) {
      throw new TypeError(`Mechanism is not a SASL name: ${JSON.stringify(mechanism)}`);
    }
    this.#checkState("AUTHENTICATE");
    this.#checkTls("AUTHENTICATE");
    const [typ, dat] = await this.#exclusive(async () => {
      const { pending, done } = this.#register("AUTHENTICATE", (t, d) => [t, d]);
      // Awaited below; a failure before then must not surface as an unhandled rejection.
      done.catch(() => {});
      // Each "+" is waited for before the bytes that call for it leave: the pump may read it
      // before the write has settled here.
      let challenge = this.#waitContinuation(pending);
      await this.#writeCommand(pending, encodeCommand(pending.tag, "AUTHENTICATE", [mech]));
      for (;;) {
        const text = await challenge;
        if (text === null) break;
        let answer: Uint8Array | string | null;
        try {
          answer = await authobject(base64Decode(text));
        } catch (e) {
          await this.#writeRaw(textEncoder.encode("*\r\n"), "*");
          await done.catch(() => {});
          throw e;
        }
        const line = answer === null
          ? "*"
          : toBase64(typeof answer === "string" ? textEncoder.encode(answer) : answer);
        if (line !== "*") this.#secrets.push(line);
        challenge = this.#waitContinuation(pending);
        await this.#writeRaw(textEncoder.encode(line + "\r\n"), "***");
      }
      const [typ, dat] = await done.catch((e) => {
        this.#secrets = [];
        throw e;
      });
      // Masked before the secrets are forgotten: a server may echo an answer back.
      const text = this.#mask(lastText(dat));
      this.#secrets = [];
      if (typ !== "OK") throw new IMAP4Error(text, { command: "AUTHENTICATE", status: typ });
      this.state = "AUTH";
      await this.#capabilitiesAfterLogin();
      return [typ, dat];
    });
    return [typ, dat];
  }

  /**
   * Asks for the server's capabilities. Any state.
   *
   * @returns `["OK", [capabilities]]`
   */
  capability(): Promise<CommandResult> {
    return this.#simple("CAPABILITY", [], this.#pop("CAPABILITY"));
  }

  /**
   * Checkpoints the selected mailbox. State SELECTED.
   *
   * @returns `[typ, [text]]`
   */
  check(): Promise<CommandResult> {
    return this.#simple("CHECK", []);
  }

  /**
   * Closes the selected mailbox, expunging deleted messages; the state becomes AUTH whatever the
   * answer. State SELECTED.
   *
   * @returns `[typ, [text]]`
   */
  async close(): Promise<CommandResult> {
    try {
      return await this.#simple("CLOSE", []);
    } finally {
      if (this.state !== "LOGOUT") this.state = "AUTH";
    }
  }

  /**
   * Copies messages to another mailbox. State SELECTED.
   *
   * @param message_set a sequence set, e.g. `"1:3,5"`
   * @param new_mailbox the destination
   * @returns `[typ, [text]]`
   */
  copy(message_set: string, new_mailbox: string): Promise<CommandResult> {
    return this.#simple("COPY", [message_set, mbox(new_mailbox)]);
  }

  /**
   * Creates a mailbox. State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @returns `[typ, [text]]`
   */
  create(mailbox_name: string): Promise<CommandResult> {
    return this.#simple("CREATE", [mbox(mailbox_name)]);
  }

  /**
   * Deletes a mailbox. State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @returns `[typ, [text]]`
   */
  delete(mailbox_name: string): Promise<CommandResult> {
    return this.#simple("DELETE", [mbox(mailbox_name)]);
  }

  /**
   * Removes the ACL entry of `who` on a mailbox (RFC 4314). State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @param who the identifier
   * @returns `[typ, [text]]`
   */
  deleteacl(mailbox_name: string, who: string): Promise<CommandResult> {
    return this.#simple("DELETEACL", [mbox(mailbox_name), who]);
  }

  /**
   * Enables an extension (RFC 5161); `UTF8=ACCEPT` switches arguments and results to UTF-8.
   * State AUTH; needs ENABLE.
   *
   * @param capability e.g. `"UTF8=ACCEPT"`
   * @returns `[typ, [text]]`
   * @throws IMAP4Error when the server does not advertise ENABLE
   */
  async enable(capability: string): Promise<CommandResult> {
    if (!this.capabilities.includes("ENABLE")) {
      throw new IMAP4Error("Server does not support ENABLE");
    }
    const [typ, data] = await this.#simple("ENABLE", [capability], (t, d) => {
      // Only what the ENABLED response lists was switched on (RFC 5161 §3.2).
      const enabled = (this.untagged_responses["ENABLED"] ?? []).map((e) =>
        typeof e === "string" ? e.toUpperCase().split(" ") : []
      ).flat();
      if (t === "OK" && enabled.includes("UTF8=ACCEPT")) this.utf8_enabled = true;
      return [t, d];
    });
    return [typ, data];
  }

  /**
   * Permanently removes messages flagged `\Deleted`. State SELECTED.
   *
   * @returns `[typ, [expunged numbers...]]` or `[typ, [null]]`
   */
  expunge(): Promise<CommandResult> {
    return this.#simple("EXPUNGE", [], this.#pop("EXPUNGE"));
  }

  /**
   * Fetches message data. State SELECTED.
   *
   * @param message_set a sequence set, e.g. `"1:*"`
   * @param message_parts the items, e.g. `"(UID RFC822)"`
   * @returns `[typ, data]`: each FETCH line, or a `[line, literal]` pair per literal and then
   *   the rest of the line
   */
  fetch(message_set: string, message_parts: string): Promise<CommandResult> {
    return this.#simple(
      "FETCH",
      [message_set, message_parts],
      this.#pop("FETCH"),
    );
  }

  /**
   * Gets a mailbox's ACL (RFC 4314). State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @returns `[typ, [ACL data]]`
   */
  getacl(mailbox_name: string): Promise<CommandResult> {
    return this.#simple(
      "GETACL",
      [mbox(mailbox_name)],
      this.#pop("ACL"),
    );
  }

  /**
   * Gets annotations (RFC 5257 drafts). State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @param entry the entry
   * @param attribute the attribute
   * @returns `[typ, [ANNOTATION data]]`
   */
  getannotation(mailbox_name: string, entry: string, attribute: string): Promise<CommandResult> {
    return this.#simple(
      "GETANNOTATION",
      [mbox(mailbox_name), entry, attribute],
      this.#pop("ANNOTATION"),
    );
  }

  /**
   * Gets a quota root's usage and limits (RFC 2087). State AUTH or SELECTED.
   *
   * @param root the quota root
   * @returns `[typ, [QUOTA data]]`
   */
  getquota(root: string): Promise<CommandResult> {
    return this.#simple("GETQUOTA", [root], this.#pop("QUOTA"));
  }

  /**
   * Gets a mailbox's quota roots (RFC 2087). State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @returns `[typ, [[QUOTAROOT data...], [QUOTA data...]]]` as imaplib
   */
  async getquotaroot(mailbox_name: string): Promise<[string, [Datum[], Datum[]]]> {
    const [typ, d] = await this.#simple("GETQUOTAROOT", [mbox(mailbox_name)], (t, dat) => {
      const [t1, quota] = this.#untaggedResponse(t, dat, "QUOTA");
      const [, quotaroot] = this.#untaggedResponse(t1, dat, "QUOTAROOT");
      return [t1, [quotaroot, quota] as unknown as Datum[]];
    });
    return [typ, d as unknown as [Datum[], Datum[]]];
  }

  /**
   * Lists mailboxes. State AUTH or SELECTED.
   *
   * @param directory the reference (default `""`)
   * @param pattern the pattern (default `*`)
   * @returns `[typ, [LIST lines...]]`
   */
  list(directory = '""', pattern = "*"): Promise<CommandResult> {
    return this.#simple(
      "LIST",
      [mbox(directory), mbox(pattern)],
      this.#pop("LIST"),
    );
  }

  /**
   * Logs in with a plaintext password (always quoted, or a literal; masked in every log). State
   * NONAUTH. Refused without sending anything when the server says LOGINDISABLED.
   *
   * @param user the user name
   * @param password the password
   * @returns `["OK", [text]]`
   * @throws IMAP4Error when the server does not answer OK, or LOGINDISABLED is advertised
   */
  async login(user: string, password: string): Promise<CommandResult> {
    this.#checkState("LOGIN");
    if (this.capabilities.includes("LOGINDISABLED")) {
      throw new IMAP4Error("Server advertises LOGINDISABLED: LOGIN is not allowed", {
        command: "LOGIN",
      });
    }
    this.#checkTls("LOGIN");
    const secret: Arg = { type: "secret", value: password };
    encodeCommand("X", "LOGIN", [user, secret], this.#encodeOptions());
    return await this.#exclusive(async () => {
      this.#secrets.push(password);
      try {
        const [typ, dat] = await this.#execute("LOGIN", [user, secret]);
        if (typ !== "OK") throw new IMAP4Error(lastText(dat), { command: "LOGIN", status: typ });
        this.state = "AUTH";
        await this.#capabilitiesAfterLogin();
        return [typ, dat];
      } catch (e) {
        // A server may echo the password back; it must not reach an error message either.
        if (e instanceof Error) e.message = this.#mask(e.message);
        throw e;
      } finally {
        this.#secrets = [];
      }
    });
  }

  /**
   * Logs in with CRAM-MD5 (RFC 2195). State NONAUTH.
   *
   * @param user the user name
   * @param password the password
   * @returns `["OK", [text]]`
   * @throws IMAP4Error when the server does not answer OK
   */
  login_cram_md5(user: string, password: string): Promise<CommandResult> {
    return this.authenticate("CRAM-MD5", async (challenge) => {
      // Loaded on first use: on Deno, node:crypto pulls in much of the Node compatibility layer,
      // which every other session would pay for at start-up.
      const { createHmac } = await import("node:crypto");
      const digest = createHmac("md5", textEncoder.encode(password)).update(challenge).digest(
        "hex",
      );
      return `${user} ${digest}`;
    });
  }

  async #capabilitiesAfterLogin(): Promise<void> {
    // Servers announce the new list with the login response (code or untagged line); ask only
    // when they did not.
    const caps = this.untagged_responses["CAPABILITY"];
    if (caps && caps.length > 0) this.#setCapabilities(lastText(caps));
    else await this.#refreshCapabilities();
  }

  /**
   * Logs out and closes the connection. Any state.
   *
   * @returns `["BYE", [text]]` (or the tagged answer when the server sent no BYE)
   */
  async logout(): Promise<CommandResult> {
    // An IDLE still running holds the connection: end it first, or LOGOUT would wait forever.
    if (this._activeIdler) await this._activeIdler.done().catch(() => {});
    this.state = "LOGOUT";
    try {
      return await this.#simple("LOGOUT", []);
    } finally {
      await this.shutdown();
    }
  }

  /**
   * Lists subscribed mailboxes. State AUTH or SELECTED.
   *
   * @param directory the reference (default `""`)
   * @param pattern the pattern (default `*`)
   * @returns `[typ, [LSUB lines...]]`
   */
  lsub(directory = '""', pattern = "*"): Promise<CommandResult> {
    return this.#simple(
      "LSUB",
      [mbox(directory), mbox(pattern)],
      this.#pop("LSUB"),
    );
  }

  /**
   * Moves messages to another mailbox (RFC 6851). State SELECTED; needs MOVE.
   *
   * @param message_set a sequence set
   * @param new_mailbox the destination
   * @returns `[typ, [text]]`
   */
  move(message_set: string, new_mailbox: string): Promise<CommandResult> {
    return this.#simple("MOVE", [message_set, mbox(new_mailbox)]);
  }

  /**
   * Shows my rights on a mailbox (RFC 4314). State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @returns `[typ, [MYRIGHTS data]]`
   */
  myrights(mailbox_name: string): Promise<CommandResult> {
    return this.#simple(
      "MYRIGHTS",
      [mbox(mailbox_name)],
      this.#pop("MYRIGHTS"),
    );
  }

  /**
   * Asks for the namespaces (RFC 2342). State AUTH or SELECTED.
   *
   * @returns `[typ, [NAMESPACE data]]`
   */
  namespace(): Promise<CommandResult> {
    return this.#simple("NAMESPACE", [], this.#pop("NAMESPACE"));
  }

  /**
   * Does nothing, letting the server send updates. Any state.
   *
   * @returns `[typ, [text]]`
   */
  noop(): Promise<CommandResult> {
    return this.#simple("NOOP", []);
  }

  /**
   * Fetches part of a message (obsolete IMAP2bis command). State SELECTED.
   *
   * @param message_num the message number
   * @param message_part the part
   * @param start the first octet
   * @param length how many octets
   * @returns `[typ, [FETCH data]]`
   */
  partial(
    message_num: string,
    message_part: string,
    start: string | number,
    length: string | number,
  ): Promise<CommandResult> {
    return this.#simple(
      "PARTIAL",
      [message_num, message_part, start, length],
      this.#pop("FETCH"),
    );
  }

  /**
   * Assumes the identity of another user (administrators). State AUTH.
   *
   * @param user the user
   * @returns `[typ, [text]]`
   */
  proxyauth(user: string): Promise<CommandResult> {
    return this.#simple("PROXYAUTH", [user]);
  }

  /**
   * Renames a mailbox. State AUTH or SELECTED.
   *
   * @param oldmailbox the current name
   * @param newmailbox the new name
   * @returns `[typ, [text]]`
   */
  rename(oldmailbox: string, newmailbox: string): Promise<CommandResult> {
    return this.#simple("RENAME", [mbox(oldmailbox), mbox(newmailbox)]);
  }

  /**
   * Searches the selected mailbox. State SELECTED.
   *
   * @param charset a charset, or null
   * @param criteria the criteria, e.g. `"ALL"`, `"(FROM \"x\")"`
   * @returns `[typ, ["1 2 3"]]`
   * @throws IMAP4Error for a charset when UTF-8 is enabled
   */
  search(charset: string | null, ...criteria: Arg[]): Promise<CommandResult> {
    const finish = this.#pop("SEARCH");
    if (charset) {
      if (this.utf8_enabled) {
        return Promise.reject(new IMAP4Error("Non-None charset not valid in UTF8 mode"));
      }
      return this.#simple("SEARCH", ["CHARSET", charset, ...criteria], finish);
    }
    return this.#simple("SEARCH", criteria, finish);
  }

  /**
   * Selects a mailbox (EXAMINE when `readonly`), flushing all untagged data. State AUTH or
   * SELECTED. After NO the state is AUTH.
   *
   * @param mailbox_name the mailbox (default INBOX)
   * @param readonly open it read-only
   * @returns `["OK", [EXISTS count]]`, or `["NO", [text]]`
   * @throws IMAP4ReadOnly when a mailbox opened read-write came back read-only
   */
  async select(mailbox_name = "INBOX", readonly = false): Promise<CommandResult> {
    const name = readonly ? "EXAMINE" : "SELECT";
    this.#checkState(name);
    // A bad name throws TypeError here, before a tag is taken and the queue waits for it.
    encodeCommand("X", name, [mbox(mailbox_name)], this.#encodeOptions());
    return await this.#exclusive(async () => {
      this.untagged_responses = {};
      this.is_readonly = readonly;
      const [typ, dat] = await this.#execute(name, [mbox(mailbox_name)]);
      if (typ !== "OK") {
        this.state = "AUTH";
        return [typ, dat];
      }
      this.state = "SELECTED";
      if ("READ-ONLY" in this.untagged_responses && !readonly) {
        throw new IMAP4ReadOnly(`${JSON.stringify(mailbox_name)} is not writable`);
      }
      return [typ, this.untagged_responses["EXISTS"] ?? [null]];
    });
  }

  /**
   * Sets an ACL entry (RFC 4314). State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @param who the identifier
   * @param what the rights
   * @returns `[typ, [text]]`
   */
  setacl(mailbox_name: string, who: string, what: string): Promise<CommandResult> {
    return this.#simple("SETACL", [mbox(mailbox_name), who, what]);
  }

  /**
   * Sets annotations. State AUTH or SELECTED.
   *
   * @param args mailbox, then entry and attribute pairs
   * @returns `[typ, [ANNOTATION data]]`
   */
  setannotation(...args: Arg[]): Promise<CommandResult> {
    return this.#simple(
      "SETANNOTATION",
      args,
      this.#pop("ANNOTATION"),
    );
  }

  /**
   * Sets a quota root's limits (RFC 2087). State AUTH or SELECTED.
   *
   * @param root the quota root
   * @param limits e.g. `"(STORAGE 512)"`
   * @returns `[typ, [QUOTA data]]`
   */
  setquota(root: string, limits: string): Promise<CommandResult> {
    return this.#simple(
      "SETQUOTA",
      [root, limits],
      this.#pop("QUOTA"),
    );
  }

  /**
   * Sorts (RFC 5256). State SELECTED.
   *
   * @param sort_criteria e.g. `"(DATE)"` (parenthesised when not)
   * @param charset e.g. `"UTF-8"`
   * @param search_criteria the search criteria
   * @returns `[typ, ["1 3 2"]]`
   */
  sort(sort_criteria: string, charset: string, ...search_criteria: Arg[]): Promise<CommandResult> {
    return this.#simple(
      "SORT",
      [wrapParens(sort_criteria), charset, ...search_criteria],
      this.#pop("SORT"),
    );
  }

  /**
   * Upgrades the connection to TLS (RFC 3501 §6.2.1). State NONAUTH; needs STARTTLS. Everything
   * learnt before is discarded and the capabilities are asked for again.
   *
   * @param options certificate options (verification is on by default)
   * @returns `["OK", [null]]`
   * @throws IMAP4Error when STARTTLS is not advertised or refused; IMAP4Abort when the handshake
   *   fails or the server sent bytes after its OK
   */
  async starttls(options: TlsConnectOptions = {}): Promise<CommandResult> {
    const name = "STARTTLS";
    if (this._tls) throw new IMAP4Error("TLS session already established");
    if (!this.capabilities.includes(name)) throw new IMAP4Error("TLS not supported by server");
    this.#checkState(name);
    const transport = this._conn;
    if (!transport?.startTls) throw new IMAP4Error("This transport cannot start TLS");
    return await this.#exclusive(async () => {
      const [typ, dat] = await this.#execute(name, []);
      if (typ !== "OK") {
        throw new IMAP4Error("Couldn't establish TLS session", { command: name, status: typ });
      }
      if (this._reader!.buffered > 0 || this._reader!.reading) {
        throw this.#fail(
          new IMAP4Abort("Server sent data after its STARTTLS OK: refusing to continue"),
        );
      }
      try {
        const tls = await this.#withTimeout(
          transport.startTls!({
            hostname: options.hostname ?? this.host,
            caCerts: options.caCerts,
            verify: options.verify,
          }),
          "Timed out in the TLS handshake",
        );
        this.#attach(tls);
      } catch (e) {
        throw this.#fail(
          new IMAP4Abort(`TLS handshake failed: ${e instanceof Error ? e.message : String(e)}`, {
            cause: e,
          }),
        );
      }
      this._tls = true;
      // Nothing learnt in plaintext can be trusted (RFC 3501 §6.2.1).
      this.untagged_responses = {};
      this.capabilities = [];
      await this.#refreshCapabilities();
      return this.#untaggedResponse(typ, dat, name);
    });
  }

  /**
   * Asks for a mailbox's status. State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @param names e.g. `"(MESSAGES UNSEEN)"`
   * @returns `[typ, [STATUS data]]`
   */
  status(mailbox_name: string, names: string): Promise<CommandResult> {
    return this.#simple(
      "STATUS",
      [mbox(mailbox_name), names],
      this.#pop("STATUS"),
    );
  }

  /**
   * Alters flags. State SELECTED.
   *
   * @param message_set a sequence set
   * @param command e.g. `"+FLAGS"`
   * @param flags e.g. `"\\Deleted"` (parenthesised when not)
   * @returns `[typ, [FETCH data]]`
   */
  store(message_set: string, command: string, flags: string): Promise<CommandResult> {
    return this.#simple(
      "STORE",
      [message_set, command, wrapParens(flags)],
      this.#pop("FETCH"),
    );
  }

  /**
   * Subscribes to a mailbox. State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @returns `[typ, [text]]`
   */
  subscribe(mailbox_name: string): Promise<CommandResult> {
    return this.#simple("SUBSCRIBE", [mbox(mailbox_name)]);
  }

  /**
   * Threads messages (RFC 5256). State SELECTED.
   *
   * @param threading_algorithm e.g. `"REFERENCES"`
   * @param charset e.g. `"UTF-8"`
   * @param search_criteria the search criteria
   * @returns `[typ, [THREAD data]]`
   */
  thread(
    threading_algorithm: string,
    charset: string,
    ...search_criteria: Arg[]
  ): Promise<CommandResult> {
    return this.#simple(
      "THREAD",
      [threading_algorithm, charset, ...search_criteria],
      this.#pop("THREAD"),
    );
  }

  /**
   * Runs a command with UIDs instead of message numbers. State SELECTED.
   *
   * @param command FETCH, SEARCH, STORE, COPY, MOVE, EXPUNGE, SORT or THREAD
   * @param args its arguments
   * @returns `[typ, data]` of SEARCH, SORT or THREAD for those, FETCH data otherwise
   * @throws IMAP4Error for an unknown command or one illegal in this state
   */
  uid(command: string, ...args: Arg[]): Promise<CommandResult> {
    const spec = uidSpecs.get(command) ?? uidSpec(command);
    if (spec === null) {
      return Promise.reject(
        new IMAP4Error(`Unknown IMAP4 UID command: ${JSON.stringify(command)}`),
      );
    }
    // #checkState's verdict, from the spec's states, unless it has an error to make.
    if (this._dead !== null || !spec.states.includes(this.state)) {
      try {
        this.#checkState(spec.sub);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    // `args` is this call's own array: the mailbox of COPY and MOVE is encoded in place.
    if (spec.mailboxAt >= 0 && typeof args[spec.mailboxAt] === "string") {
      args[spec.mailboxAt] = mbox(args[spec.mailboxAt] as string);
    }
    // Sent as "UID FETCH" with the caller's arguments; "UID" names it in errors and logs.
    // Its states are checked above when they are UID's own (as for every real subcommand).
    // (The finisher made once per name is looked up in place: one call fewer.)
    const finish = this._finishers.get(spec.result) ?? this.#pop(spec.result);
    return this.#simple("UID", args, finish, spec.wire, spec.uidStates);
  }

  /**
   * Unsubscribes from a mailbox. State AUTH or SELECTED.
   *
   * @param mailbox_name the mailbox
   * @returns `[typ, [text]]`
   */
  unsubscribe(mailbox_name: string): Promise<CommandResult> {
    return this.#simple("UNSUBSCRIBE", [mbox(mailbox_name)]);
  }

  /**
   * Leaves the selected mailbox without expunging (RFC 3691); the state becomes AUTH whatever
   * the answer. State SELECTED.
   *
   * @returns `[typ, [text]]`
   */
  async unselect(): Promise<CommandResult> {
    try {
      return await this.#simple("UNSELECT", []);
    } finally {
      if (this.state !== "LOGOUT") this.state = "AUTH";
    }
  }

  /**
   * Sends an extension command the client does not know, legal in the current state.
   *
   * @param name the command
   * @param args its arguments
   * @returns `[typ, [text]]`
   */
  xatom(name: string, ...args: Arg[]): Promise<CommandResult> {
    const cmd = name.toUpperCase();
    if (!/^[A-Z0-9._-]+$/.test(cmd)) {
      return Promise.reject(new TypeError(`Command name is not an atom: ${JSON.stringify(name)}`));
    }
    if (!(cmd in Commands) && !(cmd in this._extraCommands)) {
      this._extraCommands[cmd] = [this.state];
    }
    return this.#simple(cmd, args);
  }

  /**
   * Fetches message data as a stream: yields each message's FETCH data (the same items `fetch()`
   * would give for it) as soon as it arrives, reading ahead at most `highWaterMark` bytes. A
   * command issued while the stream is consumed is queued behind it, never deadlocked; `break`
   * ends the stream cleanly (the rest of the answer is read and dropped). State SELECTED.
   *
   * @param message_set a sequence set (UIDs with `uid: true`)
   * @param message_parts the items, e.g. `"(BODY.PEEK[])"`
   * @param options `uid`, `highWaterMark`
   * @returns an async iterable of per-message data
   * @throws IMAP4Error when the server answers NO or BAD (after the messages it sent)
   * @example
   * ```ts ignore
   * for await (const data of M.fetchStream("1:*", "(UID BODY.PEEK[])")) {
   *   const [line, body] = data[0] as [string, Uint8Array];
   * }
   * ```
   */
  async *fetchStream(
    message_set: string,
    message_parts: string,
    options: FetchStreamOptions = {},
  ): AsyncGenerator<Datum[], void, undefined> {
    const name = options.uid ? "UID" : "FETCH";
    const wire = options.uid ? "UID FETCH" : "FETCH";
    this.#checkState(name);
    const args: Arg[] = [message_set, message_parts];
    encodeCommand("X", wire, args, this.#encodeOptions());
    const sink: FetchSink = {
      tag: "",
      items: [],
      head: 0,
      bytes: 0,
      highWaterMark: options.highWaterMark ?? 4 * 1024 * 1024,
      discard: false,
      wake: null,
    };
    let done!: Promise<CommandResult>;
    let pending!: Pending;
    // Exclusive start: no FETCH pipelined before it can have its data taken by the stream.
    await this.#enqueue(true, async () => {
      const reg = this.#register(
        name,
        (t, d) => {
          if (this._fetchSink === sink) this._fetchSink = null;
          return [t, d];
        },
        false,
        undefined,
        "FETCH",
        claimOf(wire, args),
      );
      pending = reg.pending;
      sink.tag = pending.tag;
      done = reg.done;
      done.then(() => sink.wake?.(), () => sink.wake?.());
      this._fetchSink = sink;
      await this.#writeCommand(pending, this.#encode(pending.tag, wire, args));
    });
    try {
      for (;;) {
        if (sink.head < sink.items.length) {
          const item = sink.items[sink.head];
          sink.items[sink.head++] = { data: [], size: 0 };
          sink.bytes -= item.size;
          if (sink.head > 1024 && sink.head * 2 > sink.items.length) {
            sink.items = sink.items.slice(sink.head);
            sink.head = 0;
          }
          if (sink.bytes < sink.highWaterMark) this.#resumePump();
          yield item.data;
          continue;
        }
        if (pending.done || this._dead) break;
        await new Promise<void>((r) => (sink.wake = r));
      }
      const [typ, dat] = await done;
      if (typ !== "OK") {
        throw new IMAP4Error(`FETCH failed: ${typ} ${JSON.stringify(lastText(dat))}`, {
          command: name,
          status: typ,
        });
      }
    } finally {
      sink.discard = true;
      sink.items = [];
      this.#resumePump();
      await done.catch(() => {});
      if (this._fetchSink === sink) this._fetchSink = null;
    }
  }

  /**
   * Waits for server updates with IDLE (RFC 2177), as CPython 3.14: iterate the returned
   * {@link Idler} for `[type, data]` pairs until `duration` seconds have passed, then dispose
   * of it (or call `done()`) to send DONE. State AUTH or SELECTED; needs IDLE.
   *
   * @param duration seconds to iterate at most (default: until the server ends it)
   * @returns the idler, once the server has accepted IDLE
   * @throws IMAP4Error when IDLE is not advertised or is refused
   * @example
   * ```ts ignore
   * await using idler = await M.idle(60);
   * for await (const [typ, data] of idler) console.log(typ, data);
   * ```
   */
  async idle(duration?: number): Promise<Idler> {
    if (!this.capabilities.includes("IDLE")) throw new IMAP4Error("Server does not support IDLE");
    this.#checkState("IDLE");
    if (duration !== undefined && !(duration >= 0)) {
      throw new TypeError(`Duration must be a number of seconds >= 0: ${duration}`);
    }
    let ready!: (i: Idler) => void;
    let failed!: (e: unknown) => void;
    const started = new Promise<Idler>((res, rej) => {
      ready = res;
      failed = rej;
    });
    this.#enqueue(true, async () => {
      const { pending, done } = this.#register("IDLE", (t, d) => [t, d], true);
      // Awaited later; a failure before then must not surface as an unhandled rejection.
      done.catch(() => {});
      try {
        await this.#writeCommand(pending, encodeCommand(pending.tag, "IDLE", []));
        const text = await this.#waitContinuation(pending);
        if (text === null) {
          const [typ, dat] = await done;
          throw new IMAP4Error(`IDLE refused: ${typ} ${JSON.stringify(lastText(dat))}`, {
            command: "IDLE",
            status: typ,
          });
        }
      } catch (e) {
        failed(e);
        return;
      }
      const idler = new Idler(this, pending, done, duration);
      this._activeIdler = idler;
      ready(idler);
      await idler.finished;
      if (this._activeIdler === idler) this._activeIdler = null;
    }).catch(failed);
    return await started;
  }

  /** @ignore Reads one response during IDLE, softly. */
  async _idleRead(
    wait: number,
    pending: { done: boolean },
  ): Promise<[string, Datum[]] | null | "done"> {
    if (pending.done) return "done";
    this.#throwIfDead();
    let got: [string, Datum[]] | null = null;
    this._idleSink = (typ, datum) => {
      got = [typ, datum];
    };
    try {
      const r = await this._reader!.readResponse(wait, true);
      if (r === null) return null;
      this.#dispatch(r.lines[0], r);
    } catch (e) {
      throw this.#fail(e);
    } finally {
      this._idleSink = null;
    }
    if (pending.done) return "done";
    return got;
  }

  /** @ignore Ends IDLE: sends DONE and reads up to the tagged answer. */
  async _idleDone(pending: Pending, done: Promise<CommandResult>): Promise<CommandResult> {
    if (!pending.done) {
      await this.#writeRaw(textEncoder.encode("DONE\r\n"), "DONE");
      pending.manual = false;
      this._autoPending++;
      this.#ensurePump();
    }
    return await done;
  }

  // ---------------------------------------------------------------------------------------------
  // Low-level methods, as imaplib's

  /**
   * Reads exactly `size` bytes from the server (imaplib's `read`).
   *
   * @param size how many bytes
   * @returns the bytes
   * @throws IMAP4Error at once while commands wait for their answers or another raw read is under
   *   way (both would take the same bytes); a command issued meanwhile has its answer read after
   */
  async read(size: number): Promise<Uint8Array> {
    this.#beginRawRead("read");
    try {
      return await this._reader!.readExactly(size);
    } catch (e) {
      throw this.#fail(e);
    } finally {
      this.#endRawRead();
    }
  }

  /**
   * Reads one line from the server, CRLF included (imaplib's `readline`).
   *
   * @returns the line's bytes
   * @throws IMAP4Error at once while commands wait for their answers or another raw read is under
   *   way, as {@link read}
   */
  async readline(): Promise<Uint8Array> {
    this.#beginRawRead("readline");
    try {
      return await this._reader!.readLine();
    } catch (e) {
      throw this.#fail(e);
    } finally {
      this.#endRawRead();
    }
  }

  /**
   * Claims the reader for `read` or `readline`. Two readers of one stream would both take the
   * same bytes: while commands wait for their answers (the pump reads them) or another raw read
   * is under way, the call fails at once; a command issued during the raw read is sent, and its
   * answer is read once the raw read has ended.
   */
  #beginRawRead(name: string): void {
    this.#throwIfDead();
    if (this._pumping || this._rawReading) {
      throw new IMAP4Error(
        `${name}() cannot read now: ${
          this._rawReading
            ? "another read() or readline() is under way"
            : "the answers of pending commands are being read (await them first)"
        }`,
      );
    }
    this._rawReading = true;
  }

  #endRawRead(): void {
    this._rawReading = false;
    if (this._pumpWanted) {
      this._pumpWanted = false;
      this.#ensurePump();
    }
  }

  /**
   * Sends raw bytes to the server (imaplib's `send`); nothing is checked.
   *
   * @param data the bytes
   */
  async send(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === "string" ? textEncoder.encode(data) : data;
    await this.#writeRaw(bytes, `<${bytes.length} raw bytes>`);
  }

  /** Closes the connection without logging out (imaplib's `shutdown`). Never throws. */
  async shutdown(): Promise<void> {
    this.state = "LOGOUT";
    if (!this._dead) this.#fail(new IMAP4Abort("Connection closed"), false);
    const t = this._conn;
    if (t) await t.close();
  }

  /**
   * The transport (imaplib's `socket()`).
   *
   * @returns the transport in use
   */
  socket(): Transport {
    if (!this._conn) throw new IMAP4Error("Not connected");
    return this._conn;
  }

  /** Prints the last wire lines (secrets masked) to stderr, as imaplib's `print_log`. */
  print_log(): void {
    const n = this._recent.length;
    for (let i = 0; i < n; i++) {
      const entry = this._recent[(this._recentNext + i) % n];
      console.error(typeof entry === "string" ? entry : `C: ${entry.log}`);
    }
  }

  /**
   * What `JSON.stringify` gives, and what `console.log` and `Deno.inspect` (or Node's
   * `util.inspect`) show: imaplib's public attributes. The internals stay out: their buffers may
   * hold what a server echoed, a password included.
   *
   * @returns the public attributes
   */
  toJSON(): Record<string, unknown> {
    return {
      host: this.host,
      port: this.port,
      state: this.state,
      welcome: this.welcome,
      capabilities: this.capabilities,
      PROTOCOL_VERSION: this.PROTOCOL_VERSION,
      utf8_enabled: this.utf8_enabled,
      is_readonly: this.is_readonly,
      tagpre: this.tagpre,
      tagnum: this.tagnum,
      debug: this.debug,
      untagged_responses: this.untagged_responses,
    };
  }

  /**
   * Deno's inspection: {@link toJSON}.
   *
   * @param inspect Deno's `inspect`
   * @param options its options
   * @returns the text shown
   */
  [Symbol.for("Deno.customInspect")](
    inspect: (value: unknown, options: unknown) => string,
    options: unknown,
  ): string {
    return `${this.constructor.name} ${inspect(this.toJSON(), options)}`;
  }

  /**
   * Node's inspection: {@link toJSON}.
   *
   * @param _depth how deep the inspection is
   * @param options its options
   * @param inspect Node's `util.inspect`
   * @returns the text shown
   */
  [Symbol.for("nodejs.util.inspect.custom")](
    _depth: number,
    options: unknown,
    inspect: (value: unknown, options: unknown) => string,
  ): string {
    return `${this.constructor.name} ${inspect(this.toJSON(), options)}`;
  }

  /** Logs out (ignoring errors) and closes: `await using M = ...`. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.state !== "LOGOUT" && !this._dead) {
      try {
        await this.logout();
      } catch {
        // Disposal must not throw over the error that ended the block.
      }
    }
    await this.shutdown();
  }

  // ---------------------------------------------------------------------------------------------
  // Machinery

  #throwIfDead(): void {
    if (this._dead) throw this.#closedError();
  }

  #closedError(): IMAP4Abort {
    const dead = this._dead;
    return new IMAP4Abort(`Connection is closed: ${dead?.message ?? "not connected"}`, {
      cause: dead,
    });
  }

  #checkState(name: string): void {
    if (this._dead) throw this.#closedError();
    const states = Commands[name] ?? this._extraCommands[name];
    if (states && !states.includes(this.state)) {
      throw new IMAP4Error(
        `Command ${name} illegal in state ${this.state}, only allowed in states ${
          states.join(", ")
        }`,
        { command: name },
      );
    }
  }

  /** The finisher that pops the untagged data of `name`; one per name, made once. */
  #pop(name: string): (typ: string, data: Datum[]) => CommandResult {
    let f = this._finishers.get(name);
    if (f === undefined) {
      f = (typ, data) => this.#untaggedResponse(typ, data, name);
      this._finishers.set(name, f);
    }
    return f;
  }

  /** imaplib's `_untagged_response`: pops the data of `name`. */
  #untaggedResponse(typ: string, dat: Datum[], name: string): CommandResult {
    if (typ === "NO") return [typ, dat];
    const data = this.untagged_responses[name];
    if (data === undefined) return [typ, [null]];
    delete this.untagged_responses[name];
    return [typ, data];
  }

  #appendUntagged(typ: string, dat: Datum): void {
    const size = typeof dat === "string" ? dat.length : datumSize(dat);
    const maxCount = this._maxUntagged;
    const maxBytes = this._maxUntaggedBytes;
    if (this._untaggedCount >= maxCount || this._untaggedBytes + size > maxBytes) {
      // The counters only grow (claimed data is not subtracted): recount, then judge.
      this._untaggedCount = this._untaggedBytes = 0;
      for (const items of Object.values(this.untagged_responses)) {
        for (const d of items) {
          this._untaggedCount++;
          this._untaggedBytes += datumSize(d);
        }
      }
      if (this._untaggedCount >= maxCount || this._untaggedBytes + size > maxBytes) {
        throw this.#fail(
          new IMAP4Abort(
            `Unclaimed untagged responses exceed ${maxCount} items or ${maxBytes} bytes`,
          ),
        );
      }
    }
    this._untaggedCount++;
    this._untaggedBytes += size;
    const ur = this.untagged_responses;
    const list = ur[typ];
    if (list) list.push(dat);
    else ur[typ] = [dat];
  }

  /**
   * Runs a command the imaplib way: checks, queues, writes, waits for its tagged answer.
   *
   * @param name the command as errors, logs and state checks name it (`UID`)
   * @param args its arguments
   * @param finish turns the tagged status and data into the result
   * @param pipelineName the command as sent, e.g. `UID FETCH` (default `name`): what decides
   *   pipelining and claims
   * @param stateChecked the caller has checked the state already
   */
  #simple(
    name: string,
    args: readonly Arg[],
    finish?: (typ: string, data: Datum[]) => CommandResult,
    pipelineName = name,
    stateChecked = false,
  ): Promise<CommandResult> {
    // Tags are taken in call order and commands are sent in call order; state and encoding
    // errors are thrown before anything is queued.
    let tag: string;
    let cmd: EncodedCommand;
    const n = this.tagnum;
    try {
      if (!stateChecked) this.#checkState(name);
      // The tag is only taken once the arguments are known to be sendable, so that a refused
      // call leaves no gap in the tags (transcripts with fixed tags stay in step).
      tag = this.tagpre + String(n);
      // #encode's body in place, with the options #encodeOptions caches looked up in place
      // unless they must be remade: on the path of every command, each function less is one
      // less for V8 to run in baseline code and to compile in a fresh process.
      const cached = this._encodeCache;
      cmd = encodeCommand(
        tag,
        pipelineName,
        args,
        cached.caps === this.capabilities && cached.options.utf8 === this.utf8_enabled
          ? cached.options
          : this.#encodeOptions(),
      );
      this.tagnum++;
    } catch (e) {
      return Promise.reject(e);
    }
    if (!PIPELINABLE.has(pipelineName) || cmd.line === null) {
      return this.#sendQueued(name, args, finish, pipelineName, tag, cmd);
    }
    // The tag's number as #tagNumber would read it back (a caller may have set tagnum oddly).
    const num = Number.isInteger(n) && n >= 0 && n < 1e15 ? n : -1;
    if (
      this._pending.size > 0 || this._pumping || this._writing || this._scheduling ||
      this._queue.length > 0 || this._rawReading || this._contWaiter !== null
    ) {
      const done = new Promise<CommandResult>(captureSettlers);
      const resolve = capturedResolve!;
      const reject = capturedReject!;
      try {
        this.#sendOne(name, args, finish, pipelineName, tag, num, cmd, resolve, reject);
      } catch (e) {
        // As an executor's throw would: the call fails, it does not throw.
        reject(e);
      }
      return done;
    }
    // The common case, one command after another, returns last: V8 optimises a function
    // sooner when its calls run to its end (a return counts as much of the function as lies
    // before it).
    return this.#direct(name, args, finish, pipelineName, tag, num, cmd);
  }

  /**
   * Sends a one-line pipelinable command now when nothing is queued ahead and nothing pending
   * conflicts with it (the common case of one command after another); queues it otherwise.
   */
  #sendOne(
    name: string,
    args: readonly Arg[],
    finish: ((typ: string, data: Datum[]) => CommandResult) | undefined,
    pipelineName: string,
    tag: string,
    num: number,
    cmd: EncodedCommand,
    resolve: (r: CommandResult) => void,
    reject: (e: unknown) => void,
  ): void {
    const resultType = RESULT_TYPES[pipelineName] ?? null;
    const fetching = resultType === "FETCH";
    // With nothing pending nothing can conflict: no claim is worked out before the write.
    const idle = this._pending.size === 0 && this._direct === null;
    let claim: Claim | null = null;
    // Behind a write under way (commands issued all at once) it cannot go now anyway: it is
    // queued as it is, and the scheduler does the rest in batches, each written as soon as it is
    // ready, while the server works on the one before.
    const queue = this._writing || this._scheduling || this._queue.length > 0;
    if (!queue && !idle) {
      this.#indexLone();
      if (fetching) claim = claimOf(pipelineName, args);
    }
    if (queue || (!idle && this._claims.conflicts(resultType, claim))) {
      this._queue.push({
        exclusive: false,
        resultType,
        // Queued without a look at what pends, its claim is worked out when it is its turn.
        claim: fetching && queue ? UNKNOWN_CLAIM : claim,
        reject,
        batch: { tag, name, cmd, finish, resolve, pipelineName, args },
      });
      this.#kick();
      this.#resumePump();
    } else {
      try {
        this.#admit(name);
      } catch (e) {
        reject(e);
        return;
      }
      // The bytes go first: the bookkeeping below then runs while the server works, not
      // between its last answer and this command. Nothing can be read before it is done (the
      // answer is taken in a later turn). A failed write fails the connection, which rejects
      // this command.
      this.#write(cmd.line!, true);
      const pending = this.#enrol(
        name,
        finish,
        false,
        tag,
        resultType,
        claim,
        resolve,
        reject,
        num,
      );
      // Alone, a FETCH's claim is not needed: it is worked out only if another command comes
      // while this one pends (#indexLone), which one after another never happens.
      if (fetching && idle) {
        this._lone = pending;
        this._loneName = pipelineName;
        this._loneArgs = args;
      } else this._claims.add(pending, resultType, claim);
      this.#logCommand(cmd);
      this.#ensurePump();
    }
  }

  /**
   * A one-line command on an idle connection: the common case of one command after another. It
   * is written, then this function reads until its answer has come, keeping its state in locals
   * rather than behind a promise and the pump's callbacks. Every response goes through #dispatch
   * as the pump would send it, so commands issued meanwhile are answered as usual; once this one
   * is done, the pump takes over whatever still waits.
   */
  async #direct(
    name: string,
    args: readonly Arg[],
    finish: ((typ: string, data: Datum[]) => CommandResult) | undefined,
    pipelineName: string,
    tag: string,
    num: number,
    cmd: EncodedCommand,
  ): Promise<CommandResult> {
    const resultType = RESULT_TYPES[pipelineName] ?? null;
    this.#admit(name);
    // The bytes go first, as in #sendOne. Nothing else is being written. The write needs no
    // deadline of its own: the read below starts at once with the connection's, and a write that
    // hangs leaves it waiting until that fails the connection, which settles the write.
    this._writing = true;
    this._conn!.write(cmd.line!).then(this._nextWrite, this._writeFailedQuietly);
    const pending = this.#enrol(name, finish, false, tag, resultType, null, null, null, num);
    if (resultType === "FETCH") {
      this._lone = pending;
      this._loneName = pipelineName;
      this._loneArgs = args;
    } else this._claims.add(pending, resultType, null);
    this.#logCommand(cmd);
    // The pump stays off until this command has its answer.
    this._pumping = true;
    const reader = this._reader!;
    try {
      while (!pending.done) {
        const line = reader.takeLine();
        if (line !== null) this.#dispatch(line, null);
        else if (reader.buffered === 0) await reader.fill();
        else {
          const r = reader.takeResponse() ?? await reader.readResponse();
          this.#dispatch(r!.lines[0], r);
        }
      }
    } catch (e) {
      // Fails the connection, which fails this command with the others.
      this.#fail(e);
    }
    this._pumping = false;
    // Whatever still waits goes to the pump (one after another, nothing does).
    if (this._autoPending > 0 || this._contWaiter !== null || this._rawReading) this.#ensurePump();
    if (pending.value === null) throw pending.error;
    return pending.value;
  }

  /** Queues a command with literals (pipelined) or one that needs the connection to itself. */
  #sendQueued(
    name: string,
    args: readonly Arg[],
    finish: ((typ: string, data: Datum[]) => CommandResult) | undefined,
    pipelineName: string,
    tag: string,
    cmd: EncodedCommand,
  ): Promise<CommandResult> {
    if (PIPELINABLE.has(pipelineName)) {
      const resultType = RESULT_TYPES[pipelineName] ?? null;
      const claim = resultType === "FETCH" ? claimOf(pipelineName, args) : null;
      let result!: Promise<CommandResult>;
      const sent = this.#enqueue(
        false,
        async () => {
          const { pending, done } = this.#register(name, finish, false, tag, resultType, claim);
          result = done;
          done.catch(() => {});
          await this.#writeCommand(pending, cmd);
        },
        resultType,
        claim,
      );
      return sent.then(() => result);
    }
    return this.#exclusive(async () => {
      const { pending, done } = this.#register(name, finish, false, tag);
      done.catch(() => {});
      await this.#writeCommand(pending, cmd);
      return await done;
    });
  }

  /** Whether a pipelined job must wait for a pending command returning the same kind of data. */
  #mustWait(job: Job): boolean {
    this.#indexLone();
    if (job.claim === UNKNOWN_CLAIM) job.claim = claimOf(job.batch!.pipelineName, job.batch!.args);
    return this._claims.conflicts(job.resultType, job.claim);
  }

  #newTag(): string {
    return this.tagpre + String(this.tagnum++);
  }

  /**
   * The number of the tag that `text` starts with (`end` characters long) when it is one of ours
   * (our prefix, then digits as `String(n)` writes them), else -1.
   */
  #tagNumber(text: string, end: number): number {
    const pre = this.tagpre;
    const from = pre.length;
    if (end <= from || end - from > 15 || !text.startsWith(pre)) return -1;
    const digits = text.slice(from, end);
    return TAG_DIGITS.test(digits) ? Number(digits) : -1;
  }

  /** Registers and writes consecutive one-chunk pipelined commands in one write. */
  async #runBatch(first: Job, limit: number): Promise<void> {
    try {
      await this.#sendBatch(first, limit);
    } catch {
      // #write has failed the connection, which rejected every registered command.
    }
  }

  /**
   * Registers `first` and the one-chunk pipelined commands queued behind it, and writes them in
   * one write. Returns the write, already under way.
   */
  #sendBatch(first: Job, limit: number): Promise<void> {
    const parts: Uint8Array[] = [];
    let size = 0;
    let job: Job | undefined = first;
    while (job !== undefined) {
      const b = job.batch!;
      try {
        // The caller's own promise settles with the command: no promise in between.
        this.#register(
          b.name,
          b.finish,
          false,
          b.tag,
          job.resultType,
          job.claim,
          b.resolve,
          job.reject,
        );
        this.#logCommand(b.cmd);
        const bytes = b.cmd.line!;
        parts.push(bytes);
        size += bytes.length;
      } catch (e) {
        job.reject(e);
      }
      // The next one joins this write unless it must wait for one of these (same kind of data).
      const next = this._queue.peek();
      if (next?.batch === undefined || size >= limit || this.#mustWait(next)) break;
      job = this._queue.shift();
    }
    if (parts.length === 0) return Promise.resolve();
    // The read is issued while the write completes, so an answer is taken as soon as it lands.
    const written = this.#write(concatBytes(parts));
    this.#ensurePump();
    return written;
  }

  #encodeOptions(): EncodeOptions {
    // Recomputed only when the capabilities or the UTF-8 mode change (on every command it was
    // two linear scans of a hundred capabilities).
    const cached = this._encodeCache;
    if (cached.caps !== this.capabilities || cached.options.utf8 !== this.utf8_enabled) {
      const caps = this.capabilities;
      this._encodeCache = {
        caps,
        options: {
          utf8: this.utf8_enabled,
          literalPlus: caps.includes("LITERAL+"),
          literalMinus: caps.includes("LITERAL-"),
        },
      };
    }
    return this._encodeCache.options;
  }

  #encode(tag: string, name: string, args: readonly Arg[]): EncodedCommand {
    return encodeCommand(tag, name, args, this.#encodeOptions());
  }

  /** Writes a command and waits for its completion; only from inside an exclusive job. */
  async #execute(
    name: string,
    args: readonly Arg[],
    finish?: (typ: string, data: Datum[]) => CommandResult,
  ): Promise<CommandResult> {
    const { pending, done } = this.#register(name, finish);
    done.catch(() => {});
    await this.#writeCommand(pending, this.#encode(pending.tag, name, args));
    return await done;
  }

  /** Runs `fn` with the connection to itself: after all earlier commands, before all later. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    let out!: T;
    return this.#enqueue(true, async () => {
      out = await fn();
    }).then(() => out);
  }

  #enqueue(
    exclusive: boolean,
    run: () => Promise<void>,
    resultType: string | null = null,
    claim: Claim | null = null,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this._queue.push({
        exclusive,
        resultType,
        claim,
        run: () => run().then(resolve, reject),
        reject,
      });
      this.#kick();
      this.#resumePump();
    });
  }

  /**
   * Starts the scheduler after the current synchronous code, so that commands issued together
   * (`Promise.all`) are queued before the first is written, and go out in one write.
   */
  #kick(): void {
    if (this._scheduling) return;
    this._scheduling = true;
    queueMicrotask(() => void this.#schedule());
  }

  async #schedule(): Promise<void> {
    // The first batch is small, so that the server has work while the next ones are registered.
    let limit = BATCH_FIRST;
    try {
      while (this._queue.length > 0) {
        const job = this._queue.shift()!;
        if (this._dead) {
          job.reject(this.#closedError());
          continue;
        }
        if (job.exclusive && (this._pending.size > 0 || this._direct !== null)) {
          await new Promise<void>((r) => this._drained.push(r));
        }
        while (!this._dead && this.#mustWait(job)) {
          await new Promise<void>((r) => this._completions.push(r));
        }
        if (this._dead) {
          job.reject(this.#closedError());
          continue;
        }
        if (job.batch) {
          await this.#runBatch(job, limit);
          limit = Math.min(2 * limit, BATCH_BYTES);
        } else await job.run!();
      }
    } finally {
      this._scheduling = false;
    }
  }

  #register(
    name: string,
    finish?: (typ: string, data: Datum[]) => CommandResult,
    manual = false,
    tag: string = this.#newTag(),
    resultType: string | null = null,
    claim: Claim | null = null,
    outerResolve?: (r: CommandResult) => void,
    outerReject?: (e: unknown) => void,
  ): { pending: Pending; done: Promise<CommandResult> } {
    this.#admit(name);
    let resolve = outerResolve;
    let reject = outerReject;
    let done = NEVER;
    if (resolve === undefined || reject === undefined) {
      done = new Promise<CommandResult>((res, rej) => {
        resolve = res;
        reject = rej;
      });
    }
    const pending = this.#enrol(name, finish, manual, tag, resultType, claim, resolve!, reject!);
    this._claims.add(pending, resultType, claim);
    return { pending, done };
  }

  /**
   * Indexes the claim of a FETCH sent while nothing else pended (see #sendOne), before another
   * command is checked against the pending ones or joins them.
   */
  #indexLone(): void {
    const p = this._lone;
    if (p === null) return;
    this._lone = null;
    p.claim = claimOf(this._loneName, this._loneArgs!);
    this._loneArgs = null;
    this._claims.add(p, p.resultType, p.claim);
  }

  /**
   * What imaplib's _command does before sending: refuses a dead connection, drops stale status
   * data, and stops when a selected mailbox has gone read-only.
   */
  #admit(name: string): void {
    if (this._dead) throw this.#closedError();
    const ur = this.untagged_responses;
    if ("OK" in ur) delete ur["OK"];
    if ("NO" in ur) delete ur["NO"];
    if ("BAD" in ur) delete ur["BAD"];
    // Only a selected mailbox can turn read-only: READ-ONLY planted before login or STARTTLS
    // must not block commands (STARTTLS discards it).
    const readOnly = this.state === "SELECTED" && "READ-ONLY" in ur;
    if (readOnly && !this.is_readonly && name !== "LOGOUT") {
      throw new IMAP4ReadOnly("Mailbox status changed to READ-ONLY", { command: name });
    }
  }

  /**
   * Records an admitted command as pending; its answer can be dispatched from now on. The caller
   * indexes its claim (_claims.add), or keeps it aside as the lone one (see #sendOne).
   */
  #enrol(
    name: string,
    finish: ((typ: string, data: Datum[]) => CommandResult) | undefined,
    manual: boolean,
    tag: string,
    resultType: string | null,
    claim: Claim | null,
    resolve: ((r: CommandResult) => void) | null,
    reject: ((e: unknown) => void) | null,
    num: number = this.#tagNumber(tag, tag.length),
  ): Pending {
    if (this._lone !== null) this.#indexLone();
    const pending: Pending = {
      tag,
      num,
      name,
      finish: finish ?? asIs,
      resolve,
      reject,
      value: null,
      error: undefined,
      manual,
      logout: name === "LOGOUT",
      done: false,
      resultType,
      claim,
    };
    // Only #direct's command has no settlers: it waits in the slot of its own.
    if (resolve === null) this._direct = pending;
    else this._pending.set(pending.num, pending);
    if (!manual) this._autoPending++;
    if (this._openGate !== null) this.#resumePump();
    return pending;
  }

  async #writeCommand(pending: Pending, cmd: EncodedCommand): Promise<void> {
    this.#logCommand(cmd);
    for (const chunk of cmd.chunks) {
      const written = this.#write(chunk.bytes);
      if (!chunk.waitAfter) {
        if (!pending.manual) this.#ensurePump();
        await written;
        continue;
      }
      // Waited for from the moment the bytes leave: a quick server's "+" may be read before
      // the write has settled here. (Should that wait throw, the write's failure, if any, has
      // failed the connection already: it needs no other handler.)
      written.catch(() => {});
      const continued = this.#waitContinuation(pending);
      await written;
      // A tagged answer instead of "+": the rest (an APPEND body) is never sent.
      if ((await continued) === null) return;
    }
    if (!pending.manual) this.#ensurePump();
  }

  async #writeRaw(bytes: Uint8Array, log: string): Promise<void> {
    this.#throwIfDead();
    this.#log(`C: ${log}`);
    await this.#write(bytes);
  }

  /**
   * Writes in call order: a write starts only when the one before it has finished.
   *
   * @param quiet the caller does not wait: a failure only fails the connection (which rejects
   *   the pending commands), and the promise returned always fulfils
   */
  #write(bytes: Uint8Array, quiet = false): Promise<void> {
    // With nothing under way the bytes go to the transport now: a hop through a chain would put
    // every microtask already queued between the caller and the socket.
    let written: Promise<void>;
    if (this._writing) written = this.#writeLater(bytes);
    else {
      this._writing = true;
      written = this.#writeNow(bytes, quiet);
    }
    return written;
  }

  /** Bytes asked for while a write is under way leave after it, together, in order. */
  #writeLater(bytes: Uint8Array): Promise<void> {
    this.#backlog.push(bytes);
    if (this.#backlogWritten === null) {
      const written = new Promise<void>((resolve, reject) => {
        this.#backlogSettle = [resolve, reject];
      });
      written.catch(() => {});
      this.#backlogWritten = written;
    }
    return this.#backlogWritten;
  }

  #writeNow(bytes: Uint8Array, quiet: boolean): Promise<void> {
    if (this._dead) {
      const err = this.#closedError();
      // Later writes are refused the same way.
      this._nextWrite();
      return quiet ? Promise.resolve() : Promise.reject(err);
    }
    const writing = this._conn!.write(bytes);
    // Past the deadline the connection fails, which closes the transport and so settles the
    // write: the write slot does what a race would, without a promise per write. (Started once
    // the bytes are on their way: nothing can settle the write before this turn ends.)
    this._reader!.watchdog.start(this._writeSlot!, Date.now() + this._timeout);
    return writing.then(this._written, quiet ? this._writeFailedQuietly : this._writeFailed);
  }

  private readonly _writeTimedOut = (): void => {
    this.#fail(new IMAP4Abort("Timed out writing to the server"));
  };

  /** Waits for `+` (returns its text) or for the command's tagged answer (returns null). */
  #waitContinuation(pending: Pending): Promise<string | null> {
    if (pending.done) return Promise.resolve(null);
    this.#throwIfDead();
    return new Promise<string | null>((resolve) => {
      this._contWaiter = { pending, resolve };
      this.#ensurePump();
    });
  }

  #ensurePump(): void {
    if (this._pumping || this._dead) return;
    if (this._rawReading) {
      this._pumpWanted = true;
      return;
    }
    if (this._autoPending === 0 && this._contWaiter === null) return;
    this._pumping = true;
    this._pump();
  }

  /**
   * Reads and dispatches responses while a command waits for its answer, as imaplib's
   * `_get_response` loop. It returns whenever it must wait (for bytes, for the rest of a response
   * or for a stream's consumer) and is called again by what it waited for: a plain function and
   * handlers made once, not an async function started for every command.
   */
  private readonly _pump = (): void => {
    try {
      while (!this._dead && (this._autoPending > 0 || this._contWaiter !== null)) {
        if (this._fetchSink !== null && this.#mustPause()) {
          // Resumed in a later turn by #resumePump, never inside the caller that opened it.
          new Promise<void>((r) => (this._openGate = r)).then(this._pump);
          return;
        }
        // A response already buffered is taken without a wait; one that arrives whole costs
        // one wait for bytes. Most are one line of text, taken as a string.
        const reader = this._reader!;
        if (reader.buffered === 0) {
          reader.fillThen(this._pump, this._pumpFailed);
          return;
        }
        const line = reader.takeLine();
        if (line !== null) {
          this.#dispatch(line, null);
          continue;
        }
        const r = reader.takeResponse();
        if (r === null) {
          reader.readResponse().then(this._pumpResponse, this._pumpFailed);
          return;
        }
        this.#dispatch(r.lines[0], r);
      }
    } catch (e) {
      this.#fail(e);
    }
    this._pumping = false;
  };

  /** Dispatches a response the pump waited for, then pumps on. */
  private readonly _pumpResponse = (r: Response | null): void => {
    try {
      this.#dispatch(r!.lines[0], r);
    } catch (e) {
      this._pumpFailed(e);
      return;
    }
    this._pump();
  };

  private readonly _pumpFailed = (e: unknown): void => {
    this.#fail(e);
    this._pumping = false;
  };

  /**
   * Whether reading should wait for a stream's consumer: only when its read-ahead is full and
   * nothing else waits for the connection (a command issued by the consumer keeps reading going,
   * so it can never deadlock).
   */
  #mustPause(): boolean {
    const s = this._fetchSink;
    return s !== null && !s.discard && s.bytes >= s.highWaterMark && this._pending.size === 1 &&
      this._direct === null &&
      this._queue.length === 0 && this._contWaiter === null;
  }

  #resumePump(): void {
    const g = this._openGate;
    this._openGate = null;
    g?.();
  }

  /**
   * Routes one response, as imaplib's `_get_response`: its first line, and the whole response
   * when it has literals (null for a single line).
   */
  #dispatch(line: string, r: Response | null): void {
    this.#logServer(line, r);
    if (line.charCodeAt(0) === 0x2a && line.charCodeAt(1) === 0x20) {
      // "* TYPE data" or "* N TYPE data" (imaplib's Untagged_response / Untagged_status).
      const head = UNTAGGED_HEAD.exec(line);
      if (head === null) {
        throw this.#fail(
          new IMAP4Abort(`Cannot parse untagged response: ${JSON.stringify(line.slice(0, 200))}`),
        );
      }
      const number = head[1] ?? "";
      const word = head[2];
      // The type of nearly every line one after another without a call.
      const typ = word === "FETCH" ? "FETCH" : typeName(word);
      const end = head[0].length;
      let dat = end < line.length ? line.slice(end) : "";
      if (number !== "") dat = dat === "" ? number : `${number} ${dat}`;
      // The common case: one line, and no IDLE, stream or second claimer to hand it to.
      if (
        (r === null || r.literals.length === 0) && this._idleSink === null &&
        this._fetchSink === null && (typ !== "FETCH" || this._claims.claimers < 2)
      ) {
        this.#appendUntagged(typ, dat);
      } else if (this.#divert(typ, number, line, r, dat)) return;
      if (dat.charCodeAt(0) === 0x5b) this.#responseCode(typ, dat);
      if (typ === "BYE") this.#bye(dat);
      return;
    }
    if (line === "+" || line.startsWith("+ ")) {
      const text = line.length > 2 ? line.slice(2) : "";
      this.continuation_response = text;
      const w = this._contWaiter;
      if (!w) {
        throw this.#fail(
          new IMAP4Abort(`Unexpected continuation request: ${JSON.stringify(line.slice(0, 200))}`),
        );
      }
      this._contWaiter = null;
      w.resolve(text);
      return;
    }
    const sp = line.indexOf(" ");
    // Answers mostly come in order: the oldest command's tag is tried before the tag is parsed.
    // (#direct's own command first: it is in no table.)
    let pending = this._direct ?? this._pending.oldest();
    if (pending === undefined || sp !== pending.tag.length || !line.startsWith(pending.tag)) {
      pending = this._pending.get(this.#tagNumber(line, sp === -1 ? line.length : sp));
    }
    if (!pending) {
      throw this.#fail(
        new IMAP4Abort(`Unexpected tagged response: ${JSON.stringify(line.slice(0, 200))}`),
      );
    }
    // "tag STATUS text": the status read in place, one slice for the text.
    const from = sp === -1 ? line.length : sp + 1;
    const sp2 = line.indexOf(" ", from);
    const to = sp2 === -1 ? line.length : sp2;
    // OK, the common answer, without a call.
    const typ = to - from === 2 && line.charCodeAt(from) === 0x4f &&
        line.charCodeAt(from + 1) === 0x4b
      ? "OK"
      : statusWord(line, from, to);
    const dat = sp2 === -1 ? "" : line.slice(sp2 + 1);
    if (typ !== "OK" && typ !== "NO" && typ !== "BAD") {
      throw this.#fail(
        new IMAP4Abort(`Invalid tagged status: ${JSON.stringify(line.slice(0, 200))}`),
      );
    }
    if (dat.charCodeAt(0) === 0x5b) this.#responseCode(typ, dat);
    this.#complete(pending, typ, [dat]);
  }

  /**
   * The rest of an untagged response's {@link #dispatch}: a response with literals, or one that IDLE, a stream
   * or a claimer takes. Returns true when it was handed over, false once appended as imaplib
   * would.
   */
  #divert(
    typ: string,
    number: string,
    line: string,
    r: Response | null,
    dat: string,
  ): boolean {
    let items: Datum[];
    if (r === null || r.literals.length === 0) items = [dat];
    else {
      items = [[dat, r.literals[0]]];
      for (let i = 1; i < r.literals.length; i++) items.push([r.lines[i], r.literals[i]]);
      items.push(r.lines[r.lines.length - 1]);
    }

    if (this._idleSink && typ !== "BYE") {
      this._idleSink(typ, items);
      return true;
    }
    // Routing needs two claimers; one command at a time keeps imaplib's semantics.
    if (
      typ === "FETCH" && this._claims.claimers >= 2 && this.#routeFetch(number, line, r, items)
    ) {
      return true;
    }
    const sink = this._fetchSink;
    if (sink !== null && typ === "FETCH") {
      if (!sink.discard) {
        let size = line.length;
        for (const it of items) if (Array.isArray(it)) size += it[1].length;
        sink.items.push({ data: items, size });
        sink.bytes += size;
        const w = sink.wake;
        sink.wake = null;
        w?.();
      }
      return true;
    }
    for (let i = 0; i < items.length; i++) this.#appendUntagged(typ, items[i]);
    return false;
  }

  /**
   * Every pending command, oldest first: #direct's, if any (nothing pended when it was sent),
   * then the table's.
   */
  #allPending(): Pending[] {
    const table = this._pending.values();
    if (this._direct !== null) table.unshift(this._direct);
    return table;
  }

  /** An untagged BYE: the answer to LOGOUT, or the end of the connection. */
  #bye(dat: string): void {
    for (const p of this.#allPending()) {
      if (p.logout) {
        const bye = this.untagged_responses["BYE"];
        delete this.untagged_responses["BYE"];
        this.#complete(p, "BYE", bye ?? [dat], true);
        return;
      }
    }
    if (this.state !== "LOGOUT" || this._pending.size > 0 || this._direct !== null) {
      throw this.#fail(
        new IMAP4Abort(`Server said BYE: ${JSON.stringify(dat.slice(0, 200))}`, {
          status: "BYE",
        }),
      );
    }
  }

  /** Gives a FETCH response to the pending FETCH or STORE that asked for its message. */
  #routeFetch(number: string, line: string, r: Response | null, items: Datum[]): boolean {
    let owner: Pending | undefined;
    if (this._claims.anyByUid()) {
      const text = r === null || r.lines.length === 1 ? line : r.lines.join(" ");
      const uid = uidOf(text);
      if (uid >= 0) owner = this._claims.owner(true, uid);
    }
    if (owner === undefined && this._claims.anyBySeq()) {
      owner = this._claims.owner(false, Number(number));
    }
    // A stream's own data goes to its consumer.
    if (owner === undefined || this._fetchSink?.tag === owner.tag) return false;
    const claim = owner.claim!;
    if (claim.items === null) claim.items = items;
    else for (let i = 0; i < items.length; i++) claim.items.push(items[i]);
    return true;
  }

  #responseCode(typ: string, dat: string): void {
    if ((typ !== "OK" && typ !== "NO" && typ !== "BAD") || dat[0] !== "[") return;
    const close = dat.lastIndexOf("]");
    if (close < 1) return;
    const inner = dat.slice(1, close);
    const sp = inner.indexOf(" ");
    const code = sp === -1 ? inner : inner.slice(0, sp);
    if (!/^[A-Z-]+$/.test(code)) return;
    this.#appendUntagged(code, sp === -1 ? "" : inner.slice(sp + 1));
  }

  #complete(pending: Pending, typ: string, data: Datum[], raw = false): void {
    if (pending.done) return;
    pending.done = true;
    if (pending === this._direct) this._direct = null;
    else this._pending.delete(pending.num);
    if (this._lone === pending) this._lone = this._loneArgs = null;
    else this._claims.remove(pending, pending.resultType, pending.claim);
    if (!pending.manual) this._autoPending--;
    if (this._contWaiter?.pending === pending) {
      const w = this._contWaiter;
      this._contWaiter = null;
      w.resolve(null);
    }
    const claimed = pending.claim?.items;
    if (claimed) {
      // Data told apart by message number joins what arrived unclaimed, as imaplib would see it.
      // (The claim is done with: its own array is handed over.)
      const ur = this.untagged_responses;
      const unclaimed = ur["FETCH"];
      ur["FETCH"] = unclaimed === undefined ? claimed : unclaimed.concat(claimed);
    }
    const completions = this._completions;
    if (completions.length > 0) {
      this._completions = [];
      for (const c of completions) c();
    }
    try {
      if (!raw && typ === "BAD") {
        throw new IMAP4Error(
          this.#mask(`${pending.name} command error: BAD ${JSON.stringify(lastText(data))}`),
          { command: pending.name, status: "BAD" },
        );
      }
      const value = raw ? [typ, data] as CommandResult : pending.finish(typ, data);
      if (pending.resolve === null) pending.value = value;
      else pending.resolve(value);
    } catch (e) {
      if (pending.reject === null) pending.error = e;
      else pending.reject(e);
    }
    // Most commands complete with nobody waiting for the connection to drain: no new array.
    if (this._drained.length > 0 && this._pending.size === 0 && this._direct === null) {
      const waiters = this._drained;
      this._drained = [];
      for (const w of waiters) w();
    }
  }

  /**
   * Marks the connection dead: every pending and queued call fails, the transport closes.
   * Returns the abort error to throw.
   */
  #fail(e: unknown, closeTransport = true): IMAP4Abort {
    if (this._dead) return this._dead;
    const err = e instanceof IMAP4Abort
      ? e
      : new IMAP4Abort(e instanceof Error ? e.message : String(e), { cause: e });
    err.message = this.#mask(err.message);
    this._dead = err;
    this.state = "LOGOUT";
    if (this._onAbort && this.#options.signal) {
      this.#options.signal.removeEventListener("abort", this._onAbort);
      this._onAbort = null;
    }
    const all = this.#allPending();
    this._direct = null;
    for (const p of all) {
      p.done = true;
      if (p.reject === null) p.error = err;
      else p.reject(err);
    }
    this._pending.clear();
    this._claims.clear();
    this._lone = this._loneArgs = null;
    this._autoPending = 0;
    const w = this._contWaiter;
    this._contWaiter = null;
    w?.resolve(null);
    const waiters = this._drained;
    this._drained = [];
    for (const d of waiters) d();
    this.#resumePump();
    const completions = this._completions;
    this._completions = [];
    for (const c of completions) c();
    const sink = this._fetchSink;
    if (sink?.wake) sink.wake();
    this._reader?.dispose();
    if (closeTransport) void this._conn?.close();
    return err;
  }

  /**
   * Logs a command as sent. A one-line command is kept in the ring as it is, made into text only
   * if printed; any other (it may hold a literal of any size) is logged as text at once.
   */
  #logCommand(cmd: EncodedCommand): void {
    if (
      cmd instanceof OneLine && !this._logger && this.debug < 4 &&
      this.#secrets.length === 0
    ) {
      // #remember's body in place, as in #logServer: one call fewer on every command.
      const at = this._recentNext;
      this._recent[at] = cmd;
      this._recentNext = at === RECENT_LOG - 1 ? 0 : at + 1;
    } else this.#log(`C: ${cmd.log}`);
  }

  /** Puts an entry in the ring print_log prints, over the oldest. */
  #remember(entry: string | OneLine): void {
    const at = this._recentNext;
    this._recent[at] = entry;
    this._recentNext = at === RECENT_LOG - 1 ? 0 : at + 1;
  }

  #log(line: string): void {
    if (this.#secrets.length > 0) line = this.#mask(line);
    this.#remember(line);
    if (this._logger) this._logger(line);
    else if (this.debug >= 4) console.error(`  ${line}`);
  }

  #logServer(first: string, r: Response | null): void {
    if (!this._logger && this.debug < 4) {
      // Only the ring buffer wants it: the first line, cut short, costs next to nothing.
      // Masked before it is cut, so that no part of a secret survives the cut.
      let line = first;
      if (this.#secrets.length > 0) line = this.#mask(line);
      // #remember's body in place: one call fewer on every response.
      const at = this._recentNext;
      this._recent[at] = "S: " + (line.length > 200 ? line.slice(0, 200) : line);
      this._recentNext = at === RECENT_LOG - 1 ? 0 : at + 1;
    } else this.#logResponse(first, r);
  }

  /** A response in full for a logger or debug output: literals summarised by their size. */
  #logResponse(first: string, r: Response | null): void {
    let text = first;
    if (r !== null) {
      for (let i = 0; i < r.literals.length; i++) {
        text += `\r\n<${r.literals[i].length} bytes>${r.lines[i + 1]}`;
      }
    }
    this.#log(`S: ${text}`);
  }

  /** Replaces the secrets in flight (as sent, and as quoted) by `***`. */
  #mask(text: string): string {
    for (const s of this.#secrets) {
      if (s === "") continue;
      text = text.replaceAll(s.replace(/[\\"]/g, "\\$&"), "***").replaceAll(s, "***");
    }
    return text;
  }

  /** With `requireTls`, refuses to authenticate before TLS. */
  #checkTls(name: string): void {
    if (this.#options.requireTls && !this._tls) {
      throw new IMAP4Error(`Command ${name} refused: requireTls is set and TLS is not active`, {
        command: name,
      });
    }
  }

  /** @ignore The transport, for subclasses. */
  protected get _transport(): Transport | null {
    return this._conn;
  }

  /** @ignore Marks the session as running over TLS (implicit TLS). */
  protected _setTls(): void {
    this._tls = true;
  }

  /** @ignore The transports, for subclasses. */
  protected _transports(): Promise<TransportFactory> {
    return this.#factory();
  }

  /** @ignore Whether the connection is still usable. */
  protected get _alive(): boolean {
    return this._dead === null;
  }
}

/**
 * An IDLE session (RFC 2177), from {@link IMAP4.idle}: an async iterable of `[type, data]` pairs
 * as responses arrive, ending after the duration or when the server ends IDLE. Disposing of it
 * (or `done()`) sends DONE and waits for the tagged answer.
 */
export class Idler implements AsyncIterable<[string, Datum[]]>, AsyncDisposable {
  #imap: IMAP4;
  #pending: Pending;
  #done: Promise<CommandResult>;
  #deadline: number;
  #result: Promise<CommandResult> | null = null;
  #finish!: () => void;
  /** @ignore Resolves when the IDLE command has completed. */
  readonly finished: Promise<void>;

  /** @ignore Created by `IMAP4.idle()`. */
  constructor(
    imap: IMAP4,
    pending: Pending,
    done: Promise<CommandResult>,
    duration: number | undefined,
  ) {
    this.#imap = imap;
    this.#pending = pending;
    this.#done = done;
    this.#deadline = duration === undefined ? Infinity : Date.now() + duration * 1000;
    this.finished = new Promise<void>((r) => (this.#finish = r));
  }

  /**
   * Yields each response as it arrives until the duration has passed.
   *
   * @returns an async iterator of `[type, data]`
   */
  async *[Symbol.asyncIterator](): AsyncIterator<[string, Datum[]]> {
    for (;;) {
      const got = await this.#next(this.#deadline - Date.now());
      if (got === null) return;
      yield got;
    }
  }

  /**
   * Yields a burst: the next response (waiting up to the duration), then those that follow it
   * within `interval` seconds of each other.
   *
   * @param interval seconds between responses of one burst (default 0.1)
   * @returns an async iterator of `[type, data]`
   */
  async *burst(interval = 0.1): AsyncGenerator<[string, Datum[]]> {
    let got = await this.#next(this.#deadline - Date.now());
    while (got !== null) {
      yield got;
      got = await this.#next(Math.min(interval * 1000, this.#deadline - Date.now()));
    }
  }

  async #next(wait: number): Promise<[string, Datum[]] | null> {
    if (this.#result !== null || wait <= 0) return null;
    for (;;) {
      const got = await this.#imap._idleRead(wait, this.#pending);
      if (got === "done") return null;
      if (got !== null || wait !== Infinity) return got;
    }
  }

  /**
   * Ends IDLE: sends DONE (unless the server already ended it) and waits for the tagged answer.
   *
   * @returns the IDLE command's `[typ, data]`
   */
  done(): Promise<CommandResult> {
    if (this.#result === null) {
      this.#result = this.#imap._idleDone(this.#pending, this.#done).finally(() => this.#finish());
    }
    return this.#result;
  }

  /** Ends IDLE (see `done()`). */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.done();
    } catch {
      // The connection's own error is reported by its next call.
    }
  }
}

/**
 * An IMAP4 client over implicit TLS: Python's `imaplib.IMAP4_SSL`, async. Certificates are
 * verified, against the host name given (or `hostname`).
 *
 * @example
 * ```ts ignore
 * import { IMAP4_SSL } from "./mod.ts";
 * const S = await IMAP4_SSL.connect("imap.example.com", 993, { caCerts: [pem] });
 * ```
 */
export class IMAP4_SSL extends IMAP4 {
  #tlsOptions: TlsConnectOptions;

  /**
   * Creates a client that is not connected yet.
   *
   * @param options connection and certificate options
   */
  constructor(options: IMAP4SSLOptions = {}) {
    super(options);
    this.#tlsOptions = options;
  }

  /**
   * Connects over TLS, reads the greeting and the capabilities.
   *
   * @param host the server (default `localhost`)
   * @param port the port (default 993)
   * @param options connection and certificate options
   * @returns the connected client
   * @throws IMAP4Abort when the connection or the certificate check fails
   */
  static override async connect(
    host = "localhost",
    port = 993,
    options: IMAP4SSLOptions = {},
  ): Promise<IMAP4_SSL> {
    const m = new IMAP4_SSL(options);
    await m.open(host, port);
    return m;
  }

  /**
   * Opens the TLS connection, reads the greeting and asks for the capabilities.
   *
   * @param host the server
   * @param port the port (default 993)
   */
  override async open(host = "localhost", port = 993): Promise<void> {
    checkPort(port);
    this.host = host;
    this.port = port;
    const transports = await this._transports();
    const o = this.#tlsOptions;
    this._setTls();
    await this._start(() =>
      transports.connectTls({
        address: host,
        hostname: o.hostname ?? host,
        port,
        caCerts: o.caCerts,
        verify: o.verify,
      })
    );
  }

  /**
   * The TLS transport (imaplib's `ssl()`).
   *
   * @returns the transport in use
   */
  ssl(): Transport {
    return this.socket();
  }
}

/**
 * An IMAP4 client over a child process's stdin/stdout (e.g. `ssh host /usr/lib/dovecot/imap`):
 * Python's `imaplib.IMAP4_stream`, async. A string runs under `sh -c`; an array is argv.
 *
 * @example
 * ```ts ignore
 * import { IMAP4_stream } from "./mod.ts";
 * const P = await IMAP4_stream.connect("/usr/lib/dovecot/imap");
 * ```
 */
export class IMAP4_stream extends IMAP4 {
  /** The command that was run. */
  readonly command: string | string[];
  #streamOptions: IMAP4StreamOptions;

  /**
   * Creates a client that is not started yet.
   *
   * @param command a shell command line, or argv
   * @param options connection options
   */
  constructor(command: string | string[], options: IMAP4StreamOptions = {}) {
    super(options);
    this.command = command;
    this.#streamOptions = options;
  }

  /**
   * Starts the command and reads its greeting and capabilities.
   *
   * @param command a shell command line, or argv
   * @param options connection options
   * @returns the connected client
   * @throws IMAP4Abort when the child fails to start or speak IMAP
   */
  static override async connect(
    command: string | string[] = "",
    options: IMAP4StreamOptions | number = {},
  ): Promise<IMAP4_stream> {
    if (typeof options === "number") {
      throw new TypeError("IMAP4_stream.connect takes (command, options): there is no port");
    }
    const m = new IMAP4_stream(command, options);
    await m.open();
    return m;
  }

  /** Starts the child process (imaplib's `open`). */
  override async open(): Promise<void> {
    this.host = "";
    this.port = 0;
    const transports = await this._transports();
    const o = this.#streamOptions;
    await this._start(() =>
      transports.spawn({ command: this.command, env: o.env, cwd: o.cwd, onStderr: o.onStderr })
    );
  }

  /**
   * Ends the session: sends LOGOUT when still logged in (some servers never exit on EOF), then
   * ends the child. Never throws.
   */
  override async shutdown(): Promise<void> {
    const t = this._transport;
    if (t && this._alive && this.state !== "LOGOUT") {
      try {
        await t.write(textEncoder.encode(`${this.tagpre}${this.tagnum++} LOGOUT\r\n`));
      } catch {
        // The child may be gone already.
      }
    }
    await super.shutdown();
  }
}

/** The number part of one of our tags, as `String(n)` writes it (at most 15 digits). */
const TAG_DIGITS = /^(?:0|[1-9][0-9]{0,14})$/;

/**
 * The UID commands' pipeline names as constants: a property key or Set member made at run time
 * must be hashed (and looked up in the string table) on every use.
 */
/**
 * The word of `line` in [from, to) as a tagged status other than OK (which #dispatch reads in
 * place): NO and BAD as constants, else upper case.
 */
function statusWord(line: string, from: number, to: number): string {
  const n = to - from;
  const c = line.charCodeAt(from);
  // One exit at the end (V8 optimises a function sooner when its calls run to its end).
  let word: string;
  if (n === 2 && c === 0x4e && line.charCodeAt(from + 1) === 0x4f) word = "NO";
  else if (n === 3 && c === 0x42 && line.startsWith("AD", from + 1)) word = "BAD";
  else word = line.slice(from, to).toUpperCase();
  return word;
}

/** What {@link IMAP4.uid} needs to know about a subcommand: worked out once per spelling. */
interface UidSpec {
  /** The subcommand in upper case (`FETCH`). */
  sub: string;
  /** The command as sent (`UID FETCH`): a constant string for the known ones. */
  wire: string;
  /** The untagged type the result is taken from. */
  result: string;
  /** Whether the subcommand is allowed in exactly UID's states. */
  uidStates: boolean;
  /** The states the subcommand is allowed in. */
  states: readonly State[];
  /** Which argument is a mailbox name (COPY, MOVE), or -1. */
  mailboxAt: number;
}

const UID_NAMES: Readonly<Record<string, string>> = {
  FETCH: "UID FETCH",
  STORE: "UID STORE",
  SEARCH: "UID SEARCH",
  SORT: "UID SORT",
  THREAD: "UID THREAD",
  COPY: "UID COPY",
  MOVE: "UID MOVE",
  EXPUNGE: "UID EXPUNGE",
};

/** Specs by the caller's spelling of the subcommand (a few dozen at most are kept). */
const uidSpecs = new Map<string, UidSpec>();

/**
 * The spec of a UID subcommand not in {@link uidSpecs} yet, or null when `command` is no IMAP4
 * command (imaplib's check).
 */
function uidSpec(command: string): UidSpec | null {
  const sub = command.toUpperCase();
  if (!(sub in Commands)) return null;
  const spec: UidSpec = {
    sub,
    wire: UID_NAMES[sub] ?? `UID ${sub}`,
    result: sub === "SEARCH" || sub === "SORT" || sub === "THREAD" ? sub : "FETCH",
    uidStates: Commands[sub] === Commands["UID"],
    states: Commands[sub],
    mailboxAt: sub === "MOVE" || sub === "COPY" ? 1 : -1,
  };
  if (uidSpecs.size < 64) uidSpecs.set(command, spec);
  return spec;
}

/**
 * An untagged line taken apart (imaplib's Untagged_response and Untagged_status as one pattern,
 * up to the data): `* `, optional digits and a space, then a word of letters and dashes ended by
 * a space or the end of the line. Run by #dispatch in place, as compiled code from the first
 * response on (a loop over the characters cost 4,000 instructions a round trip until V8
 * optimised it; a function around the expression, a call and an object a line).
 */
const UNTAGGED_HEAD = /^\* (?:([0-9]+) )?([A-Za-z-]+)(?: |$)/;

/**
 * An untagged response's type in upper case; a constant string for the common ones (FETCH,
 * the most common, #dispatch names in place).
 */
function typeName(word: string): string {
  switch (word) {
    case "EXISTS":
      return "EXISTS";
    case "RECENT":
      return "RECENT";
    case "EXPUNGE":
      return "EXPUNGE";
    case "OK":
      return "OK";
    case "FLAGS":
      return "FLAGS";
    case "LIST":
      return "LIST";
    case "SEARCH":
      return "SEARCH";
    case "STATUS":
      return "STATUS";
    case "CAPABILITY":
      return "CAPABILITY";
    default:
      return word.toUpperCase();
  }
}
