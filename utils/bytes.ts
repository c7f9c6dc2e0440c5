/**
 * Byte helpers shared by the client, the harness and the benchmarks.
 *
 * @module
 */

/**
 * Joins byte arrays into one (a single copy; the array itself when there is only one).
 *
 * @param parts the pieces, in order
 * @returns one array holding them in order
 * @example
 * ```ts
 * import { concatBytes } from "./bytes.ts";
 * const all = concatBytes([new Uint8Array([1, 2]), new Uint8Array([3])]);
 * console.assert(all.length === 3 && all[2] === 3);
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  if (parts.length === 1 && parts[0].buffer instanceof ArrayBuffer) {
    return parts[0] as Uint8Array<ArrayBuffer>;
  }
  let size = 0;
  for (const p of parts) size += p.length;
  const out = pooledBytes(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Bytes as text of one character per byte (Latin-1), so that positions in the text are
 * positions in the bytes.
 *
 * @param bytes the bytes
 * @returns the text, as long as `bytes`
 * @example
 * ```ts
 * import { latin1 } from "./bytes.ts";
 * console.assert(latin1(new Uint8Array([0x41, 0xe9])) === "A\u00e9");
 * ```
 */
export function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return text;
}

/**
 * Text of one character per byte back as bytes: the inverse of {@link latin1} (characters past
 * U+00FF keep only their low byte).
 *
 * @param text the text
 * @returns its bytes, one per character
 * @example
 * ```ts
 * import { fromLatin1 } from "./bytes.ts";
 * console.assert(fromLatin1("A\u00e9")[1] === 0xe9);
 * ```
 */
export function fromLatin1(text: string): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/**
 * Bytes as base64.
 *
 * @param bytes the bytes
 * @returns their base64 text, padded
 * @example
 * ```ts
 * import { toBase64 } from "./bytes.ts";
 * console.assert(toBase64(new Uint8Array([0xff])) === "/w==");
 * ```
 */
export function toBase64(bytes: Uint8Array): string {
  return btoa(latin1(bytes));
}

/**
 * Whether a character or byte code is an ASCII digit.
 *
 * @param c the code
 * @returns true for `0` to `9`
 */
export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Arrays up to this size are carved from shared slabs (see {@link pooledBytes}). */
export const POOLED_BYTES_MAX = 32 * 1024;

/** Bump allocation of views into slabs that are never reused. */
class Slab {
  readonly #size: number;
  #buffer: ArrayBuffer;
  #used = 0;

  constructor(size: number) {
    this.#size = size;
    this.#buffer = new ArrayBuffer(size);
  }

  take(n: number): Uint8Array<ArrayBuffer> {
    if (this.#size - this.#used < n) {
      this.#buffer = new ArrayBuffer(this.#size);
      this.#used = 0;
    }
    const out = new Uint8Array(this.#buffer, this.#used, n);
    // Keep views 8-byte aligned, as separate allocations would be.
    this.#used += (n + 7) & ~7;
    return out;
  }
}

/** Up to 4 KiB (command lines, small literals): 64 KiB slabs. */
const small = new Slab(64 * 1024);
/** Up to 32 KiB (typical messages): 256 KiB slabs, so one holds at least eight. */
const medium = new Slab(256 * 1024);

/**
 * A zero-filled array of `n` bytes. Deno gives every new `Uint8Array` its own backing store, which
 * costs about a microsecond even for 13 bytes and about 4 µs for 20 KB, a good part of a round
 * trip's or a message's budget; a view into a shared slab costs a twentieth of that. Arrays up to
 * 4 KiB are therefore carved from 64 KiB slabs and those up to 32 KiB from 256 KiB slabs, never
 * reused (a slab lives while any of its views does, as Node's pooled Buffers do); larger ones are
 * allocated on their own.
 *
 * @param n how many bytes
 * @returns a new array of `n` zero bytes, not shared with any other array returned
 * @example
 * ```ts
 * import { pooledBytes } from "./bytes.ts";
 * const a = pooledBytes(3);
 * a.set([1, 2, 3]);
 * console.assert(a.length === 3 && pooledBytes(3)[0] === 0);
 * ```
 */
export function pooledBytes(n: number): Uint8Array<ArrayBuffer> {
  if (n <= 4096) return small.take(n);
  if (n <= POOLED_BYTES_MAX) return medium.take(n);
  return new Uint8Array(n);
}
