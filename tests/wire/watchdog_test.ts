import assert from "node:assert/strict";
import { TIMED_OUT, Watchdog } from "../../lib/wire/watchdog.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("watchdog: a guard expires once its deadline passes, unless released first", async () => {
  const dog = new Watchdog();
  const expired: string[] = [];
  const a = dog.guard(Date.now() + 20, () => expired.push("a"));
  const b = dog.guard(Date.now() + 20, () => expired.push("b"));
  dog.release(b);
  dog.release(b); // idempotent
  await sleep(60);
  assert.deepEqual(expired, ["a"]);
  // Releasing after expiry does nothing.
  dog.release(a);
  assert.equal(dog.guard(Infinity, () => expired.push("never")), null);
  dog.dispose();
  assert.deepEqual(expired, ["a"]);
});

Deno.test("watchdog: thousands of guards taken and released keep the live ones watched", async () => {
  const dog = new Watchdog();
  const expired: number[] = [];
  // Interleaved like a pipeline: each round leaves one guard live (sweeps run past 64 entries).
  for (let i = 0; i < 3000; i++) {
    const g = dog.guard(Date.now() + 30, () => expired.push(i));
    const h = dog.guard(Date.now() + 30, () => expired.push(-i));
    if (i % 100 !== 0) dog.release(g);
    dog.release(h);
  }
  // A guard taken after all are released (the list starts again) is watched too.
  dog.guard(Date.now() + 30, () => expired.push(9999));
  await sleep(80);
  assert.deepEqual(
    expired.sort((x, y) => x - y),
    [...Array.from({ length: 30 }, (_, k) => k * 100), 9999],
  );
  dog.dispose();
});

Deno.test("watchdog: the timer follows the earliest deadline", async () => {
  const dog = new Watchdog();
  const order: string[] = [];
  dog.guard(Date.now() + 200, () => order.push("late"));
  dog.guard(Date.now() + 20, () => order.push("early"));
  await sleep(80);
  assert.deepEqual(order, ["early"]);
  dog.dispose(); // ends the late one now
  assert.deepEqual(order, ["early", "late"]);
});

Deno.test("watchdog: race gives the value, the mapped error, or TIMED_OUT", async () => {
  const dog = new Watchdog();
  assert.equal(await dog.race(Promise.resolve(7), Date.now() + 1000), 7);
  await assert.rejects(
    dog.race(Promise.reject(new Error("boom")), Date.now() + 1000, () => new Error("mapped")),
    { message: "mapped" },
  );
  // The watchdog's timer never holds the process open (a pending read does): this one stands in.
  const keepAlive = setTimeout(() => {}, 5000);
  const never = new Promise<number>(() => {});
  assert.equal(await dog.race(never, Date.now() + 20), TIMED_OUT);
  clearTimeout(keepAlive);
  assert.equal(await dog.race(Promise.resolve(1), Infinity), 1);
  dog.dispose();
});

Deno.test("watchdog: dispose ends every wait still open", async () => {
  const dog = new Watchdog();
  const pending = dog.race(new Promise(() => {}), Date.now() + 60_000);
  let guarded = false;
  dog.guard(Date.now() + 60_000, () => guarded = true);
  dog.dispose();
  assert.equal(await pending, TIMED_OUT);
  assert.equal(guarded, true);
});

Deno.test("watchdog: a slot expires only for a wait started and not stopped in time", async () => {
  const dog = new Watchdog();
  const expired: string[] = [];
  const a = dog.slot(() => expired.push("a"));
  const b = dog.slot(() => expired.push("b"));
  // Many short waits on one slot, as a connection's round trips: none expires.
  for (let i = 0; i < 1000; i++) {
    dog.start(a, Date.now() + 30);
    dog.stop(a);
  }
  dog.stop(a); // idempotent
  // A wait whose deadline moves later each time (the timer was armed for the first one) is
  // watched up to its own deadline, not the first one's.
  dog.start(b, Date.now() + 20);
  dog.stop(b);
  await sleep(10);
  dog.start(b, Date.now() + 60);
  await sleep(30);
  assert.deepEqual(expired, []);
  await sleep(70);
  assert.deepEqual(expired, ["b"]);
  assert.equal(b.settled, true);
  // Infinity watches nothing.
  dog.start(a, Infinity);
  assert.equal(a.settled, true);
  dog.dispose();
  assert.deepEqual(expired, ["b"]);
});

Deno.test("watchdog: dispose ends a slot's wait, not a stopped slot", () => {
  const dog = new Watchdog();
  const expired: string[] = [];
  const a = dog.slot(() => expired.push("a"));
  dog.slot(() => expired.push("never started"));
  const c = dog.slot(() => expired.push("stopped"));
  dog.start(c, Date.now() + 60_000);
  dog.stop(c);
  dog.start(a, Date.now() + 60_000);
  dog.dispose();
  assert.deepEqual(expired, ["a"]);
});
