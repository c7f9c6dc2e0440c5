import assert from "node:assert/strict";
import { bulkWire, frame, growth, measureFraming } from "../scripts/bench/framing.ts";
import { generateMessage } from "../scripts/bench/generate.ts";

const script = new URL("../scripts/bench/framing.ts", import.meta.url).pathname;

Deno.test("framing bench: the generated answer frames to its messages in any read size", async () => {
  const wire = bulkWire(6);
  // The sizes the server reports for these messages (RFC822.SIZE), computed by the generator.
  let expected = 0;
  for (let i = 0; i < 6; i++) expected += generateMessage(i).wireSize;
  assert.equal(wire.messages, 6);
  assert.equal(wire.literalBytes, expected);
  for (const chunk of [64 * 1024, 1460, 7, 1]) {
    assert.deepEqual(await frame(wire.bytes, chunk), { responses: 7, literalBytes: expected });
  }
  // An answer cut before its tagged line is an error, not a short count.
  await assert.rejects(frame(wire.bytes.subarray(0, wire.bytes.length - 10), 64 * 1024));
});

Deno.test("framing bench: figures for every size asked, per byte and per second", async () => {
  // Large enough that every pass takes measurable time (a zero would make the rate infinite).
  const report = await measureFraming(40, undefined, [1, 3], 1);
  assert.deepEqual(report.large.map((p) => p.messages), [10, 20, 40]);
  assert.deepEqual(report.bytewise.map((p) => p.messages), [1, 3]);
  assert.equal(report.whole, report.large[2]);
  assert.equal(report.whole.bytes, bulkWire(40).bytes.length);
  for (const p of [...report.large, ...report.bytewise]) {
    assert.ok(p.ms > 0 && Number.isFinite(p.nsPerByte), JSON.stringify(p));
    assert.ok(Math.abs(p.nsPerByte - (p.ms * 1e6) / p.bytes) < 1e-9);
  }
  assert.ok(Math.abs(report.gbPerSecond - report.whole.bytes / report.whole.ms / 1e6) < 1e-9);
  // The largest size's time per byte over the smallest's.
  const first = report.large[0];
  const grown = growth([first, { ...first, nsPerByte: 3 * first.nsPerByte }]);
  assert.ok(Math.abs(grown - 3) < 1e-9, String(grown));
});

Deno.test("framing bench: the JSON the bench reads", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, "--messages", "4", "--passes", "1", "--bytewise", "1,2", "--json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const report = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.deepEqual(report.large.map((p: { messages: number }) => p.messages), [1, 2, 4]);
  assert.deepEqual(report.bytewise.map((p: { messages: number }) => p.messages), [1, 2]);
  assert.ok(report.gbPerSecond > 0);
});
