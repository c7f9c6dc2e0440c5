import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- deno.json has no import map entry for fast-check yet
import fc from "npm:fast-check@4";
import {
  formatSequenceSet,
  isSequenceSet,
  MAX_SEQ_NUMBER,
  parseSequenceSet,
  type SequenceRange,
} from "../../utils/sequence_set.ts";

Deno.test("parseSequenceSet keeps ranges as written, without expanding them", () => {
  assert.deepEqual(parseSequenceSet("1:4294967295"), [{ start: 1, end: MAX_SEQ_NUMBER }]);
  assert.deepEqual(parseSequenceSet("5:2,*,*:3,9"), [
    { start: 5, end: 2 },
    { start: "*" },
    { start: "*", end: 3 },
    { start: 9 },
  ]);
});

Deno.test("parseSequenceSet rejects what RFC 3501 does not allow", () => {
  const bad = [
    "",
    "0",
    "01",
    "1:0",
    "4294967296",
    "99999999999999999999",
    "1,",
    ",1",
    "1,,2",
    "1::2",
    "1:2:3",
    "1 2",
    " 1",
    "1-3",
    "*1",
    "1*",
    "$",
    "+1",
    "1.0",
    "１",
  ];
  for (const s of bad) {
    assert.equal(isSequenceSet(s), false, s);
    assert.throws(() => parseSequenceSet(s), TypeError, s);
  }
  assert.throws(() => parseSequenceSet("1,x"), /Sequence set "1,x" is invalid: .* offset 2/);
});

const seqNumber = fc.oneof(fc.integer({ min: 1, max: MAX_SEQ_NUMBER }), fc.constant("*" as const));
const range = fc.record({ start: seqNumber, end: fc.option(seqNumber, { nil: undefined }) })
  .map((r): SequenceRange =>
    r.end === undefined ? { start: r.start } : { start: r.start, end: r.end }
  );

Deno.test("formatSequenceSet and parseSequenceSet are inverses", () => {
  fc.assert(
    fc.property(fc.array(range, { minLength: 1, maxLength: 12 }), (ranges) => {
      const text = formatSequenceSet(ranges);
      assert.equal(isSequenceSet(text), true);
      assert.deepEqual(parseSequenceSet(text), ranges);
      assert.equal(formatSequenceSet(parseSequenceSet(text)), text);
    }),
    { numRuns: 3000, seed: 42 },
  );
});

Deno.test("isSequenceSet agrees with the RFC grammar on random strings", () => {
  const nz = "(?:[1-9][0-9]*|\\*)";
  const grammar = new RegExp(`^${nz}(?::${nz})?(?:,${nz}(?::${nz})?)*$`);
  const inRange = (s: string) =>
    s.split(/[,:]/).every((n) => n === "*" || Number(n) <= MAX_SEQ_NUMBER);
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom("1", "0", "9", ":", ",", "*", "4294967295", "4294967296", " "), {
        maxLength: 10,
      }),
      (pieces) => {
        const s = pieces.join("");
        assert.equal(isSequenceSet(s), grammar.test(s) && inRange(s), s);
      },
    ),
    { numRuns: 5000, seed: 7 },
  );
});

Deno.test("formatSequenceSet rejects bad ranges", () => {
  assert.throws(() => formatSequenceSet([]), TypeError);
  assert.throws(() => formatSequenceSet([{ start: 0 }]), RangeError);
  assert.throws(() => formatSequenceSet([{ start: 1, end: MAX_SEQ_NUMBER + 1 }]), RangeError);
  assert.throws(() => formatSequenceSet([{ start: 1.5 }]), RangeError);
  assert.throws(() => formatSequenceSet([{ start: "1" as unknown as number }]), TypeError);
});

Deno.test("parseSequenceSet is linear on long inputs", () => {
  const long = "1:*,".repeat(250_000) + "7";
  const digits = "9".repeat(1_000_000);
  const started = performance.now();
  assert.equal(parseSequenceSet(long).length, 250_001);
  assert.equal(isSequenceSet(digits), false);
  assert.ok(performance.now() - started < 2000);
});
