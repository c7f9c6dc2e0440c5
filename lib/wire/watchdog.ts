/**
 * Deadlines without a timer per wait: one lazily armed timer serves every wait of a connection.
 * Creating a timer costs microseconds, a round trip's whole budget; a busy connection arms this
 * one about once per timeout. The timer never holds the process open: what is waited for does.
 *
 * @module
 */

import { type CancelTimer, startTimer } from "./timer.ts";

/** What {@link Watchdog.race} resolves to when the deadline passed first. */
export const TIMED_OUT: unique symbol = Symbol("timed out");

/** A deadline being watched (see {@link Watchdog.guard}). */
export interface Waiter {
  deadline: number;
  expire: () => void;
  settled: boolean;
}

/** Races promises against deadlines, with one timer for all of them. */
export class Watchdog {
  /**
   * The waits, settled ones included until the next sweep (a plain array: a Set costs a hash of
   * every new waiter, which is most of a wait's cost).
   */
  private _waiters: Waiter[] = [];
  /** How many entries of _waiters are in use (the rest are stale; resetting a length is slow). */
  private _used = 0;
  private _active = 0;
  /** The deadlines watched again and again (see {@link slot}); never swept. */
  private _slots: Waiter[] = [];
  /** Cancels the armed timer; undefined while none is. */
  private _timer: CancelTimer | undefined;
  /**
   * The deadline the timer is armed for; Infinity while none is (not to be set from outside). A
   * slot whose deadline is no earlier (and finite) can be started in place, with no call: its
   * deadline set, then `settled` cleared (see {@link start}).
   */
  armedFor = Infinity;

  /**
   * Waits for `p` until `deadline` (a `Date.now()` time).
   *
   * @param p what to wait for; its rejection passes through
   * @param deadline when to stop waiting; `Infinity` waits for ever
   * @param mapError turns `p`'s rejection into the error to reject with (default: as it is)
   * @returns `p`'s value, or {@link TIMED_OUT}
   */
  race<T>(
    p: Promise<T>,
    deadline: number,
    mapError: (e: unknown) => unknown = (e) => e,
  ): Promise<T | typeof TIMED_OUT> {
    if (deadline === Infinity) {
      return p.catch((e) => {
        throw mapError(e);
      });
    }
    return new Promise<T | typeof TIMED_OUT>((resolve, reject) => {
      const waiter = this.guard(deadline, () => resolve(TIMED_OUT));
      p.then(
        (v) => {
          this.release(waiter);
          resolve(v);
        },
        (e) => {
          this.release(waiter);
          reject(mapError(e));
        },
      );
    });
  }

  /**
   * Calls `onExpire` once `deadline` passes, unless {@link release} came first: a deadline
   * without the promise {@link race} makes, for waits whose expiry ends the connection anyway.
   *
   * @param deadline when to give up (a `Date.now()` time); `Infinity` watches nothing
   * @param onExpire what to do then
   * @returns the handle to release, or null for no deadline
   */
  guard(deadline: number, onExpire: () => void): Waiter | null {
    if (deadline === Infinity) return null;
    const waiter: Waiter = { deadline, expire: onExpire, settled: false };
    // Often several at once (races, literals): the common case costs no further call.
    if (this._used >= 64) this.#sweep();
    this._waiters[this._used++] = waiter;
    this._active++;
    if (this.armedFor > deadline) this.#arm(deadline);
    return waiter;
  }

  /**
   * Stops watching a deadline from {@link guard}; idempotent.
   *
   * @param waiter the handle (null is ignored)
   */
  release(waiter: Waiter | null): void {
    if (waiter === null || waiter.settled) return;
    waiter.settled = true;
    if (--this._active === 0) this._used = 0;
  }

  /**
   * A deadline for waits that come one after another (a connection's reads, its writes): made
   * once, then {@link start}ed and {@link stop}ped for each wait, with no object and no list entry
   * per wait (two waits per round trip otherwise cost an object and a sweep share each).
   *
   * @param onExpire what to do when a started wait passes its deadline
   * @returns the slot, stopped
   */
  slot(onExpire: () => void): Waiter {
    const w: Waiter = { deadline: Infinity, expire: onExpire, settled: true };
    this._slots.push(w);
    return w;
  }

  /**
   * Starts a wait on a slot from {@link slot} (one at a time per slot).
   *
   * @param w the slot
   * @param deadline when to give up (a `Date.now()` time); `Infinity` watches nothing and leaves
   *   the slot stopped
   */
  start(w: Waiter, deadline: number): void {
    if (deadline === Infinity) return;
    w.deadline = deadline;
    w.settled = false;
    // The timer, once armed, fires by the earliest deadline and then looks at the slots again:
    // a later deadline (the common case) costs nothing more here.
    if (this.armedFor > deadline) this.#arm(deadline);
  }

  /**
   * Ends the wait of a slot; idempotent.
   *
   * @param w the slot
   */
  stop(w: Waiter): void {
    w.settled = true;
  }

  /** Stops the timer and ends every wait with {@link TIMED_OUT}. */
  dispose(): void {
    this._timer?.();
    this._timer = undefined;
    this.armedFor = Infinity;
    const waiters = this._waiters.slice(0, this._used).concat(this._slots);
    this._waiters = [];
    this._used = this._active = 0;
    for (const w of waiters) {
      if (w.settled) continue;
      w.settled = true;
      w.expire();
    }
  }

  /** Drops settled waits once they are at least half of the list. */
  #sweep(): void {
    if (this._used < 2 * this._active) return;
    const waiters = this._waiters;
    let live = 0;
    for (let i = 0; i < this._used; i++) if (!waiters[i].settled) waiters[live++] = waiters[i];
    this._used = live;
  }

  #arm(deadline: number): void {
    this._timer?.();
    this.armedFor = deadline;
    this._timer = startTimer(this._fired, deadline - Date.now());
  }

  private readonly _fired = (): void => this.#check();

  #check(): void {
    this._timer = undefined;
    this.armedFor = Infinity;
    const now = Date.now();
    let next = Infinity;
    const due: Waiter[] = [];
    const live: Waiter[] = [];
    for (let i = 0; i < this._used; i++) {
      const w = this._waiters[i];
      if (w.settled) continue;
      if (now >= w.deadline) due.push(w);
      else {
        live.push(w);
        if (w.deadline < next) next = w.deadline;
      }
    }
    this._waiters = live;
    this._used = this._active = live.length;
    for (const w of this._slots) {
      if (w.settled) continue;
      if (now >= w.deadline) due.push(w);
      else if (w.deadline < next) next = w.deadline;
    }
    for (const w of due) {
      w.settled = true;
      w.expire();
    }
    if (next !== Infinity) this.#arm(next);
  }
}
