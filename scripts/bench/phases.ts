/**
 * Where a round trip's time goes, block by block: a diagnosis beside `deno task bench`, which
 * only gives totals. For N × `UID FETCH n (FLAGS)` (or NOOP) against a live server it prints, per
 * block of commands:
 *
 * - **server**: from the client's `write()` call to the answer's read settling (the server's
 *   work, the network, and anything on the machine that delays either), one per read: these
 *   answers arrive in one read each, so blocks of reads are blocks of commands;
 * - **client**: from that read settling to the next `write()` call (the client's own path).
 *
 * Both sides are timed at the same place: `raw` is bench:client's raw loop (`rawClient`) over this
 * project's Deno transport, so the columns differ only by the client above the transport.
 *
 * For the whole loop it also prints the CPU time of this process's main thread, of its other
 * threads (V8's compiler and GC helpers) and of the server's `imap` processes (from `/proc`,
 * Linux only).
 *
 * What it showed (2026-11, 2 cores): against the raw loop, this project's excess sits in the
 * first ~1,000 commands, half of it as *server* time; with V8 compiling on the main thread
 * (`--v8-flags=--single-threaded`) that half moves into the client column. The background
 * compiler competes with the server for the cores, so all the CPU a client uses counts, not only
 * its critical path.
 *
 * Usage, with a private Dovecot filled by `fill.ts` (see scripts/servers/README.md):
 *
 * ```sh
 * bash scripts/servers/dovecot.sh start /tmp/dv        # writes /tmp/dv/env
 * deno run -A scripts/bench/fill.ts /tmp/dv/home/imaptest/Maildir --messages 200
 * chown -R 65534:65534 /tmp/dv/home
 * deno task bench:phases /tmp/dv/env ours   # or raw; --noop, --trips N, --block B
 * ```
 *
 * Run each side several times, in turns: single runs move by ±20 % on a small machine.
 *
 * @module
 */

import { IMAP4 } from "../../mod.ts";
import { getTransports } from "../../transports/mod.ts";
import type { Transport, TransportFactory } from "../../transports/transport.ts";
import { rawClient } from "./client_cost.ts";

/** Round-trip timestamps, filled in by the instrumented reads and writes. */
class Clock {
  on = false;
  #wroteAt = 0;
  #readAt = 0;
  readonly server: number[] = [];
  readonly client: number[] = [];

  wrote(): void {
    const now = performance.now();
    if (this.on && this.#readAt > 0) this.client.push(now - this.#readAt);
    this.#wroteAt = now;
  }

  read(): void {
    const now = performance.now();
    if (this.on) this.server.push(now - this.#wroteAt);
    this.#readAt = now;
  }
}

/** Nanoseconds of CPU so far: this process's main thread, its other threads, the server. */
function cpuNow(): { main: number; others: number; server: number } {
  const ran = (path: string) => {
    try {
      return Number(Deno.readTextFileSync(path).split(" ")[0]);
    } catch {
      return 0; // A thread or process that ended meanwhile.
    }
  };
  let main = 0;
  let others = 0;
  for (const t of Deno.readDirSync("/proc/self/task")) {
    const ns = ran(`/proc/self/task/${t.name}/schedstat`);
    if (t.name === String(Deno.pid)) main += ns;
    else others += ns;
  }
  let server = 0;
  for (const p of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(p.name)) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${p.name}/comm`).trim() !== "imap") {
        continue;
      }
      for (const t of Deno.readDirSync(`/proc/${p.name}/task`)) {
        server += ran(`/proc/${p.name}/task/${t.name}/schedstat`);
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return { main, others, server };
}

/** The transport for the session, wrapped to time each read and write. */
async function timedTransports(clock: Clock): Promise<TransportFactory> {
  const real = await getTransports();
  const wrap = (t: Transport): Transport => ({
    kind: t.kind,
    close: () => t.close(),
    read: (buf) =>
      t.read(buf).then((n) => {
        clock.read();
        return n;
      }),
    write: (data) => {
      clock.wrote();
      return t.write(data);
    },
  });
  return { ...real, connect: async (o) => wrap(await real.connect(o)) };
}

/** This project's IMAP4. */
async function ours(env: Record<string, string>, transports: TransportFactory) {
  const M = await IMAP4.connect(env.IMAP_HOST, Number(env.IMAP_PORT), { transports });
  await M.login(env.IMAP_USER, env.IMAP_PASS);
  await M.select();
  return {
    step: (i: number, noop: boolean) =>
      noop ? M.noop() : M.uid("FETCH", String((i % 150) + 1), "(FLAGS)"),
    close: () => M.logout(),
  };
}

/** The least a client can do (bench:client's raw loop), over the same timed transport. */
async function raw(env: Record<string, string>, transports: TransportFactory) {
  const t = await transports.connect({ hostname: env.IMAP_HOST, port: Number(env.IMAP_PORT) });
  const { greeting, command } = rawClient(t);
  await greeting();
  await command(`LOGIN ${env.IMAP_USER} ${env.IMAP_PASS}`);
  await command("SELECT INBOX");
  return {
    step: (i: number, noop: boolean) =>
      command(noop ? "NOOP" : `UID FETCH ${(i % 150) + 1} (FLAGS)`),
    close: () => t.close(),
  };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function option(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  if (i === -1) return fallback;
  const n = Number(args[i + 1]);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${name} needs a positive whole number`);
  }
  return n;
}

if (import.meta.main) {
  const [envFile, impl = "ours", ...rest] = Deno.args;
  if (!envFile || (impl !== "ours" && impl !== "raw")) {
    console.error(
      "Usage: phases.ts ENV_FILE [ours|raw] [--noop] [--trips N] [--block B]",
    );
    Deno.exit(2);
  }
  const env: Record<string, string> = {};
  for (const line of Deno.readTextFileSync(envFile).split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  const trips = option(rest, "--trips", 2000);
  const block = option(rest, "--block", 500);
  const noop = rest.includes("--noop");
  const clock = new Clock();
  const session = await (impl === "ours" ? ours : raw)(env, await timedTransports(clock));
  const before = cpuNow();
  const start = performance.now();
  clock.on = true;
  for (let i = 0; i < trips; i++) await session.step(i, noop);
  clock.on = false;
  const ms = performance.now() - start;
  const after = cpuNow();
  await session.close();

  const µs = (x: number) => (x * 1000).toFixed(1).padStart(7);
  console.log(
    `${impl}, ${trips} × ${noop ? "NOOP" : "UID FETCH"}: ${µs(ms / trips)} µs each`,
  );
  console.log("  commands        server µs  client µs   (means per block)");
  for (let from = 0; from < trips; from += block) {
    const to = Math.min(trips, from + block);
    const range = `${from}–${to}`.padEnd(14);
    console.log(
      `  ${range}${µs(mean(clock.server.slice(from, to)))}    ${
        µs(mean(clock.client.slice(from, to)))
      }`,
    );
  }
  const cpu = (k: "main" | "others" | "server") => ((after[k] - before[k]) / 1e6).toFixed(1);
  console.log(
    `  CPU ms: main thread ${cpu("main")}, other threads ${cpu("others")}, server ${cpu("server")}`,
  );
}
