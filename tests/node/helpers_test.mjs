/**
 * The helpers of the npm build on Node (Int2AP, ParseFlags, Internaldate2tuple,
 * Time2Internaldate, internaldateToDate, encode/decodeMailboxName) against CPython's vectors in
 * tests/utils/vectors/ (the internaldate ones in a child Node under each vector file's TZ), and
 * against Deno's results on the same corpus (a file tests/node_build_test.ts writes and names in
 * IMAPLIB_DENO_HELPERS).
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test as nodeTest } from "node:test";
import { pathToFileURL } from "node:url";
import { helperResults, vectors, ZONE_FILES } from "./_helpers.mjs";
import { loadPackage, onDeno } from "./_package.mjs";

const skipped = "runs under Node (tests/node_build_test.ts)";
const test = onDeno ? (name, fn) => nodeTest(name, { skip: skipped }, fn) : nodeTest;

test("Int2AP matches CPython", async () => {
  const { imaplib } = await loadPackage();
  const all = vectors("int2ap");
  assert.ok(all.length > 150);
  for (const v of all) {
    const n = typeof v.in === "string" ? BigInt(v.in) : v.in;
    assert.equal(imaplib.Int2AP(n), v.out, String(v.in));
  }
});

test("ParseFlags matches CPython, on text and on bytes", async () => {
  const { imaplib } = await loadPackage();
  const all = vectors("flags");
  assert.ok(all.length >= 12);
  for (const v of all) {
    assert.deepEqual(imaplib.ParseFlags(v.in), v.out, v.in);
    assert.deepEqual(imaplib.ParseFlags(new TextEncoder().encode(v.in)), v.out, v.in);
  }
});

test("encodeMailboxName and decodeMailboxName give RFC 3501's examples", async () => {
  const { imaplib } = await loadPackage();
  const name = "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e";
  assert.equal(imaplib.encodeMailboxName(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  assert.equal(imaplib.decodeMailboxName("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), name);
  assert.equal(imaplib.encodeMailboxName("\u263a!"), "&Jjo-!");
  assert.throws(() => imaplib.decodeMailboxName("&Jjo!"), TypeError);
});

for (const [tz, file] of Object.entries(ZONE_FILES)) {
  test(`Internaldate2tuple and Time2Internaldate match CPython under TZ=${tz}`, async () => {
    const { project } = await loadPackage();
    const code = `
      import { imaplib } from ${JSON.stringify(pathToFileURL(join(project, "entry.mjs")).href)};
      import { runZoneVectors, vectors } from ${
      JSON.stringify(import.meta.resolve("./_helpers.mjs"))
    };
      console.log(JSON.stringify(runZoneVectors(imaplib, vectors(${JSON.stringify(file)}))));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", code], {
      env: { ...process.env, TZ: tz },
      encoding: "utf8",
    });
    const { checked, mismatches } = JSON.parse(out);
    assert.deepEqual(mismatches, []);
    const v = vectors(file);
    assert.equal(checked, v.internaldate2tuple.length + v.time2internaldate.length);
    assert.ok(checked >= 100, `only ${checked} vectors`);
  });
}

test("every helper gives on Node what it gives on Deno", {
  skip: onDeno
    ? skipped
    : process.env.IMAPLIB_DENO_HELPERS
    ? false
    : "IMAPLIB_DENO_HELPERS is not set (tests/node_build_test.ts writes Deno's results)",
}, async () => {
  const { imaplib } = await loadPackage();
  const deno = JSON.parse(readFileSync(process.env.IMAPLIB_DENO_HELPERS, "utf8"));
  const node = JSON.parse(JSON.stringify(helperResults(imaplib)));
  assert.ok(Object.values(node).flat().length > 500);
  assert.deepEqual(node, deno);
});
