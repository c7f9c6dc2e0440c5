import assert from "node:assert/strict";
import { clientCost } from "../scripts/bench/client_cost.ts";

Deno.test("bench:client runs both loops over its in-memory server", async () => {
  // Each loop checks its answers (IMAP4 throws on anything but OK; the raw loop waits for its
  // tag), so finishing is the check; the times are only reported, never asserted.
  for (const impl of ["ours", "raw"] as const) {
    const ms = await clientCost(impl, 300, 20);
    assert.ok(Number.isFinite(ms) && ms >= 0, `${impl}: ${ms}`);
  }
});
