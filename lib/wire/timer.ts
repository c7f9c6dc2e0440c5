/**
 * One-shot timers that never hold the process open, for deadlines: whatever is being waited for
 * (a read, a connect) holds it open.
 *
 * On Deno, the global `setTimeout` belongs to the Node compatibility layer, and its first call
 * loads that layer: about 10 ms, and 2 MB of heap that the first garbage collections then copy
 * (a fresh process's first thousand round trips ran 1.2 ms slower for that alone, measured on
 * Deno 2.9). `Atomics.waitAsync` with a timeout is a timer of V8's own: it costs microseconds,
 * fires on time while the event loop runs, and does not keep the loop alive. Node keeps
 * `setTimeout` (its own, unreferenced).
 *
 * @module
 */

/** Stops a timer from {@link startTimer} if it has not fired; idempotent. */
export type CancelTimer = () => void;

type WaitAsync = (
  cell: Int32Array,
  index: number,
  value: number,
  timeout: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };

const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
const useWaitAsync = "Deno" in globalThis && typeof waitAsync === "function" &&
  typeof SharedArrayBuffer === "function";

/**
 * Calls `fn` once, `ms` milliseconds from now, unless cancelled first. The timer never holds the
 * process open.
 *
 * @param fn what to call
 * @param ms the delay (negative counts as 0)
 * @returns the function that cancels it
 */
export function startTimer(fn: () => void, ms: number): CancelTimer {
  const delay = Math.max(0, ms);
  if (!useWaitAsync) return nodeTimer(fn, delay);
  // A cell of its own that nobody changes: the wait ends by its timeout, or by the notify that
  // cancels it (which resolves it with "ok").
  const cell = new Int32Array(new SharedArrayBuffer(4));
  let live = true;
  const waited = waitAsync!(cell, 0, 0, delay);
  const fire = (outcome: string) => {
    if (live && outcome === "timed-out") {
      live = false;
      fn();
    }
  };
  // A zero timeout is decided at once, without a promise: the call still comes in a later turn.
  if (waited.async) waited.value.then(fire);
  else queueMicrotask(() => fire(waited.value));
  return () => {
    if (!live) return;
    live = false;
    Atomics.notify(cell, 0);
  };
}

/** The longest delay `setTimeout` takes as it is (longer ones fire at once, with a warning). */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * {@link startTimer} by `setTimeout`, unreferenced; a delay longer than `max` is chained.
 *
 * @param fn what to call
 * @param delay the delay in ms
 * @param max the longest delay of one `setTimeout` (a parameter for tests)
 * @returns the function that cancels it
 */
export function nodeTimer(fn: () => void, delay: number, max = MAX_DELAY): CancelTimer {
  let id: ReturnType<typeof setTimeout>;
  const arm = (left: number) => {
    const step = Math.min(left, max);
    id = setTimeout(() => (left > step ? arm(left - step) : fn()), step);
    (id as { unref?: () => void }).unref?.();
  };
  arm(delay);
  return () => clearTimeout(id);
}
