/**
 * Memory the client keeps after a command: a large APPEND's bytes must not outlive it (the log
 * of recent lines keeps text, not the command's chunks).
 *
 * @module
 */

import assert from "node:assert/strict";

Deno.test("a 32 MiB APPEND's bytes are not kept once it has completed", async () => {
  const probe = new URL("./_retention_probe.ts", import.meta.url);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--v8-flags=--expose-gc", probe.pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const { external } = JSON.parse(new TextDecoder().decode(out.stdout).trim());
  // The runtime itself holds a few MiB; the message alone is 32.
  assert.ok(external < 16 * 1024 * 1024, `${external} bytes of ArrayBuffers still alive`);
});
