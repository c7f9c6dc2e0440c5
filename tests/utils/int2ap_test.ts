import assert from "node:assert/strict";
import { Int2AP, randomTagPrefix } from "../../utils/int2ap.ts";
import vectors from "./vectors/int2ap.json" with { type: "json" };

Deno.test("Int2AP matches CPython for integers as bigint and as exact numbers", () => {
  let asNumber = 0;
  for (const v of vectors) {
    if (typeof v.in !== "string") continue;
    const n = BigInt(v.in);
    assert.equal(Int2AP(n), v.out, v.in);
    if (Number.isSafeInteger(Number(n))) {
      assert.equal(Int2AP(Number(n)), v.out, v.in);
      asNumber++;
    }
  }
  assert.ok(asNumber > 150);
});

Deno.test("Int2AP matches CPython for floats, truncating them", () => {
  const floats = vectors.filter((v) => typeof v.in === "number");
  assert.ok(floats.length >= 8);
  for (const v of floats) assert.equal(Int2AP(v.in as number), v.out, String(v.in));
});

Deno.test("Int2AP rejects NaN and infinities", () => {
  for (const bad of [NaN, Infinity, -Infinity]) assert.throws(() => Int2AP(bad), RangeError);
});

Deno.test("randomTagPrefix gives four letters covering the range of randint(4096, 65535)", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const prefix = randomTagPrefix();
    assert.match(prefix, /^[B-P][A-P]{3}$/);
    seen.add(prefix[0]);
  }
  // 15 possible first letters, 2000 draws: all appear unless the draw is badly skewed.
  assert.equal(seen.size, 15);
});
