/**
 * Framing: turns the bytes of a server into complete responses (a line, and for each `{n}` at a
 * line's end the n literal bytes, then the rest of the response), with every limit checked before
 * the bytes it guards are read.
 *
 * The reader is pull-based: it reads from its source only while a response is being asked for,
 * and never further than the end of that response's last line, except for what one `read()` of
 * the source happened to bring along (kept in the buffer for the next response).
 *
 * @module
 */

import { IMAP4Abort, quoteBytes } from "../errors.ts";
import { TIMED_OUT, type Waiter, Watchdog } from "./watchdog.ts";
import { POOLED_BYTES_MAX, pooledBytes } from "../../utils/bytes.ts";

/** Where the reader gets bytes from: a transport, or anything with the same `read`. */
export interface ByteSource {
  /** Reads up to `buf.length` bytes; `null` at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
}

/** The limits a reader enforces; each is checked before the bytes it guards are read. */
export interface ReaderLimits {
  /** The longest response line accepted, in bytes, CRLF excluded. Default 1,000,000. */
  maxLineLength: number;
  /** The largest literal accepted, in bytes. Default 512 MiB. */
  maxLiteralSize: number;
  /** The largest whole response (lines and literals), in bytes. Default 1 GiB. */
  maxResponseSize: number;
  /** How long one response line may take to arrive, in ms. Default 30,000. */
  timeout: number;
  /**
   * The slowest a literal may flow, in bytes per second: once n of its bytes have arrived, more
   * must come within `timeout + n / minLiteralRate` of its start. Default 16 KiB/s.
   */
  minLiteralRate: number;
}

/** Default limits (see {@link ReaderLimits}). */
export const DEFAULT_LIMITS: ReaderLimits = Object.freeze({
  maxLineLength: 1_000_000,
  maxLiteralSize: 512 * 1024 * 1024,
  maxResponseSize: 1024 * 1024 * 1024,
  timeout: 30_000,
  minLiteralRate: 16 * 1024,
});

/**
 * One complete server response. `lines[i]` is the text of the i-th line part (CRLF removed,
 * UTF-8 decoded); when `literals[i]` exists, `lines[i]` ends with its `{n}` marker and the
 * literal's bytes come between `lines[i]` and `lines[i + 1]`. So `lines.length` is
 * `literals.length + 1`.
 */
export interface Response {
  /** The line parts, each without its CRLF. */
  lines: string[];
  /** The literal bytes, exactly as received. */
  literals: Uint8Array[];
}

const LF = 0x0a;
const CR = 0x0d;
const INITIAL_BUFFER = 256 * 1024;
/** The first window of buffered bytes decoded at a time to take one-line responses (takeLine). */
const TEXT_MAX = 1024;
/** The largest window a run of long text lines grows to (see takeLine). */
const TEXT_WINDOW_MAX = 64 * 1024;
/** Literals larger than this are gathered in chunks, so memory follows the bytes received. */
const EXACT_LITERAL_MAX = 8 * 1024 * 1024;
const LITERAL_CHUNK = 1024 * 1024;

const decoder = new TextDecoder("utf-8");

/**
 * Reads complete IMAP responses from a byte source, enforcing {@link ReaderLimits}.
 * Gives the same responses whether bytes arrive whole, line by line or one at a time, in linear
 * time.
 */
export class ResponseReader {
  private _src: ByteSource;
  private _limits: ReaderLimits;
  private _buf: Uint8Array;
  private _start = 0;
  private _end = 0;
  /** `_buf` up to `_end`, kept while those stay the same. */
  private _view: Uint8Array = new Uint8Array(0);
  private _viewOf: Uint8Array | null = null;
  /**
   * A window of the buffered bytes from `_textAt`, decoded at once and decoded to as many
   * characters as bytes (so character and byte offsets agree): every one-line response in it is
   * then a slice (see takeLine). Null once bytes move or arrive.
   */
  private _text: string | null = null;
  private _textAt = 0;
  /** The size of the next window of text to decode (see takeLine). */
  private _window = TEXT_MAX;
  /** Whether the last line the text path saw announced a literal (see takeLine). */
  private _literals = false;
  /** A read of the source that a soft deadline stopped waiting for; reused by the next wait. */
  private _inflight: Promise<number | null> | null = null;
  private _eof = false;
  private readonly _onDeadline: ((error: IMAP4Abort) => void) | undefined;
  /** The error of a wait whose deadline passed (see the constructor's `onDeadline`). */
  private _expired: IMAP4Abort | null = null;
  private readonly _expire = (): void => {
    this._expired = this.#timeoutError();
    this._onDeadline!(this._expired);
  };
  /** The connection's deadlines; shared with whoever writes to the same connection. */
  readonly watchdog: Watchdog = new Watchdog();

  /**
   * Creates a reader.
   *
   * @param src where bytes come from
   * @param limits the limits to enforce (defaults for those not given)
   * @param onDeadline when given, a wait for bytes whose hard deadline passes calls it with the
   *   timeout's error instead of racing the read: the owner must then close the source, so that
   *   the read settles, and the wait throws that error. This spares a promise per wait.
   */
  constructor(
    src: ByteSource,
    limits: Partial<ReaderLimits> = {},
    onDeadline?: (error: IMAP4Abort) => void,
  ) {
    this._src = src;
    this._onDeadline = onDeadline;
    this._limits = { ...DEFAULT_LIMITS, ...limits };
    this._buf = new Uint8Array(Math.min(INITIAL_BUFFER, this._limits.maxLineLength + 2));
  }

  /** How many bytes are buffered beyond the last response returned. */
  get buffered(): number {
    return this._end - this._start;
  }

  /** Whether a source read is still pending (after a soft deadline expired). */
  get reading(): boolean {
    return this._inflight !== null;
  }

  /** The limits in force. */
  get limits(): Readonly<ReaderLimits> {
    return this._limits;
  }

  /**
   * Reads the next complete response.
   *
   * @param wait how long to wait for the response's first byte, in ms (default: the timeout)
   * @param soft when true, running out of `wait` before any byte arrived returns `null` instead
   *   of failing; once a response has begun, its own deadlines apply in full
   * @returns the response, or `null` when a soft wait ran out
   * @throws IMAP4Abort on end of stream, a framing error, a limit breached or a deadline passed
   */
  async readResponse(wait?: number, soft = false): Promise<Response | null> {
    const timeout = this._limits.timeout;
    if (this._start === this._end) {
      const got = await this.#fill(Date.now() + (wait ?? timeout), soft);
      if (!got) return null;
      // Most responses arrive whole. (Bytes buffered before the call were the caller's to take
      // with takeBuffered; here they are parsed once, below.)
      const quick = this.takeBuffered();
      if (quick !== null) return quick;
    }
    const lines: string[] = [];
    const literals: Uint8Array[] = [];
    let total = 0;
    let first = true;
    for (;;) {
      let lineEnd = this.#scanLine(this._start);
      if (lineEnd < 0) lineEnd = await this.#readLineEnd(Date.now() + timeout);
      total += lineEnd - this._start + 2;
      const size = this.#takeLine(lineEnd, first, lines, total);
      first = false;
      if (size < 0) return { lines, literals };
      total += size;
      const deadline = Date.now() + timeout + (size / this._limits.minLiteralRate) * 1000;
      literals.push(await this.#readLiteral(size, deadline));
    }
  }

  /**
   * Waits until more bytes are buffered (hard deadline: the timeout). With
   * {@link takeBuffered}, a caller reads a response that arrives whole with one promise, not
   * three.
   *
   * @returns a promise that settles once bytes have arrived
   * @throws IMAP4Abort on end of stream or timeout
   */
  fill(): Promise<boolean> {
    if (!this.#startGuardedRead()) return this.#fill(Date.now() + this._limits.timeout, false);
    // Once per round trip: a guard and two handlers made once, not an async function.
    return this._inflight!.then(this._filled, this._fillFailed);
  }

  /**
   * Starts the read of {@link fill} and {@link fillThen} with its deadline on the read slot (the
   * owner handles the expiry), when that applies; false when the general #fill must wait instead.
   */
  #startGuardedRead(): boolean {
    const guarded = this._onDeadline !== undefined && !this._eof && this._expired === null &&
      this._fillSlot.settled;
    if (guarded) {
      this.#startRead();
      // Watchdog.start in place when the timer is armed for an earlier deadline (as it is on
      // every round trip but the first): one call fewer.
      const slot = this._fillSlot;
      const deadline = Date.now() + this._limits.timeout;
      if (this.watchdog.armedFor > deadline || deadline === Infinity) {
        this.watchdog.start(slot, deadline);
      } else {
        slot.deadline = deadline;
        slot.settled = false;
      }
    }
    return guarded;
  }

  /**
   * {@link fill} for a caller that continues in a callback: `next` once bytes have arrived,
   * `failed` with the abort otherwise. It spares the promise between this reader and the caller
   * (and so one turn of the microtask queue between the bytes and their reader).
   *
   * @param next called once more bytes are buffered
   * @param failed called instead on end of stream, timeout or a failed read
   */
  fillThen(next: () => void, failed: (e: unknown) => void): void {
    if (this.#startGuardedRead()) {
      this._next = next;
      this._nextFailed = failed;
      this._inflight!.then(this._filledThen, this._fillFailedThen);
    } else this.#fill(Date.now() + this._limits.timeout, false).then(next, failed);
  }

  private _next: () => void = noop;
  private _nextFailed: (e: unknown) => void = noop;
  private readonly _filledThen = (n: number | null): void => {
    try {
      this._filled(n);
    } catch (e) {
      this._nextFailed(e);
      return;
    }
    this._next();
  };
  private readonly _fillFailedThen = (e: unknown): void => {
    try {
      this._fillFailed(e);
    } catch (err) {
      this._nextFailed(err);
    }
  };

  /** The deadline of the wait in {@link fill} and {@link fillThen}, started while there is one. */
  private readonly _fillSlot: Waiter = this.watchdog.slot(this._expire);
  private readonly _filled = (n: number | null): boolean => {
    // Watchdog.stop and, for bytes read, #took in place: two calls fewer a round trip.
    this._fillSlot.settled = true;
    if (this._expired !== null) throw this._expired;
    if (n === null || n === 0) return this.#took(n);
    this._inflight = null;
    this._end += n;
    return true;
  };
  private readonly _fillFailed = (e: unknown): never => {
    this.watchdog.stop(this._fillSlot);
    throw this._expired ?? this._failed(e);
  };

  /**
   * The next response when the buffer already holds all of it, without waiting; otherwise null,
   * and nothing is consumed. Most responses arrive whole: taking them here costs no promise.
   *
   * @returns the response, or null when more bytes are needed
   * @throws IMAP4Abort on a framing error or a limit breached, as {@link readResponse} would
   */
  takeBuffered(): Response | null {
    const line = this.takeLine();
    return line !== null ? { lines: [line], literals: [] } : this.takeResponse();
  }

  /**
   * {@link takeBuffered} by the byte path alone: for a caller whose {@link takeLine} has just
   * refused the response (a literal, multi-byte text), so that its text is not decoded twice.
   *
   * @returns the response, or null when more bytes are needed
   * @throws IMAP4Abort on a framing error or a limit breached, as {@link readResponse} would
   */
  takeResponse(): Response | null {
    const start = this._start;
    if (start === this._end) return null;
    const lines: string[] = [];
    const literals: Uint8Array[] = [];
    let total = 0;
    let first = true;
    for (;;) {
      const lineEnd = this.#scanLine(this._start);
      if (lineEnd < 0) break;
      total += lineEnd - this._start + 2;
      const size = this.#takeLine(lineEnd, first, lines, total);
      first = false;
      if (size < 0) return { lines, literals };
      if (this._end - this._start < size) break;
      total += size;
      literals.push(this.#copyOut(size));
      this._start += size;
    }
    this._start = start;
    return null;
  }

  /**
   * The next response when it is one complete line of text without a literal, as a string;
   * otherwise null, and nothing is consumed ({@link takeBuffered} or {@link readResponse} then
   * read it, with the checks and the errors). Saves a response object per line: most responses
   * are such a line. The bytes are decoded a window at a time ({@link TEXT_MAX}, growing to
   * {@link TEXT_WINDOW_MAX} while text lines run past it), and each window serves every line in
   * it: the two lines of a round trip, a dozen answers to pipelined commands, or some eighty lines
   * of ENVELOPE and BODYSTRUCTURE.
   *
   * @returns the line without its CRLF, or null
   */
  takeLine(): string | null {
    const start = this._start;
    if (start === this._end) return null;
    // After a line that announced a literal (a bulk FETCH, answer after answer), the bytes are
    // looked at first: a window decoded now would be mostly the next literal's, for nothing.
    if (this._literals) {
      const lf = this.#buffered().indexOf(LF, start);
      if (lf < 0 || (lf - start >= 2 && this._buf[lf - 2] === 0x7d)) return null;
    }
    let text = this._text;
    let at = start - this._textAt;
    let lf = text === null || at < 0 ? -1 : text.indexOf("\n", at);
    let max = this._window;
    // Text lines that keep running past the window (a long answer of text, such as FETCH of
    // ENVELOPE and BODYSTRUCTURE): each next window twice as large, up to TEXT_WINDOW_MAX, so
    // that one decoding serves many lines rather than one. (Reset by a literal or non-ASCII.)
    if (lf < 0 && text !== null && at >= 0 && at <= text.length && max < TEXT_WINDOW_MAX) {
      this._window = max *= 2;
    }
    const first = max;
    // A line longer than the window gets one four times as large, and so on, up to what is
    // buffered: decoded whole rather than left to the byte path.
    for (; lf < 0 || text === null; max *= 4) {
      const end = Math.min(this._end, start + max);
      // The last window held more than the longest line allowed: the byte path has the error.
      if (max > first && max / 4 > this._limits.maxLineLength + 2) return null;
      // Decoded already up to `end`, with no line end after `start`: more bytes are needed
      // first, or a larger window.
      if (text !== null && at >= 0 && this._textAt + text.length >= end) {
        if (end === this._end) return null;
        continue;
      }
      // By the runtime's decoder: fewer instructions in every tier than turning the bytes into
      // characters by String.fromCharCode.apply and checking them for non-ASCII by a regular
      // expression (4,000 a round trip fewer once optimised, 6,000 over the first 300), and no
      // slower in place against Dovecot (3.2-3.6 µs against 3.5-3.7 µs a window).
      text = decoder.decode(this._buf.subarray(start, end));
      // Fewer characters than bytes: multi-byte text, whose offsets differ (the byte path).
      if (text.length !== end - start) {
        this._text = null;
        this._window = TEXT_MAX;
        return null;
      }
      this._text = text;
      this._textAt = start;
      at = 0;
      lf = text.indexOf("\n");
    }
    // Incomplete, empty, not ended by CRLF, over a limit or maybe announcing a literal: all for
    // the byte path, which has the checks and the errors.
    const literal = lf >= at + 2 && text.charCodeAt(lf - 2) === 0x7d;
    if (literal || lf < at + 2 || text.charCodeAt(lf - 1) !== CR) {
      this._window = TEXT_MAX;
      this._literals = literal;
      return null;
    }
    if (lf - 1 - at > this._limits.maxLineLength || lf + 1 - at > this._limits.maxResponseSize) {
      return null;
    }
    this._start = start + (lf + 1 - at);
    this._literals = false;
    return text.slice(at, lf - 1);
  }

  /**
   * Decodes the line from `_start` to `lineEnd` (its CR) into `lines` and moves past its CRLF.
   * `total` is the response's size up to and including this line.
   *
   * @returns the size of the literal the line announces, or -1
   */
  #takeLine(lineEnd: number, first: boolean, lines: string[], total: number): number {
    const lineStart = this._start;
    lines.push(decoder.decode(this._buf.subarray(lineStart, lineEnd)));
    this._start = lineEnd + 2;
    // Only untagged responses (and the parts after a literal) carry literals: tagged and
    // continuation lines never do, as imaplib assumes too.
    const size = first && !isUntagged(this._buf, lineStart, lineEnd)
      ? -1
      : literalSize(this._buf, lineStart, lineEnd, this._limits.maxLiteralSize);
    if (total + Math.max(size, 0) > this._limits.maxResponseSize) {
      throw this.#abort(
        `Response exceeds the limit of ${this._limits.maxResponseSize} bytes`,
        this._buf.subarray(lineStart, lineEnd),
      );
    }
    return size;
  }

  /**
   * Reads exactly `n` bytes (imaplib's `read(size)`), from the buffer first.
   *
   * @param n how many bytes
   * @returns the bytes
   * @throws IMAP4Abort on end of stream or timeout
   */
  async readExactly(n: number): Promise<Uint8Array> {
    const deadline = Date.now() + this._limits.timeout + (n / this._limits.minLiteralRate) * 1000;
    // A read left in flight by a soft wait must land first: no byte may be skipped.
    if (this._inflight !== null) await this.#fill(deadline, false);
    return await this.#readLiteral(n, deadline);
  }

  /**
   * Reads one line including its CRLF (imaplib's `readline()`).
   *
   * @returns the line's bytes
   * @throws IMAP4Abort on end of stream, timeout or a line over the limit
   */
  async readLine(): Promise<Uint8Array> {
    const end = await this.#readLineEnd(Date.now() + this._limits.timeout);
    const line = this._buf.slice(this._start, end + 2);
    this._start = end + 2;
    return line;
  }

  /** Finds the end of the next line (the index of its CR), reading as needed. */
  async #readLineEnd(deadline: number): Promise<number> {
    let scanFrom = this._start;
    for (;;) {
      const lineEnd = this.#scanLine(scanFrom);
      if (lineEnd >= 0) return lineEnd;
      const scanned = this._end - this._start;
      await this.#fill(deadline, false);
      scanFrom = this._start + scanned;
    }
  }

  /**
   * The buffered bytes, `_buf` up to `_end`: one view serves every line of a read (a view per
   * line cost more than the search).
   */
  #buffered(): Uint8Array {
    let view = this._view;
    if (view.length !== this._end || this._viewOf !== this._buf) {
      view = this._view = this._buf.subarray(0, this._end);
      this._viewOf = this._buf;
    }
    return view;
  }

  /**
   * The end (the CR's index) of the line starting at `_start`, searching the buffer from
   * `scanFrom`; -1 when the buffer holds no complete line yet.
   *
   * @throws IMAP4Abort for a line not ended by CRLF or over the limit
   */
  #scanLine(scanFrom: number): number {
    const lf = this.#buffered().indexOf(LF, scanFrom);
    if (lf !== -1) {
      if (lf === this._start || this._buf[lf - 1] !== CR) {
        throw this.#abort(
          "Cannot parse response: line not terminated by CRLF",
          this._buf.subarray(this._start, lf + 1),
        );
      }
      if (lf - 1 - this._start > this._limits.maxLineLength) throw this.#lineTooLong();
      return lf - 1;
    }
    if (this._end - this._start > this._limits.maxLineLength + 1) throw this.#lineTooLong();
    return -1;
  }

  async #readLiteral(size: number, deadline: number): Promise<Uint8Array> {
    this._text = null;
    const have = this._end - this._start;
    // The deadline rolls with the bytes received (timeout + received / minLiteralRate), never
    // with the size announced: a silent or trickling peer is cut off after about `timeout`.
    const t0 = Date.now();
    const rate = this._limits.minLiteralRate;
    const until = (got: number) =>
      Math.min(deadline, t0 + this._limits.timeout + ((got - have) / rate) * 1000);
    if (size <= this._buf.length / 2) {
      // A small literal is gathered in the read buffer: reads stay large (one per buffer, not two
      // per message) and the bytes are copied once, by the slice.
      if (this._buf.length - this._start < size) {
        this._buf.copyWithin(0, this._start, this._end);
        this._end -= this._start;
        this._start = 0;
      }
      while (this._end - this._start < size) {
        this._end += await this.#readInto(
          this._buf.subarray(this._end),
          until(this._end - this._start),
        );
      }
      const lit = this.#copyOut(size);
      this._start += size;
      return lit;
    }
    if (have >= size) {
      const lit = this._buf.slice(this._start, this._start + size);
      this._start += size;
      return lit;
    }
    if (size <= EXACT_LITERAL_MAX) {
      const lit = new Uint8Array(size);
      lit.set(this._buf.subarray(this._start, this._end));
      this._start = this._end = 0;
      let off = have;
      while (off < size) off += await this.#readInto(lit.subarray(off), until(off));
      return lit;
    }
    // A large literal is gathered chunk by chunk: an announced size costs nothing until the
    // bytes arrive.
    const chunks: Uint8Array[] = [this._buf.slice(this._start, this._end)];
    this._start = this._end = 0;
    let got = have;
    while (got < size) {
      const chunk = new Uint8Array(Math.min(LITERAL_CHUNK, size - got));
      let off = 0;
      while (off < chunk.length) {
        off += await this.#readInto(chunk.subarray(off), until(got + off));
      }
      chunks.push(chunk);
      got += chunk.length;
    }
    const lit = new Uint8Array(size);
    let pos = 0;
    for (const c of chunks) {
      lit.set(c, pos);
      pos += c.length;
    }
    return lit;
  }

  /** A copy of the next `size` buffered bytes (small ones carved from a shared slab). */
  #copyOut(size: number): Uint8Array {
    if (size > POOLED_BYTES_MAX) return this._buf.slice(this._start, this._start + size);
    const out = pooledBytes(size);
    out.set(this._buf.subarray(this._start, this._start + size));
    return out;
  }

  /** Reads from the source straight into `dst` (used for literals), hard deadline. */
  async #readInto(dst: Uint8Array, deadline: number): Promise<number> {
    this._text = null;
    const n = await this.#race(this._src.read(dst), deadline);
    if (n === TIMED_OUT) throw this.#abort("Timed out reading a literal from the server");
    if (n === null || n === 0) {
      this._eof = true;
      throw this.#abort("Connection closed by the server in the middle of a literal");
    }
    return n;
  }

  /**
   * Reads more bytes into the buffer. Returns false when a soft deadline ran out (the read stays
   * in flight and is picked up by the next call).
   */
  async #fill(deadline: number, soft: boolean): Promise<boolean> {
    if (this._eof) throw this.#abort("Connection closed by the server");
    this.#startRead();
    let n: number | null | typeof TIMED_OUT;
    if (this._expired !== null) throw this._expired;
    if (soft || this._onDeadline === undefined) {
      // A read abandoned by a failed connection must not surface as an unhandled rejection.
      this._inflight!.catch(() => {});
      n = await this.#race(this._inflight!, deadline);
      if (n === TIMED_OUT) {
        if (soft) return false;
        throw this.#timeoutError();
      }
    } else {
      const guard = this.watchdog.guard(deadline, this._expire);
      try {
        n = await this._inflight!;
      } catch (e) {
        throw this._expired ?? this._failed(e);
      } finally {
        this.watchdog.release(guard);
      }
      if (this._expired !== null) throw this._expired;
    }
    return this.#took(n);
  }

  /** Makes room in the buffer and starts a read of the source, unless one is under way. */
  #startRead(): void {
    this._text = null;
    if (this._inflight === null) {
      if (this._start === this._end) {
        this._start = this._end = 0;
      } else if (this._end === this._buf.length) {
        const used = this._end - this._start;
        if (this._start > 0 && used <= this._buf.length / 2) {
          this._buf.copyWithin(0, this._start, this._end);
        } else {
          const size = Math.min(this._buf.length * 2, this._limits.maxLineLength + 2 + 64);
          const next = new Uint8Array(Math.max(size, used + 1));
          next.set(this._buf.subarray(this._start, this._end));
          this._buf = next;
        }
        this._end = used;
        this._start = 0;
      }
      // An empty buffer is read into whole: no view to make.
      this._inflight = this._src.read(
        this._end === 0 ? this._buf : this._buf.subarray(this._end),
      );
    }
  }

  /** Takes the `n` bytes a read brought; end of stream is an abort. */
  #took(n: number | null): boolean {
    this._inflight = null;
    if (n === null || n === 0) {
      this._eof = true;
      throw this.#abort(
        this._start === this._end
          ? "Connection closed by the server"
          : "Connection closed by the server in the middle of a response line",
        this._buf.subarray(this._start, this._end),
      );
    }
    this._end += n;
    return true;
  }

  #timeoutError(): IMAP4Abort {
    return this.#abort(
      this._start === this._end
        ? "Timed out waiting for the server"
        : "Timed out waiting for the rest of a response line",
      this._buf.subarray(this._start, this._end),
    );
  }

  #race<T>(p: Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
    return this.watchdog.race(p, deadline, this._failed);
  }

  /** Turns a failed read into the abort to throw (one function for every read). */
  private readonly _failed = (e: unknown): IMAP4Abort =>
    this.#abort(`Connection failed: ${e instanceof Error ? e.message : String(e)}`);

  /** Stops the watchdog; call when the connection is done with. */
  dispose(): void {
    this.watchdog.dispose();
  }

  #lineTooLong(): IMAP4Abort {
    return this.#abort(
      `Response line exceeds the limit of ${this._limits.maxLineLength} bytes`,
      this._buf.subarray(this._start, Math.min(this._end, this._start + 200)),
    );
  }

  #abort(message: string, offending?: Uint8Array): IMAP4Abort {
    const detail = offending && offending.length > 0 ? `: ${quoteBytes(offending)}` : "";
    return new IMAP4Abort(message + detail, offending ? { offending } : {});
  }
}

/** Does nothing (a callback's placeholder). */
function noop(): void {}

/** Whether the line at [start, end) is untagged (`* ...`). */
function isUntagged(buf: Uint8Array, start: number, end: number): boolean {
  return end - start >= 2 && buf[start] === 0x2a && buf[start + 1] === 0x20;
}

/**
 * The size of the literal announced at the end of the line [start, end) as `{n}`, or -1 when
 * the line announces none.
 *
 * @throws IMAP4Abort when the size is absurd or over the limit
 */
function literalSize(buf: Uint8Array, start: number, end: number, max: number): number {
  if (end - start < 3 || buf[end - 1] !== 0x7d) return -1;
  let i = end - 2;
  while (i >= start && buf[i] >= 0x30 && buf[i] <= 0x39) i--;
  const digits = end - 2 - i;
  if (digits === 0 || i < start || buf[i] !== 0x7b) return -1;
  if (digits > 12) {
    throw new IMAP4Abort(
      `Literal size has too many digits: ${quoteBytes(buf.subarray(i, end))}`,
      { offending: buf.subarray(i, end) },
    );
  }
  let n = 0;
  for (let j = i + 1; j < end - 1; j++) n = n * 10 + (buf[j] - 0x30);
  if (n > max) {
    throw new IMAP4Abort(
      `Literal of ${n} bytes exceeds the limit of ${max} bytes`,
      { offending: buf.subarray(Math.max(start, end - 200), end) },
    );
  }
  return n;
}
