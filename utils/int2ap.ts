/**
 * imaplib's `Int2AP` (numbers written with the letters A to P) and its random tag prefix.
 *
 * @module
 */

const AP = "ABCDEFGHIJKLMNOP";

/**
 * Writes the absolute value of a number in base 16 with the digits `A` to `P`, as imaplib's
 * `Int2AP`; a fractional number is truncated first, and 0 gives the empty string as in CPython.
 *
 * @param num the number; a `bigint` keeps every digit of values beyond 2^53
 * @returns the letters, most significant first
 * @throws {RangeError} if `num` is `NaN` or infinite (CPython raises ValueError or OverflowError)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Int2AP } from "./int2ap.ts";
 * assert.equal(Int2AP(4096), "BAAA");
 * assert.equal(Int2AP(-17), "BB");
 * assert.equal(Int2AP(2n ** 64n), "BAAAAAAAAAAAAAAAA");
 * assert.equal(Int2AP(0), "");
 * ```
 */
export function Int2AP(num: number | bigint): string {
  let n: bigint;
  if (typeof num === "bigint") {
    n = num < 0n ? -num : num;
  } else {
    if (!Number.isFinite(num)) throw new RangeError(`Number "${num}" is not finite`);
    // BigInt of a double is exact, as Python's int(float) is.
    n = BigInt(Math.trunc(Math.abs(num)));
  }
  let out = "";
  while (n > 0n) {
    out = AP[Number(n & 15n)] + out;
    n >>= 4n;
  }
  return out;
}

/**
 * Makes a random command tag prefix as imaplib does, `Int2AP(random.randint(4096, 65535))`: four
 * letters from A to P whose first is not A. Randomness comes from `crypto.getRandomValues`.
 *
 * @returns the four-letter prefix
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randomTagPrefix } from "./int2ap.ts";
 * assert.match(randomTagPrefix(), /^[B-P][A-P]{3}$/);
 * ```
 */
export function randomTagPrefix(): string {
  const draw = new Uint16Array(1);
  // Rejection keeps the draw uniform over 4096..65535, like random.randint.
  do crypto.getRandomValues(draw); while (draw[0] < 4096);
  return Int2AP(draw[0]);
}
