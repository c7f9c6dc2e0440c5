import assert from "node:assert/strict";
import fc from "fast-check";
import { TagTable } from "../lib/tag_table.ts";
import { claimOf, rangesOf } from "../lib/claims.ts";
import { parseSequenceSet } from "../utils/sequence_set.ts";

/** An operation on the table, replayed on a Map as the model. */
type Op =
  | { kind: "set"; n: number }
  | { kind: "delete"; n: number }
  | { kind: "next" }
  | { kind: "oldest" };

Deno.test("TagTable: behaves as a Map under any mix of operations", () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 4, arbitrary: fc.constant({ kind: "next" as const }) },
    { weight: 3, arbitrary: fc.constant({ kind: "oldest" as const }) },
    // Keys near the counter (rewinds, repeats), far ahead, or anywhere.
    { weight: 2, arbitrary: fc.integer({ min: -3, max: 3 }).map((d) => ({ kind: "set", n: d })) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 20_000 }).map((n) => ({ kind: "set", n })) },
    {
      weight: 2,
      arbitrary: fc.integer({ min: -5, max: 5 }).map((d) => ({ kind: "delete", n: d })),
    },
  ) as fc.Arbitrary<Op>;
  fc.assert(
    fc.property(fc.array(op, { maxLength: 300 }), fc.nat(1000), (ops, start) => {
      const table = new TagTable<string>();
      const model = new Map<number, string>();
      let counter = start;
      for (const o of ops) {
        if (o.kind === "next") {
          table.set(counter, `t${counter}`);
          model.set(counter, `t${counter}`);
          counter++;
        } else if (o.kind === "oldest") {
          // Completion in order, the common case.
          const first = model.keys().next();
          if (!first.done) {
            table.delete(first.value);
            model.delete(first.value);
          }
        } else if (o.kind === "set") {
          // Small values are relative to the counter; large ones are absolute.
          const n = Math.abs(o.n) <= 3 ? Math.max(0, counter + o.n) : o.n;
          table.set(n, `x${n}`);
          model.set(n, `x${n}`);
        } else {
          const n = Math.max(0, counter + o.n);
          table.delete(n);
          model.delete(n);
        }
        assert.equal(table.size, model.size);
      }
      for (let n = Math.max(0, start - 10); n < counter + 10; n++) {
        assert.equal(table.get(n), model.get(n), `key ${n}`);
      }
      assert.deepEqual(new Set(table.values()), new Set(model.values()));
      // The oldest of the window is one of the entries; an empty table has none.
      const oldest = table.oldest();
      if (oldest !== undefined) assert.ok(table.values().includes(oldest));
      if (model.size === 0) assert.equal(oldest, undefined);
      assert.equal(table.values().length, model.size);
    }),
    { seed: 0x7a61e, numRuns: 2_000 },
  );
});

Deno.test("TagTable: a long pipeline keeps the window short and the order oldest first", () => {
  const table = new TagTable<number>();
  for (let n = 0; n < 10_000; n++) {
    table.set(n, n);
    // Two in flight, completed in order: the window never holds more than a few holes.
    if (n >= 2) table.delete(n - 2);
  }
  assert.equal(table.size, 2);
  assert.deepEqual(table.values(), [9998, 9999]);
  assert.equal(table.oldest(), 9998);
  // Completed out of order: the oldest stays first until it completes.
  for (let n = 10_000; n < 10_010; n++) table.set(n, n);
  table.delete(10_005);
  table.delete(9999);
  assert.deepEqual(table.values().slice(0, 3), [9998, 10_000, 10_001]);
  table.clear();
  assert.equal(table.size, 0);
  assert.equal(table.get(9998), undefined);
});

Deno.test("claimOf: the one-message fast path agrees with the sequence-set parser", () => {
  const set = fc.oneof(
    fc.nat(5_000_000_000).map(String),
    fc.stringMatching(/^[0-9*:,]{0,12}$/),
    // Text that Number() reads as a number but a sequence set does not hold.
    fc.stringMatching(/^[0-9+\-.ex ]{0,12}$/),
    fc.constantFrom("0", "01", "4294967295", "4294967296", "1:*", "*", "", "$"),
    fc.constantFrom("007", "1.0", "1.5", " 1", "1 ", "1e3", "0x1", "+1", "-1", "Infinity"),
    fc.constantFrom("NaN", "1_000", "\u0661"),
  );
  fc.assert(
    fc.property(set, fc.boolean(), (s, uid) => {
      const claim = uid ? claimOf("UID FETCH", [s, "(FLAGS)"]) : claimOf("FETCH", [s, "(X)"]);
      let ranges;
      try {
        ranges = parseSequenceSet(s);
      } catch {
        assert.equal(claim, null, JSON.stringify(s));
        return;
      }
      assert.ok(claim !== null, JSON.stringify(s));
      assert.deepEqual(rangesOf(claim), ranges);
      assert.equal(claim.byUid, uid);
      const one = ranges.length === 1 && ranges[0].end === undefined && ranges[0].start !== "*";
      assert.equal(claim.single, one ? ranges[0].start : -1);
    }),
    { seed: 0xc1a1, numRuns: 5_000 },
  );
  // Numbers as arguments.
  assert.equal(claimOf("FETCH", [7, "(FLAGS)"])?.single, 7);
  assert.equal(claimOf("FETCH", [0, "(FLAGS)"]), null);
  assert.equal(claimOf("FETCH", [2 ** 32, "(FLAGS)"]), null);
});
