import assert from "node:assert/strict";
import fc from "fast-check";
import {
  concatBytes,
  fromLatin1,
  latin1,
  POOLED_BYTES_MAX,
  pooledBytes,
  toBase64,
} from "../../utils/bytes.ts";

Deno.test("pooledBytes: zero-filled arrays of the asked size that never share a byte", () => {
  const sizes = [0, 1, 7, 8, 13, 4095, 4096, 4097, 20_000, POOLED_BYTES_MAX, POOLED_BYTES_MAX + 1];
  const taken: Uint8Array[] = [];
  // Enough rounds to cross several slabs of both sizes.
  for (let round = 0; round < 40; round++) {
    for (const n of sizes) {
      const a = pooledBytes(n);
      assert.equal(a.length, n);
      assert.ok(a.every((b) => b === 0), `${n} bytes not zero-filled`);
      a.fill(0xff);
      taken.push(a);
    }
  }
  // Filling each with its own index shows any overlap: a shared byte would hold another's index.
  taken.forEach((a, i) => a.fill(i & 0xff));
  taken.forEach((a, i) => assert.ok(a.every((b) => b === (i & 0xff)), `array ${i} overlaps`));
  // Past the pooled sizes an array has its own buffer.
  const big = pooledBytes(POOLED_BYTES_MAX + 1);
  assert.equal(big.byteOffset, 0);
  assert.equal(big.buffer.byteLength, POOLED_BYTES_MAX + 1);
});

Deno.test("concatBytes: joins in order, and returns a lone part as it is", () => {
  const one = new Uint8Array([1, 2, 3]);
  assert.equal(concatBytes([one]), one);
  assert.deepEqual(
    concatBytes([one, new Uint8Array(0), new Uint8Array([4])]),
    new Uint8Array([1, 2, 3, 4]),
  );
  assert.deepEqual(concatBytes([]), new Uint8Array(0));
});

Deno.test("latin1: one character per byte, across the 8 KB steps it converts in", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20_000 }), (bytes) => {
      const text = latin1(bytes);
      assert.equal(text.length, bytes.length);
      for (let i = 0; i < bytes.length; i++) assert.equal(text.charCodeAt(i), bytes[i]);
    }),
    { seed: 0x1a71, numRuns: 60 },
  );
  const big = new Uint8Array(8192 * 2 + 5).map((_, i) => i & 0xff);
  assert.equal(latin1(big).charCodeAt(8192 * 2 + 4), (8192 * 2 + 4) & 0xff);
});

Deno.test("fromLatin1 undoes latin1, and toBase64 is what a byte-wise base64 gives", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20_000 }), (bytes) => {
      assert.deepEqual(fromLatin1(latin1(bytes)), bytes);
      assert.deepEqual(fromLatin1(atob(toBase64(bytes))), bytes);
    }),
    { seed: 0xb64, numRuns: 60 },
  );
  assert.equal(toBase64(new TextEncoder().encode("user\0pass")), "dXNlcgBwYXNz");
  assert.equal(toBase64(new Uint8Array(0)), "");
});
