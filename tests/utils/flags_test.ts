import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- deno.json has no import map entry for fast-check yet
import fc from "npm:fast-check@4";
import { ParseFlags } from "../../utils/flags.ts";
import vectors from "./vectors/flags.json" with { type: "json" };

Deno.test("ParseFlags matches CPython on FETCH and FLAGS responses, as text and as bytes", () => {
  assert.ok(vectors.length >= 12);
  for (const v of vectors) {
    assert.deepEqual(ParseFlags(v.in), v.out, JSON.stringify(v.in));
    assert.deepEqual(ParseFlags(new TextEncoder().encode(v.in)), v.out, JSON.stringify(v.in));
  }
});

Deno.test("ParseFlags agrees with imaplib's regular expression on random responses", () => {
  // The reference: imaplib's own pattern, fine on short strings where backtracking is cheap.
  const flagsRe = /^[^\n]*FLAGS \(([^)]*)\)/;
  const reference = (s: string): string[] => {
    const m = flagsRe.exec(s);
    return m === null ? [] : m[1].split(/[ \t\n\v\f\r]+/).filter((f) => f !== "");
  };
  const piece = fc.constantFrom("FLAGS (", ")", "(", " ", "\n", "\r", "\t", "\\Seen", "a", "FLAGS");
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 20 }), (pieces) => {
      const s = pieces.join("");
      assert.deepEqual(ParseFlags(s), reference(s));
    }),
    { numRuns: 5000, seed: 20240501 },
  );
});

Deno.test("ParseFlags stays linear on inputs that make the regular expression backtrack", () => {
  const resp = "FLAGS (".repeat(300_000) + "x";
  const started = performance.now();
  assert.deepEqual(ParseFlags(resp), []);
  assert.deepEqual(ParseFlags(resp + ")"), ["x"]);
  assert.ok(performance.now() - started < 2000);
});
