/**
 * What the Deno benchmark runners share: the workload names, the settings they read from the
 * environment, and the one JSON line each run prints.
 *
 * A runner is started as `RUNNER WORKLOAD plain|tls` with the server in `IMAP_*` variables and the
 * sizes in `BENCH_*` variables; it prints exactly one JSON line on stdout and exits 0, also when it
 * skips (then `skipped` says why). Timing covers the workload only: connecting, logging in and
 * SELECT are done before the clock starts, LOGOUT after it stops.
 *
 * @module
 */

/** Workload names, as the orchestrator and every runner (Deno, Python, Node) spell them. */
export const WORKLOADS = [
  "bulk",
  "bulk_stream",
  "bulk_fetchall",
  "meta",
  "uid",
  "uid_pipelined",
  "noop",
] as const;

/** One of the workload names. */
export type Workload = typeof WORKLOADS[number];

/** The IMAP command text of the two bulk workloads, shared so every runner sends the same. */
export const BULK_ITEMS = "(BODY.PEEK[])";
/** The attribute list of the headers-and-structure workload. */
export const META_ITEMS = "(UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)";

/** The settings of one run, read from argv and the environment. */
export interface RunSettings {
  /** Which workload to run. */
  workload: Workload;
  /** Whether to use implicit TLS (the TLS port) instead of plain TCP. */
  tls: boolean;
  /** Server host. */
  host: string;
  /** The port for the chosen transport. */
  port: number;
  /** Login name. */
  user: string;
  /** Password. */
  pass: string;
  /** PEM of the server's self-signed certificate, for TLS. */
  caPem: string;
  /** How many messages the INBOX holds. */
  messages: number;
  /** The total RFC822.SIZE of the INBOX, checked against what a bulk fetch received. */
  expectBytes: number;
  /** How many round trips the uid/noop workloads make. */
  trips: number;
}

/** The JSON line a runner prints. */
export interface RunResult {
  /** The workload that ran. */
  workload: string;
  /** The implementation name. */
  impl: string;
  /** "plain" or "tls". */
  transport: string;
  /** Milliseconds the workload took, or null when skipped or failed. */
  ms: number | null;
  /** Bytes received: wire bytes for the raw runner, payload bytes for clients. */
  bytes: number;
  /** Messages or responses counted. */
  items: number;
  /** Whether the workload completed and the counts matched the mailbox. */
  ok: boolean;
  /** Why the workload was not run, when it was not. */
  skipped?: string;
  /** What went wrong, when ok is false. */
  error?: string;
  /**
   * For the round trips one after another (`uid`, `noop`): the milliseconds of the first half of
   * the commands (see {@link halfOf}); the second half is `ms` minus this.
   */
  firstHalfMs?: number;
}

function env(name: string, fallback?: string): string {
  const value = Deno.env.get(name) ?? fallback;
  if (value === undefined) {
    throw new Error(`Environment variable ${name} is not set`);
  }
  return value;
}

/**
 * Reads the run settings from `Deno.args` and the environment.
 *
 * @returns The settings.
 * @throws Error when an argument or variable is missing or malformed.
 */
export function readSettings(): RunSettings {
  const [workload, transport] = Deno.args;
  if (!(WORKLOADS as readonly string[]).includes(workload)) {
    throw new Error(
      `Workload "${workload}" is unknown (expected one of ${WORKLOADS.join(", ")})`,
    );
  }
  if (transport !== "plain" && transport !== "tls") {
    throw new Error(
      `Transport "${transport}" is unknown (expected plain or tls)`,
    );
  }
  const tls = transport === "tls";
  const caPath = Deno.env.get("IMAP_CA");
  return {
    workload: workload as Workload,
    tls,
    host: env("IMAP_HOST", "127.0.0.1"),
    port: Number(env(tls ? "IMAP_TLS_PORT" : "IMAP_PORT")),
    user: env("IMAP_USER", "imaptest"),
    pass: env("IMAP_PASS", "imaptest"),
    caPem: tls && caPath ? Deno.readTextFileSync(caPath) : "",
    messages: Number(env("BENCH_MESSAGES")),
    expectBytes: Number(env("BENCH_EXPECT_BYTES", "0")),
    trips: Number(env("BENCH_TRIPS", "2000")),
  };
}

/**
 * The UID asked for on round trip `i`: cycles through the mailbox so every UID exists.
 *
 * @param i The round-trip number, from 0.
 * @param messages How many messages the mailbox holds.
 * @returns A UID between 1 and `messages`.
 */
export function tripUid(i: number, messages: number): number {
  return (i % messages) + 1;
}

/**
 * Where a one-after-another workload's first half ends: the index of the first command of the
 * second half, or -1 for the other workloads. The first half of a fresh process pays for its
 * runtime's warm-up (V8 interprets, then compiles a function once it has run a few hundred
 * times); the second half shows each command's cost once that is done.
 *
 * @param s The run's settings.
 * @returns The index, or -1.
 */
export function halfOf(s: RunSettings): number {
  return s.workload === "uid" || s.workload === "noop" ? Math.floor(s.trips / 2) : -1;
}

/**
 * Prints the result line on stdout.
 *
 * @param result The result to print.
 */
export function report(result: RunResult): void {
  console.log(JSON.stringify(result));
}
