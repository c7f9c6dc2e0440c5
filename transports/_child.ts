/**
 * Ending a child process, the same on every runtime: after its stdin is closed it gets a grace
 * period to exit, then SIGTERM and another grace period, then SIGKILL (some servers never exit on
 * end of input: Mailutils' `imap4d --preauth` spins instead).
 *
 * @module
 */

/** How long a child gets to exit after its stdin is closed, and again after SIGTERM. */
export const CHILD_GRACE_MS = 1_000;

/**
 * Resolves to whether `promise` settled within `ms`; clears its timer.
 *
 * @param promise what to wait for
 * @param ms how long
 * @returns true when it settled in time
 */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits for a child whose stdin is closed to exit, escalating to SIGTERM then SIGKILL.
 *
 * @param exited settles when the child has exited
 * @param kill sends a signal to the child
 */
export async function endChild(
  exited: Promise<unknown>,
  kill: (signal: "SIGTERM" | "SIGKILL") => void,
): Promise<void> {
  if (await settlesWithin(exited, CHILD_GRACE_MS)) return;
  kill("SIGTERM");
  if (!(await settlesWithin(exited, CHILD_GRACE_MS))) kill("SIGKILL");
}
