/**
 * A scripted {@link ByteSource} for the reader tests: it hands out a fixed byte stream in chosen
 * chunk sizes, optionally after a delay per read, then ends with EOF, silence or an error, and
 * records every read it was asked for.
 *
 * @module
 */

import type { ByteSource } from "../../lib/wire/reader.ts";
import { concatBytes } from "../../utils/bytes.ts";

/** How a {@link ScriptedSource} behaves once its bytes are all delivered. */
export type SourceEnd = "eof" | "silence" | "error";

/** How a {@link ScriptedSource} delivers its bytes. */
export interface ScriptOptions {
  /**
   * The size of each read's chunk, in order (each still capped by the caller's buffer). When the
   * list runs out it starts again if `cycle`, otherwise the rest goes as large as the buffer allows.
   * Default: as large as the buffer allows.
   */
  sizes?: readonly number[];
  /** Whether `sizes` repeats. Default true. */
  cycle?: boolean;
  /**
   * The delay before each read resolves, in ms: one number for every read, or a function of the
   * read's index (0-based). Default 0: resolve at once, with no timer.
   */
  delay?: number | ((read: number) => number);
  /** What happens after the last byte: EOF (`null`), a read that never settles, or a rejection. */
  end?: SourceEnd;
}

/** One read the source was asked for. */
export interface ReadRecord {
  /** How many bytes the caller had room for. */
  room: number;
  /** How many bytes were given (0 for EOF, silence or error). */
  given: number;
}

const encoder = new TextEncoder();

/**
 * A byte source that plays a script. It rejects a read issued while another is still pending, so
 * a reader that forgets an in-flight read is caught. `close()` settles a pending read with `null`
 * and clears any delay timer, so tests leak nothing.
 */
export class ScriptedSource implements ByteSource {
  /** Every read asked for, in order. */
  readonly log: ReadRecord[] = [];
  /** How many reads were issued while another was still pending. */
  concurrent = 0;
  #data: Uint8Array;
  #offset = 0;
  #options: ScriptOptions;
  #sizeIndex = 0;
  #pending = false;
  #closed = false;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #wakers = new Set<() => void>();

  /**
   * Creates the source.
   *
   * @param data the bytes to deliver (a string is UTF-8 encoded)
   * @param options chunking, delays and the end
   */
  constructor(data: Uint8Array | string, options: ScriptOptions = {}) {
    this.#data = typeof data === "string" ? encoder.encode(data) : data;
    this.#options = options;
  }

  /** How many bytes have been delivered so far. */
  get delivered(): number {
    return this.#offset;
  }

  /** How many reads were asked for. */
  get reads(): number {
    return this.log.length;
  }

  /** How many bytes are still to deliver. */
  get remaining(): number {
    return this.#data.length - this.#offset;
  }

  /**
   * Reads the next chunk of the script into `buf`.
   *
   * @param buf where to put the bytes
   * @returns the number of bytes given, or `null` at the end (when the end is EOF)
   */
  async read(buf: Uint8Array): Promise<number | null> {
    const record: ReadRecord = { room: buf.length, given: 0 };
    this.log.push(record);
    if (this.#pending) {
      this.concurrent++;
      throw new Error("ScriptedSource: read issued while another read was pending");
    }
    this.#pending = true;
    try {
      const index = this.log.length - 1;
      const d = this.#options.delay;
      const ms = typeof d === "function" ? d(index) : d ?? 0;
      if (ms > 0) await this.#sleep(ms);
      if (this.#closed) return null;
      if (this.#offset >= this.#data.length) return await this.#finish();
      const n = Math.min(this.#nextSize(), buf.length, this.#data.length - this.#offset);
      buf.set(this.#data.subarray(this.#offset, this.#offset + n));
      this.#offset += n;
      record.given = n;
      return n;
    } finally {
      this.#pending = false;
    }
  }

  /** Settles a pending read with `null` and clears every timer; later reads give `null`. */
  close(): void {
    this.#closed = true;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const wake of this.#wakers) wake();
    this.#wakers.clear();
  }

  #nextSize(): number {
    const sizes = this.#options.sizes;
    if (sizes === undefined || sizes.length === 0) return Infinity;
    if (this.#sizeIndex >= sizes.length) {
      if (this.#options.cycle === false) return Infinity;
      this.#sizeIndex = 0;
    }
    return Math.max(1, sizes[this.#sizeIndex++]);
  }

  async #finish(): Promise<number | null> {
    const end = this.#options.end ?? "eof";
    if (end === "eof") return null;
    if (end === "error") throw new Error("ScriptedSource: connection reset");
    // Silence: wait until closed. An open, silent socket keeps the process alive; so does this.
    await new Promise<void>((resolve) => {
      const hold = setInterval(() => {}, 60_000);
      this.#timers.add(hold);
      this.#wakers.add(() => {
        clearInterval(hold);
        this.#timers.delete(hold);
        resolve();
      });
    });
    return null;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#timers.delete(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#timers.add(timer);
      this.#wakers.add(wake);
    });
  }
}

/**
 * Concatenates byte arrays and strings (strings UTF-8 encoded).
 *
 * @param parts the pieces
 * @returns one array holding them in order
 */
export function bytes(...parts: (Uint8Array | string)[]): Uint8Array {
  return concatBytes(parts.map((p) => typeof p === "string" ? encoder.encode(p) : p));
}
