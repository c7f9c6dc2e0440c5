/**
 * Pure helpers of imaplib, ported: {@link Int2AP}, {@link ParseFlags}, {@link Internaldate2tuple},
 * {@link Time2Internaldate}, plus the modified UTF-7 of mailbox names and IMAP sequence sets.
 * They touch no runtime API beyond `Date` and `crypto.getRandomValues`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMailboxName, Int2AP, ParseFlags, parseSequenceSet } from "./mod.ts";
 * assert.equal(Int2AP(42), "CK");
 * assert.deepEqual(ParseFlags("1 (FLAGS (\\Seen \\Recent))"), ["\\Seen", "\\Recent"]);
 * assert.equal(encodeMailboxName("Entwürfe"), "Entw&APw-rfe");
 * assert.deepEqual(parseSequenceSet("1:*"), [{ start: 1, end: "*" }]);
 * ```
 *
 * @module
 */

export { Int2AP, randomTagPrefix } from "./int2ap.ts";
export { ParseFlags } from "./flags.ts";
export {
  fixedOffsetZone,
  Internaldate2tuple,
  internaldateToDate,
  localZone,
  Time2Internaldate,
  type TimeTuple,
  type Zone,
} from "./internaldate.ts";
export { decodeMailboxName, encodeMailboxName } from "./utf7.ts";
export {
  formatSequenceSet,
  isSequenceSet,
  MAX_SEQ_NUMBER,
  parseSequenceSet,
  type SeqNumber,
  type SequenceRange,
  type SequenceSet,
} from "./sequence_set.ts";
