/**
 * ClaimIndex against a plain model: pending FETCH commands with their claims, admitted only when
 * they do not conflict (as IMAP4 admits them), removed in any order.
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { ClaimIndex, claimOf, rangesOf, uidOf } from "../lib/claims.ts";

type Op = { add: true; set: string; uid: boolean } | { add: false; pick: number };

const setArb = fc.oneof(
  fc.integer({ min: 1, max: 6 }).map(String),
  fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 })).map(([a, b]) =>
    `${a}:${b}`
  ),
  fc.constantFrom("1,3", "2:*", "$"),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ add: fc.constant(true as const), set: setArb, uid: fc.boolean() }),
  fc.record({ add: fc.constant(false as const), pick: fc.nat() }),
);

Deno.test("ClaimIndex: claimers and owners follow a model through adds and removes", () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const index = new ClaimIndex<number>();
      const live: { id: number; claim: ReturnType<typeof claimOf>; name: string }[] = [];
      let next = 0;
      for (const op of ops) {
        if (op.add) {
          const name = op.uid ? "UID FETCH" : "FETCH";
          const claim = claimOf(name, [op.set, "(FLAGS)"]);
          // IMAP4 sends a command only when it does not conflict with a pending one.
          if (index.conflicts("FETCH", claim)) continue;
          const id = next++;
          index.add(id, "FETCH", claim);
          live.push({ id, claim, name });
        } else if (live.length > 0) {
          const [gone] = live.splice(op.pick % live.length, 1);
          index.remove(gone.id, "FETCH", gone.claim);
        }
        assert.equal(index.claimers, live.filter((l) => l.claim !== null).length);
        for (const byUid of [false, true]) {
          for (let n = 1; n <= 7; n++) {
            const owners = live.filter((l) =>
              l.claim !== null && l.claim.byUid === byUid &&
              rangesOf(l.claim).some((r) =>
                r.end === undefined
                  ? r.start === n
                  : typeof r.start === "number" && typeof r.end === "number"
                  ? n >= Math.min(r.start, r.end) && n <= Math.max(r.start, r.end)
                  : n >= (typeof r.start === "number" ? r.start : 1)
              )
            );
            assert.ok(owners.length <= 1, "two pending commands claim one message");
            assert.equal(index.owner(byUid, n), owners[0]?.id);
          }
        }
      }
    }),
    { seed: 0xc1a1, numRuns: 2000 },
  );
});

Deno.test("uidOf finds the UID the regular expression it replaced finds", () => {
  const model = (text: string) => {
    const m = /[( ]UID (\d+)/i.exec(text);
    return m === null ? -1 : Number(m[1]);
  };
  const part = fc.constantFrom(
    "* ",
    "*",
    " FETCH ",
    "FETCH",
    "(UID ",
    "(",
    " ",
    "UID",
    "uid",
    "Uid",
    "XUID",
    "UID ",
    "UIDS ",
    "7",
    "42",
    "FLAGS",
    "ı",
    "\\Seen",
    ")",
  );
  fc.assert(
    fc.property(fc.array(part, { maxLength: 10 }).map((ps) => ps.join("")), (text) => {
      assert.equal(uidOf(text), model(text));
    }),
    { seed: 0x01d5, numRuns: 5000 },
  );
  // Lines shaped like a server's, which uidOf reads without a scan, and near misses.
  const shaped = fc.tuple(
    fc.constantFrom("", "* ", "*", "* * "),
    fc.array(fc.constantFrom("1", "42", "(", "uid", "UID", "*", "x"), {
      minLength: 1,
      maxLength: 3,
    })
      .map((ps) => ps.join("")),
    fc.constantFrom(" FETCH (UID ", " FETCH (UID", " FETCH (uid ", " fetch (UID ", " FETCH  (UID "),
    fc.array(part, { maxLength: 6 }).map((ps) => ps.join("")),
  ).map((ps) => ps.join(""));
  fc.assert(
    fc.property(shaped, (text) => {
      assert.equal(uidOf(text), model(text));
    }),
    { seed: 0x01d6, numRuns: 5000 },
  );
  assert.equal(uidOf("42 FETCH (UID 4242 FLAGS (\\Seen))"), 4242);
  assert.equal(uidOf("42 FETCH (FLAGS (\\Seen) uid 7)"), 7);
  assert.equal(uidOf("UID 5"), -1);
  // The common shape, read at the start of the line, and lines that only look like it.
  assert.equal(uidOf("* 1 FETCH (UID 17 FLAGS (\\Seen))"), 17);
  assert.equal(uidOf("* 1 FETCH (UID x uid 9)"), 9);
  assert.equal(uidOf("* 1 FETCH (FLAGS (\\Seen) UID 3)"), 3);
  assert.equal(uidOf("* 1 fetch (uid 4)"), 4);
  assert.equal(uidOf("* 1 FETCH (UIDS 4 UID 5)"), 5);
});
