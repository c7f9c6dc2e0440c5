import assert from "node:assert/strict";
import { liveTest } from "./live/_servers.ts";

const script = new URL("../scripts/bench/phases.ts", import.meta.url).pathname;

liveTest(
  "bench phases: both sides time their round trips against Dovecot",
  "dovecot",
  async (s) => {
    for (const impl of ["raw", "ours"]) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, `${s.dir}/env`, impl, "--trips", "40", "--block", "20"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.ok(out.success, `${impl}: ${new TextDecoder().decode(out.stderr)}`);
      assert.match(text, new RegExp(`^${impl}, 40 × UID FETCH: +[\\d.]+ µs each`));
      // One row per block, each with two finite means (an empty block would print NaN).
      const rows = [...text.matchAll(/^ {2}(\d+)–(\d+) +([\d.]+) +([\d.]+)$/gm)];
      assert.deepEqual(rows.map((r) => [r[1], r[2]]), [["0", "20"], ["20", "40"]]);
      assert.match(text, /CPU ms: main thread [\d.]+, other threads [\d.]+, server [\d.]+/);
    }
  },
);
