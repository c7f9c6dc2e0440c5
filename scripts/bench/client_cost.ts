/**
 * The client's own cost per round trip, with no server and no network: `N × UID FETCH n (FLAGS)`
 * over an in-memory transport that answers at once, through this project's IMAP4 (`ours`) or
 * through the least code that can do the same exchange (`raw`). What the two differ by is the
 * client's work per command, which a live run buries under the server's time and the machine's
 * noise.
 *
 * Usage: `deno task bench:client [ours|raw] [--commands N] [--warm W]` prints microseconds per command over N commands after W unmeasured ones. With `--warm 0` (the
 * default) it measures a cold process, as the live benchmark's runners are: the first few hundred
 * commands run in V8's interpreter.
 *
 * Time here still moves with the machine. For a figure that does not, count the main thread's
 * instructions with callgrind, at N and at 0 commands, and divide the difference by N:
 *
 * ```sh
 * flags=--v8-flags=--single-threaded,--predictable   # compile on the main thread, fixed hashes
 * deno run -A $flags scripts/bench/client_cost.ts ours --commands 10   # same flags: code cache
 * for n in 2000 0; do
 *   valgrind --tool=callgrind --smc-check=all-non-file --separate-threads=yes \
 *     --callgrind-out-file=/tmp/cg.$n deno run -A $flags scripts/bench/client_cost.ts ours --commands $n
 *   grep -m1 '^summary' /tmp/cg.$n-01
 * done
 * ```
 *
 * Run the same flags once before measuring: Deno's code cache depends on them, and a run that
 * misses it pays for compiling that the other run did not.
 *
 * @module
 */

import { IMAP4 } from "../../mod.ts";
import type { Transport, TransportFactory } from "../../transports/transport.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Dovecot's answers, word for word, to what the measured session sends. */
function answer(line: string): string {
  const sp = line.indexOf(" ");
  const tag = line.slice(0, sp);
  const command = line.slice(sp + 1);
  if (command.startsWith("UID FETCH ")) {
    const uid = command.slice(10, command.indexOf(" ", 10));
    return `* ${uid} FETCH (UID ${uid} FLAGS (\\Seen))\r\n` +
      `${tag} OK Fetch completed (0.001 + 0.000 secs).\r\n`;
  }
  if (command.startsWith("CAPABILITY")) {
    return `* CAPABILITY IMAP4rev1 LITERAL+ IDLE\r\n${tag} OK Capability completed.\r\n`;
  }
  if (command.startsWith("SELECT")) {
    return "* 150 EXISTS\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n" +
      `${tag} OK [READ-WRITE] Select completed.\r\n`;
  }
  return `${tag} OK ${command.split(" ", 1)[0]} completed.\r\n`;
}

/**
 * A transport whose peer answers each command line in the next microtask: reads are served
 * from what it has queued, one answer per read, as a socket delivers a small answer.
 */
class MemoryTransport implements Transport {
  readonly kind = "tcp" as const;
  #answers: Uint8Array[] = [encoder.encode("* OK [CAPABILITY IMAP4rev1] ready\r\n")];
  #reader: { buf: Uint8Array; resolve: (n: number | null) => void } | null = null;
  #closed = false;
  readonly #deliver = (): void => {
    const r = this.#reader;
    const next = this.#answers[0];
    if (r === null || next === undefined) return;
    this.#reader = null;
    const n = Math.min(next.length, r.buf.length);
    r.buf.set(next.subarray(0, n));
    if (n === next.length) this.#answers.shift();
    else this.#answers[0] = next.subarray(n);
    r.resolve(n);
  };

  read(buf: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#reader = { buf, resolve };
      this.#deliver();
    });
  }

  write(data: Uint8Array): Promise<void> {
    const text = decoder.decode(data);
    for (const line of text.split("\r\n")) {
      if (line !== "") this.#answers.push(encoder.encode(answer(line)));
    }
    queueMicrotask(this.#deliver);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#reader?.resolve(null);
    this.#reader = null;
    return Promise.resolve();
  }
}

function memoryTransports(transport: Transport): TransportFactory {
  return {
    runtime: "deno",
    connect: () => Promise.resolve(transport),
    connectTls: () => Promise.resolve(transport),
    spawn: () => Promise.resolve(transport),
  };
}

/**
 * The least a client can do over `t`: `command(text)` sends the line and reads until the tagged
 * answer, decoding once. The greeting must be read first (`greeting()`).
 *
 * @param t the transport
 * @returns the two steps
 */
export function rawClient(t: Transport): {
  greeting: () => Promise<void>;
  command: (text: string) => Promise<void>;
} {
  const buf = new Uint8Array(64 * 1024);
  let tag = 0;
  return {
    greeting: async () => {
      if ((await t.read(buf)) === null) throw new Error("closed");
    },
    command: async (text: string) => {
      const prefix = `a${++tag} `;
      await t.write(encoder.encode(prefix + text + "\r\n"));
      let seen = "";
      for (;;) {
        const n = await t.read(buf);
        if (n === null) throw new Error("closed");
        seen += decoder.decode(buf.subarray(0, n));
        if (seen.includes(prefix)) return;
      }
    },
  };
}

/** The raw loop: {@link rawClient}'s round trips, timed. */
async function rawLoop(t: Transport, commands: number, warm: number): Promise<number> {
  const { greeting, command } = rawClient(t);
  await greeting();
  await command("LOGIN user pass");
  await command("SELECT INBOX");
  for (let i = 0; i < warm; i++) await command(`UID FETCH ${(i % 150) + 1} (FLAGS)`);
  const start = performance.now();
  for (let i = 0; i < commands; i++) await command(`UID FETCH ${(i % 150) + 1} (FLAGS)`);
  return performance.now() - start;
}

async function oursLoop(t: Transport, commands: number, warm: number): Promise<number> {
  const M = await IMAP4.connect("memory", 143, { transports: memoryTransports(t) });
  await M.login("user", "pass");
  await M.select();
  for (let i = 0; i < warm; i++) await M.uid("FETCH", String((i % 150) + 1), "(FLAGS)");
  const start = performance.now();
  for (let i = 0; i < commands; i++) {
    const [typ] = await M.uid("FETCH", String((i % 150) + 1), "(FLAGS)");
    if (typ !== "OK") throw new Error(`UID FETCH answered ${typ}`);
  }
  const ms = performance.now() - start;
  // Untimed: the data comes back as imaplib gives it.
  const [, data] = await M.uid("FETCH", "42", "(FLAGS)");
  if (data.length !== 1 || data[0] !== "42 (UID 42 FLAGS (\\Seen))") {
    throw new Error(`UID FETCH returned ${JSON.stringify(data)}`);
  }
  await M.logout();
  return ms;
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i === -1) return fallback;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} needs a whole number`);
  return n;
}

/**
 * Runs `commands` UID FETCH round trips after `warm` unmeasured ones over a fresh in-memory
 * transport.
 *
 * @param impl this project's IMAP4, or the least code that does the same exchange
 * @param commands how many round trips to time
 * @param warm how many to run first, untimed
 * @returns the milliseconds the timed round trips took
 */
export function clientCost(impl: "ours" | "raw", commands: number, warm = 0): Promise<number> {
  const t = new MemoryTransport();
  return impl === "raw" ? rawLoop(t, commands, warm) : oursLoop(t, commands, warm);
}

if (import.meta.main) {
  const args = Deno.args;
  const impl = args[0] === "raw" ? "raw" : "ours";
  const commands = option(args, "--commands", 2000);
  const warm = option(args, "--warm", 0);
  const ms = await clientCost(impl, commands, warm);
  const per = commands > 0 ? ((ms * 1000) / commands).toFixed(2) : "–";
  console.log(`${impl}: ${per} µs per UID FETCH over ${commands} (after ${warm} unmeasured)`);
}
