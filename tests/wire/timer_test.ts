import assert from "node:assert/strict";
import { nodeTimer, startTimer } from "../../lib/wire/timer.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("timer: fires once after its delay, not before", async () => {
  const fired: number[] = [];
  const t0 = Date.now();
  startTimer(() => fired.push(Date.now() - t0), 40);
  await sleep(15);
  assert.deepEqual(fired, []);
  await sleep(80);
  assert.equal(fired.length, 1);
  assert.ok(fired[0] >= 39, `fired after ${fired[0]} ms`);
});

Deno.test("timer: a cancelled timer never fires; cancelling twice or late is harmless", async () => {
  const fired: string[] = [];
  const a = startTimer(() => fired.push("a"), 20);
  const b = startTimer(() => fired.push("b"), 20);
  a();
  a();
  await sleep(60);
  b(); // after it fired
  assert.deepEqual(fired, ["b"]);
});

Deno.test("timer: a zero or negative delay fires in a later turn, not during the call", async () => {
  const fired: string[] = [];
  startTimer(() => fired.push("zero"), 0);
  startTimer(() => fired.push("negative"), -5);
  const cancelled = startTimer(() => fired.push("cancelled"), 0);
  cancelled();
  assert.deepEqual(fired, []);
  await sleep(10);
  assert.deepEqual(fired.sort(), ["negative", "zero"]);
});

Deno.test("timer: a pending timer does not keep the process alive", async () => {
  const url = new URL("../../lib/wire/timer.ts", import.meta.url).href;
  const script = `import { startTimer } from ${JSON.stringify(url)};
    startTimer(() => console.log("fired"), 3000);
    console.log("armed");`;
  const t0 = Date.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const elapsed = Date.now() - t0;
  assert.equal(out.code, 0);
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "armed");
  assert.ok(elapsed < 2500, `the process waited for the timer (${elapsed} ms)`);
});

Deno.test("timer: the setTimeout path chains a delay longer than one setTimeout takes", async () => {
  const fired: number[] = [];
  const t0 = Date.now();
  // 10 ms steps stand in for setTimeout's 24.8-day limit.
  nodeTimer(() => fired.push(Date.now() - t0), 45, 10);
  await sleep(25);
  assert.equal(fired.length, 0);
  await sleep(60);
  assert.equal(fired.length, 1);
  assert.ok(fired[0] >= 44, `fired after ${fired[0]} ms`);
  // Cancelled between two steps, it never fires.
  const stop = nodeTimer(() => fired.push(-1), 45, 10);
  await sleep(25);
  stop();
  await sleep(40);
  assert.equal(fired.length, 1);
});
