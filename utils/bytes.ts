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
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
