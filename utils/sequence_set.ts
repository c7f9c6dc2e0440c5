/**
 * IMAP sequence sets (RFC 3501 §9 `sequence-set`, unchanged in RFC 9051), parsed into ranges and
 * never expanded into lists of numbers, so `1:4294967295` costs what `1` costs.
 *
 * @module
 */

/**
 * The largest message number or UID, 2^32 - 1 (RFC 3501 `nz-number`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSequenceSet, MAX_SEQ_NUMBER } from "./sequence_set.ts";
 * assert.equal(isSequenceSet(`1:${MAX_SEQ_NUMBER}`), true);
 * assert.equal(isSequenceSet(`${MAX_SEQ_NUMBER + 1}`), false);
 * ```
 */
export const MAX_SEQ_NUMBER = 4_294_967_295;

/**
 * One element of a sequence set: a message number or UID from 1 to 2^32 - 1, or `"*"` for the
 * largest one in use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSequenceSet, type SeqNumber } from "./sequence_set.ts";
 * const bounds: SeqNumber[] = [1, "*"];
 * assert.equal(formatSequenceSet([{ start: bounds[0], end: bounds[1] }]), "1:*");
 * ```
 */
export type SeqNumber = number | "*";

/**
 * One comma-separated item of a sequence set: a single number when `end` is absent, otherwise the
 * range `start:end` as written (`5:2` is kept as it is; it means the same as `2:5`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSequenceSet, type SequenceRange } from "./sequence_set.ts";
 * const range: SequenceRange = { start: 5, end: 2 };
 * assert.deepEqual(parseSequenceSet("5:2"), [range]);
 * ```
 */
export interface SequenceRange {
  /** The first number as written. */
  readonly start: SeqNumber;
  /** The second number of a range; absent for a single number. */
  readonly end?: SeqNumber;
}

/**
 * A sequence set: its items in the order written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSequenceSet, type SequenceSet } from "./sequence_set.ts";
 * const set: SequenceSet = [{ start: 1, end: 3 }, { start: 9 }];
 * assert.equal(formatSequenceSet(set), "1:3,9");
 * ```
 */
export type SequenceSet = readonly SequenceRange[];

/** Why a string is not a sequence set, or `undefined` with the ranges pushed onto `out`. */
function scan(s: string, out: SequenceRange[] | null): string | undefined {
  if (s.length === 0) return "it is empty";
  let i = 0;
  let why: string | undefined;
  const number = (): SeqNumber | undefined => {
    if (s.charCodeAt(i) === 0x2a) {
      i++;
      return "*";
    }
    const first = s.charCodeAt(i);
    if (!(first >= 0x31 && first <= 0x39)) {
      why = `expected a number from 1 or "*" at offset ${i}`;
      return undefined;
    }
    const begin = i;
    let value = 0;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      value = value * 10 + (c - 0x30);
      // Stop at once, so a long run of digits costs no more than eleven.
      if (value > MAX_SEQ_NUMBER) {
        why = `number at offset ${begin} exceeds ${MAX_SEQ_NUMBER}`;
        return undefined;
      }
      i++;
    }
    return value;
  };
  for (;;) {
    const start = number();
    if (start === undefined) return why;
    let end: SeqNumber | undefined;
    if (s.charCodeAt(i) === 0x3a) {
      i++;
      end = number();
      if (end === undefined) return why;
    }
    out?.push(end === undefined ? { start } : { start, end });
    if (i === s.length) return undefined;
    if (s.charCodeAt(i) !== 0x2c) return `expected "," or ":" at offset ${i}`;
    i++;
  }
}

function quoted(s: string): string {
  return JSON.stringify(s.length > 60 ? s.slice(0, 60) + "..." : s);
}

/**
 * Parses an IMAP sequence set such as `1:4,7,10:*` into its ranges, in linear time.
 *
 * @param s the sequence set text
 * @returns the items in the order written
 * @throws {TypeError} if `s` is not a sequence set: empty, a stray character, a zero, a leading
 *   zero, a number above 2^32 - 1, or a misplaced `,` or `:`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSequenceSet } from "./sequence_set.ts";
 * assert.deepEqual(parseSequenceSet("1:4,7,10:*"), [
 *   { start: 1, end: 4 },
 *   { start: 7 },
 *   { start: 10, end: "*" },
 * ]);
 * assert.throws(() => parseSequenceSet("1,,2"), TypeError);
 * ```
 */
export function parseSequenceSet(s: string): SequenceRange[] {
  const out: SequenceRange[] = [];
  const why = scan(s, out);
  if (why !== undefined) throw new TypeError(`Sequence set ${quoted(s)} is invalid: ${why}`);
  return out;
}

/**
 * Tells whether a string is a valid IMAP sequence set, in linear time.
 *
 * @param s the text to check
 * @returns `true` if {@link parseSequenceSet} would accept it
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSequenceSet } from "./sequence_set.ts";
 * assert.equal(isSequenceSet("2,4:7,9,12:*"), true);
 * assert.equal(isSequenceSet("0:3"), false);
 * ```
 */
export function isSequenceSet(s: string): boolean {
  return typeof s === "string" && scan(s, null) === undefined;
}

function formatNumber(n: unknown, where: number): string {
  if (n === "*") return "*";
  if (typeof n !== "number") {
    throw new TypeError(`Sequence range ${where} has a bound that is not a number or "*"`);
  }
  if (!Number.isInteger(n) || n < 1 || n > MAX_SEQ_NUMBER) {
    throw new RangeError(`Sequence number "${n}" is not an integer from 1 to ${MAX_SEQ_NUMBER}`);
  }
  return String(n);
}

/**
 * Writes ranges as IMAP sequence set text; `formatSequenceSet(parseSequenceSet(s)) === s` for
 * every valid `s`.
 *
 * @param ranges the items, at least one
 * @returns the sequence set text
 * @throws {TypeError} if `ranges` is empty or a bound is neither a number nor `"*"`
 * @throws {RangeError} if a number is not an integer from 1 to 2^32 - 1
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatSequenceSet } from "./sequence_set.ts";
 * const text = formatSequenceSet([{ start: 1, end: 4 }, { start: 7 }, { start: 10, end: "*" }]);
 * assert.equal(text, "1:4,7,10:*");
 * ```
 */
export function formatSequenceSet(ranges: SequenceSet): string {
  if (ranges.length === 0) throw new TypeError("Sequence set must have at least one range");
  const parts: string[] = [];
  for (let k = 0; k < ranges.length; k++) {
    const { start, end } = ranges[k];
    const first = formatNumber(start, k);
    parts.push(end === undefined ? first : `${first}:${formatNumber(end, k)}`);
  }
  return parts.join(",");
}
