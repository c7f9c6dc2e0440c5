/**
 * Runs the Node transport tests (tests/node/transports_test.mjs) under `node --test`, so that
 * `deno test` covers the Node transports too. Needs `node` (20+) and `deno` on PATH.
 *
 * Run: deno test --allow-run --allow-read --allow-env tests/node_transports_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";

Deno.test("node transports pass their tests under node --test", async () => {
  const testFile = new URL("./node/transports_test.mjs", import.meta.url);
  const { code, stdout, stderr } = await new Deno.Command("node", {
    args: ["--test", "--test-reporter=tap", "--test-timeout=60000", testFile.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.equal(code, 0, `node --test failed (exit code ${code}):\n${output}`);
  // A run that silently found no tests must not pass.
  const passed = Number(/^# pass (\d+)$/m.exec(output)?.[1] ?? 0);
  assert.ok(passed >= 20, `node --test passed only ${passed} tests:\n${output}`);
});
