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
  const out = smallBytes(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Arrays up to this size are carved from a shared slab (see {@link smallBytes}). */
export const SMALL_BYTES_MAX = 4096;
const SLAB_SIZE = 64 * 1024;
let slab = new ArrayBuffer(SLAB_SIZE);
let slabUsed = 0;

/**
 * A zero-filled array of `n` bytes. Deno gives every new `Uint8Array` its own backing store, which
 * costs about a microsecond however small it is, a good part of a round trip's budget; a view into
 * a shared 64 KiB slab costs a twentieth of that. Small arrays are therefore carved from a slab
 * that is never reused (a slab lives while any of its views does, as Node's pooled Buffers do);
 * larger ones are allocated on their own.
 *
 * @param n how many bytes
 * @returns a new array of `n` zero bytes, not shared with any other array returned
 * @example
 * ```ts
 * import { smallBytes } from "./bytes.ts";
 * const a = smallBytes(3);
 * a.set([1, 2, 3]);
 * console.assert(a.length === 3 && smallBytes(3)[0] === 0);
 * ```
 */
export function smallBytes(n: number): Uint8Array<ArrayBuffer> {
  if (n > SMALL_BYTES_MAX) return new Uint8Array(n);
  if (SLAB_SIZE - slabUsed < n) {
    slab = new ArrayBuffer(SLAB_SIZE);
    slabUsed = 0;
  }
  const out = new Uint8Array(slab, slabUsed, n);
  // Keep views 8-byte aligned, as separate allocations would be.
  slabUsed += (n + 7) & ~7;
  return out;
}
