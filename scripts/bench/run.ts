/**
 * The benchmark: this project against the raw-socket bound, CPython's imaplib and imapflow.
 *
 * `deno task bench` starts a private Dovecot (scripts/servers/dovecot.sh), fills its INBOX with
 * the deterministic generated mailbox (generate.ts, fill.ts), warms the server up, and then runs
 * every workload × implementation × transport as a fresh process under `/usr/bin/time -v`, for
 * several rounds in rotated order. It prints a table of medians with min–max, the ratio to the raw
 * bound measured in the same run, and peak RSS, and (for a full run) writes it to BENCHMARKS.md.
 *
 * Options: `--messages N` (5000), `--rounds R` (7), `--short-rounds R` (21: the rounds of the
 * short workloads, the round trips and headers and structure, whose medians move most with the
 * machine's noise; `--trip-rounds` is the old spelling), `--trips T` (2000),
 * `--quick` (500 messages, 1 round), `--seed S`, `--only raw,ours,imaplib,imapflow`, `--workloads bulk,meta,...`,
 * `--no-tls`, `--write` / `--no-write` (BENCHMARKS.md; default: write unless `--quick`),
 * `--output FILE`, `--keep` (leave the server's folder in place).
 *
 * @module
 */

import { fillMaildir } from "./fill.ts";
import { DEFAULT_SEED } from "./generate.ts";
import { type FramingPoint, type FramingReport, growth } from "./framing.ts";
import { type RunResult, type Workload, WORKLOADS } from "./runners/_common.ts";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const BENCH = `${ROOT}/scripts/bench`;
const TIME = "/usr/bin/time";

/** The implementations, each run as its own process: `argv WORKLOAD plain|tls`. */
const IMPLS = {
  raw: {
    label: "raw socket (Deno)",
    argv: ["deno", "run", "--allow-all", "runners/raw.ts"],
  },
  ours: {
    label: "imaplib-ts (this project)",
    argv: ["deno", "run", "--allow-all", "runners/ours.ts"],
  },
  imaplib: {
    label: "CPython imaplib",
    argv: ["python3", "runners/python_imaplib.py"],
  },
  imapflow: {
    label: "imapflow (Node)",
    argv: ["node", "runners/imapflow.mjs"],
  },
} as const;

type ImplId = keyof typeof IMPLS;

/** Which implementations run each workload; the raw bound of the first three is raw "bulk". */
const CASES: Record<Workload, ImplId[]> = {
  bulk: ["raw", "ours", "imaplib", "imapflow"],
  bulk_stream: ["ours", "imapflow"],
  bulk_fetchall: ["imapflow"],
  meta: ["raw", "ours", "imaplib", "imapflow"],
  uid: ["raw", "ours", "imaplib", "imapflow"],
  uid_pipelined: ["raw", "ours", "imapflow"],
  noop: ["raw", "ours", "imaplib", "imapflow"],
};

/**
 * The short workloads: a few hundred milliseconds each or less, judged against tight targets
 * (1.05× for the round trips, 1.20× for headers and structure) on a machine whose noise between
 * runs is larger than that, so they get more rounds. (In 7 rounds, the raw bound of headers and
 * structure came out at 65-79 ms in some and 110-128 ms in others, and its median with them.)
 */
const SHORT_WORKLOADS: ReadonlySet<Workload> = new Set([
  "meta",
  "uid",
  "uid_pipelined",
  "noop",
]);

/** How many rounds a workload runs. */
function roundsOf(w: Workload, opts: Options): number {
  return SHORT_WORKLOADS.has(w) ? Math.max(opts.rounds, opts.shortRounds) : opts.rounds;
}

/** The rounds, as the report states them. */
function roundsText(opts: Options): string {
  const short = Math.max(opts.rounds, opts.shortRounds);
  return short === opts.rounds
    ? `${opts.rounds} round(s)`
    : `${opts.rounds} round(s), ${short} for the round trips and headers and structure`;
}

/** The workload whose raw run is the bound of a workload. */
const RAW_OF: Record<Workload, Workload> = {
  bulk: "bulk",
  bulk_stream: "bulk",
  bulk_fetchall: "bulk",
  meta: "meta",
  uid: "uid",
  uid_pipelined: "uid_pipelined",
  noop: "noop",
};

/** How an implementation's row is named when it runs a workload in its own way. */
const VARIANT: Partial<Record<string, string>> = {
  "bulk/imapflow": "fetch() iterator",
  "bulk_stream/imapflow": "fetch() iterator",
  "bulk_stream/ours": "async-iterable FETCH",
  "bulk_fetchall/imapflow": "fetchAll()",
  "uid/imapflow": "fetchOne()",
  "uid_pipelined/raw": "all commands in one write",
  "uid_pipelined/ours": "Promise.all of uid()",
  "uid_pipelined/imapflow": "Promise.all of fetchOne()",
};

interface Options {
  messages: number;
  rounds: number;
  /** Rounds of the short workloads (at least `rounds`). */
  shortRounds: number;
  trips: number;
  seed: number;
  quick: boolean;
  only: ImplId[];
  workloads: Workload[];
  transports: ("plain" | "tls")[];
  write: boolean;
  output: string;
  keep: boolean;
}

function parseOptions(args: string[]): Options {
  const opts: Options = {
    messages: 5000,
    rounds: 7,
    shortRounds: 21,
    trips: 2000,
    seed: DEFAULT_SEED,
    quick: false,
    only: Object.keys(IMPLS) as ImplId[],
    workloads: [...WORKLOADS],
    transports: ["plain", "tls"],
    write: true,
    output: `${ROOT}/BENCHMARKS.md`,
    keep: false,
  };
  let write: boolean | undefined;
  const number = (name: string, value: string | undefined) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new TypeError(`Option ${name} needs a positive integer`);
    }
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    switch (arg) {
      case "--messages":
        opts.messages = number(arg, args[++i]);
        break;
      case "--rounds":
        opts.rounds = number(arg, args[++i]);
        break;
      case "--short-rounds":
      case "--trip-rounds":
        opts.shortRounds = number(arg, args[++i]);
        break;
      case "--trips":
        opts.trips = number(arg, args[++i]);
        break;
      case "--seed":
        opts.seed = number(arg, args[++i]);
        break;
      case "--quick":
        opts.quick = true;
        opts.messages = 500;
        opts.rounds = 1;
        opts.shortRounds = 1;
        break;
      case "--only":
        opts.only = (args[++i] ?? "").split(",").map((s) => {
          if (!(s in IMPLS)) {
            throw new TypeError(`Implementation "${s}" is unknown`);
          }
          return s as ImplId;
        });
        // The ratios need the bound.
        if (!opts.only.includes("raw")) opts.only.unshift("raw");
        break;
      case "--workloads":
        opts.workloads = (args[++i] ?? "").split(",").map((s) => {
          if (!(WORKLOADS as readonly string[]).includes(s)) {
            throw new TypeError(`Workload "${s}" is unknown`);
          }
          return s as Workload;
        });
        break;
      case "--no-tls":
        opts.transports = ["plain"];
        break;
      case "--write":
        write = true;
        break;
      case "--no-write":
        write = false;
        break;
      case "--output":
        opts.output = args[++i];
        write ??= true;
        break;
      case "--keep":
        opts.keep = true;
        break;
      default:
        throw new TypeError(
          `Option "${arg}" is unknown (see the header of scripts/bench/run.ts)`,
        );
    }
  }
  opts.write = write ?? !opts.quick;
  // A bulk variant is measured against raw bulk, so make sure raw bulk runs.
  const needed = new Set(opts.workloads.map((w) => RAW_OF[w]));
  for (const w of needed) {
    if (!opts.workloads.includes(w)) opts.workloads.push(w);
  }
  opts.workloads.sort((a, b) => WORKLOADS.indexOf(a) - WORKLOADS.indexOf(b));
  return opts;
}

async function output(
  cmd: string,
  args: string[],
  cwd = ROOT,
): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd,
      stdin: "null",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success ? text : "";
  } catch {
    return "";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function ensureTime(): Promise<void> {
  if (await exists(TIME)) return;
  console.error(
    '/usr/bin/time is missing: installing the Debian package "time"',
  );
  const apt = await new Deno.Command("apt-get", {
    args: ["install", "-y", "time"],
  }).output();
  if (!apt.success || !(await exists(TIME))) {
    throw new Error(
      "Program /usr/bin/time is missing and could not be installed (apt-get install time)",
    );
  }
}

async function ensureImapflow(): Promise<string | null> {
  const pkg = `${BENCH}/node_modules/imapflow/package.json`;
  if (!(await exists(pkg))) {
    console.error(
      "Installing imapflow into scripts/bench/node_modules (npm install)",
    );
    const npm = await new Deno.Command("npm", {
      args: ["install", "--prefix", BENCH, "--no-audit", "--no-fund"],
      stdout: "inherit",
      stderr: "inherit",
    }).output().catch(() => null);
    if (!npm?.success) return null;
  }
  try {
    return JSON.parse(await Deno.readTextFile(pkg)).version as string;
  } catch {
    return null;
  }
}

/** The server's settings, from DIR/env. */
type ServerEnv = Record<string, string>;

async function startDovecot(dir: string): Promise<ServerEnv> {
  const script = `${ROOT}/scripts/servers/dovecot.sh`;
  if (!(await exists(script))) throw new Error(`Script "${script}" is missing`);
  const start = await new Deno.Command(script, {
    args: ["start", dir],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (!start.success) {
    throw new Error(`Script "dovecot.sh start" failed (exit ${start.code})`);
  }
  const env: ServerEnv = {};
  for (const line of (await Deno.readTextFile(`${dir}/env`)).split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

async function stopDovecot(dir: string): Promise<void> {
  await new Deno.Command(`${ROOT}/scripts/servers/dovecot.sh`, {
    args: ["stop", dir],
    stdout: "null",
    stderr: "inherit",
  }).output().catch(() => {});
}

/** One process run: its result line and peak RSS. */
interface Sample {
  result: RunResult | null;
  rssKiB: number | null;
  failure?: string;
}

async function runOnce(
  impl: ImplId,
  workload: Workload,
  transport: string,
  env: Record<string, string>,
  measure = true,
): Promise<Sample> {
  const argv = [...IMPLS[impl].argv, workload, transport];
  const [cmd, ...args] = measure ? [TIME, "-v", ...argv] : argv;
  const child = new Deno.Command(cmd, {
    args,
    cwd: BENCH,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(600_000),
  });
  const out = await child.output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
  const line = stdout.split("\n").reverse().find((l) => l.startsWith("{"));
  let result: RunResult | null = null;
  try {
    if (line) result = JSON.parse(line);
  } catch {
    // Reported below as a failure.
  }
  const sample: Sample = { result, rssKiB: rss ? Number(rss[1]) : null };
  if (!result) {
    const tail = stderr.split("\n").filter((l) => l.trim() && !l.startsWith("\t")).slice(-3);
    sample.failure = `exit ${out.code}, no result line: ${tail.join(" / ").slice(0, 300)}`;
  } else if (result.error) sample.failure = result.error;
  else if (!result.skipped && !result.ok) {
    sample.failure = "counts did not match the mailbox";
  }
  return sample;
}

/** All samples of one workload × transport × implementation. */
interface Row {
  ms: number[];
  /** The time of each round, by round (for ratios of runs made next to each other). */
  byRound: (number | undefined)[];
  /** For round trips one after another: the time of each round's first half, by round. */
  firstByRound: (number | undefined)[];
  rssKiB: number[];
  skipped?: string;
  failures: string[];
}

/**
 * The median of the per-round ratios of `row` to `base`: each round runs the implementations of
 * a workload one after another, so a round's ratio cancels most of the machine's drift between
 * rounds (the plain ratio of medians does not).
 */
function pairedRatio(
  row: Row | undefined,
  base: Row | undefined,
): number | null {
  const ratios = pairedRatios(row, base);
  return ratios.length ? median(ratios) : null;
}

/** Each round's own ratio of `row` to `base` (rounds where either has no time are left out). */
function pairedRatios(row: Row | undefined, base: Row | undefined): number[] {
  const ratios: number[] = [];
  if (!row || !base) return ratios;
  row.byRound.forEach((ms, i) => {
    const b = base.byRound[i];
    if (ms !== undefined && b !== undefined && b > 0) ratios.push(ms / b);
  });
  return ratios;
}

function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** The `q` quantile of `xs`, interpolated between the two nearest values. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return lo + 1 < s.length ? s[lo] + (s[lo + 1] - s[lo]) * (at - lo) : s[lo];
}

function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

const TITLES: Record<Workload, (o: Options, mb: string) => string> = {
  bulk: (o, mb) => `FETCH 1:* BODY.PEEK[] (${o.messages} messages, ${mb} MB)`,
  bulk_stream: () => "the same, streamed (each message as it arrives)",
  bulk_fetchall: () => "the same, imapflow fetchAll()",
  meta: () => "FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)",
  uid: (o) => `${o.trips} × UID FETCH n (FLAGS), one after another`,
  uid_pipelined: (o) => `${o.trips} × UID FETCH n (FLAGS), all issued at once`,
  noop: (o) => `${o.trips} × NOOP, one after another`,
};

function key(workload: string, transport: string, impl: string): string {
  return `${workload}/${transport}/${impl}`;
}

function table(
  rows: Map<string, Row>,
  opts: Options,
  transport: string,
  mb: string,
): string {
  const notes: string[] = [];
  const note = (text: string) => {
    if (!notes.includes(text)) notes.push(text);
    return notes.indexOf(text) + 1;
  };
  const lines = [
    "| workload | implementation | median ms (min–max) | × raw | × raw, paired | peak RSS MiB |",
    "|---|---|---:|---:|---:|---:|",
  ];
  for (const w of opts.workloads) {
    const rawRow = rows.get(key(RAW_OF[w], transport, "raw"));
    const rawMedian = rawRow?.ms.length ? median(rawRow.ms) : null;
    for (const impl of CASES[w]) {
      if (!opts.only.includes(impl)) continue;
      const row = rows.get(key(w, transport, impl));
      if (!row) continue;
      const variant = VARIANT[`${w}/${impl}`];
      const name = IMPLS[impl].label + (variant ? `, ${variant}` : "");
      let cells: string[];
      if (row.ms.length === 0) {
        const why = row.skipped ?? `failed: ${row.failures[0] ?? "no result"}`;
        cells = [why.replaceAll("|", "\\|"), "–", "–", "–"];
      } else {
        const m = median(row.ms);
        const range = `${formatMs(Math.min(...row.ms))}–${formatMs(Math.max(...row.ms))}`;
        const ratio = rawMedian ? `${(m / rawMedian).toFixed(2)}×` : "–";
        const paired = pairedRatio(row, rawRow);
        const pairedCell = paired === null ? "–" : `${paired.toFixed(2)}×`;
        const rss = row.rssKiB.length ? (Math.max(...row.rssKiB) / 1024).toFixed(0) : "–";
        const failed = row.failures.length
          ? ` ⚠ ${row.failures.length} run(s) failed the check [${note(row.failures[0])}]`
          : "";
        cells = [`${formatMs(m)} (${range})${failed}`, ratio, pairedCell, rss];
      }
      lines.push(`| ${TITLES[w](opts, mb)} | ${name} | ${cells.join(" | ")} |`);
    }
  }
  if (notes.length) lines.push("");
  notes.forEach((text, i) => lines.push(`[${i + 1}] ${text.replaceAll("|", "\\|")}  `));
  return lines.join("\n");
}

/** A row's first or second halves by round (see halfOf in runners/_common.ts). */
function halves(row: Row, second: boolean): Row {
  const byRound = row.byRound.map((ms, i) => {
    const first = row.firstByRound[i];
    return ms === undefined || first === undefined ? undefined : second ? ms - first : first;
  });
  const ms = byRound.filter((x): x is number => x !== undefined);
  return { ...row, ms, byRound, firstByRound: [] };
}

/**
 * The round trips one after another, each half of the commands on its own: the first half of a
 * fresh process includes its runtime's warm-up, the second shows a command's cost after it.
 */
function halvesTable(rows: Map<string, Row>, opts: Options): string {
  const lines = [
    "| workload | transport | implementation | first half: median ms | × raw, paired | " +
    "second half: median ms | × raw, paired |",
    "|---|---|---|---:|---:|---:|---:|",
  ];
  for (const w of opts.workloads) {
    for (const t of opts.transports) {
      const rawRow = rows.get(key(w, t, "raw"));
      if (!rawRow || rawRow.firstByRound.every((x) => x === undefined)) continue;
      for (const impl of CASES[w]) {
        const row = rows.get(key(w, t, impl));
        if (!row || row.firstByRound.every((x) => x === undefined)) continue;
        const cells = [false, true].flatMap((second) => {
          const mine = halves(row, second);
          const paired = pairedRatio(mine, halves(rawRow, second));
          return [formatMs(median(mine.ms)), paired === null ? "–" : `${paired.toFixed(2)}×`];
        });
        const trips = `${Math.floor(opts.trips / 2)} × ${w === "uid" ? "UID FETCH" : "NOOP"}`;
        lines.push(`| ${trips} | ${t} | ${IMPLS[impl].label} | ${cells.join(" | ")} |`);
      }
    }
  }
  return lines.length > 2 ? lines.join("\n") : "";
}

/** The targets for this project, checked against the same run's raw bound. */
function targets(rows: Map<string, Row>, opts: Options): string {
  const lines = [
    "| target | transport | measured | met | paired | paired, middle half of rounds |",
    "|---|---|---:|:---:|---:|---:|",
  ];
  // Set when a row a check uses failed its data check: its time does not count as met.
  let flagged = false;
  const med = (w: Workload, t: string, impl: ImplId) => {
    const row = rows.get(key(w, t, impl));
    if (row?.failures.length) flagged = true;
    return row?.ms.length ? median(row.ms) : null;
  };
  const pair = (
    w: Workload,
    base: Workload,
    t: string,
    impl: ImplId,
    baseImpl: ImplId,
  ) => pairedRatios(rows.get(key(w, t, impl)), rows.get(key(base, t, baseImpl)));
  /** A ratio of `impl` on `w` to `baseImpl` on `base`: of medians, and paired by round. */
  const vs = (
    w: Workload,
    base: Workload,
    impl: ImplId,
    baseImpl: ImplId,
    limit: number,
  ): (t: string) => [number | null, number, string, number[]] =>
  (t) => [
    ratio(med(w, t, impl), med(base, t, baseImpl)),
    limit,
    "×",
    pair(w, base, t, impl, baseImpl),
  ];
  const checks: [
    string,
    (t: string) => [number | null, number, string, number[]],
  ][] = [
    ["bulk FETCH ≤ 1.10× raw", vs("bulk", "bulk", "ours", "raw", 1.1)],
    [
      "headers and structure ≤ 1.20× raw",
      vs("meta", "meta", "ours", "raw", 1.2),
    ],
    [
      "UID FETCH round trips ≤ 1.05× raw",
      vs("uid", "uid", "ours", "raw", 1.05),
    ],
    ["NOOP round trips ≤ 1.05× raw", vs("noop", "noop", "ours", "raw", 1.05)],
    [
      "pipelined ≤ 0.35× one after another",
      vs("uid_pipelined", "uid", "ours", "ours", 0.35),
    ],
    ["streamed bulk FETCH peak RSS < 80 MB", (t) => {
      const row = rows.get(key("bulk_stream", t, "ours"));
      if (row?.failures.length) flagged = true;
      const peak = row?.ms.length && row.rssKiB.length
        ? Math.max(...row.rssKiB) * 1024 / 1e6
        : null;
      return [peak, 80, " MB", []];
    }],
  ];
  for (const t of opts.transports) {
    for (const [name, check] of checks) {
      flagged = false;
      const [value, limit, unit, paired] = check(t);
      const measured = value === null ? "not measured" : `${value.toFixed(2)}${unit}`;
      const met = value === null
        ? "–"
        : flagged
        ? "no (wrong data)"
        : value <= limit
        ? "yes"
        : "no";
      const pairedCell = paired.length ? `${median(paired).toFixed(2)}${unit}` : "–";
      // How far the rounds spread: one run's figure moves by about this much.
      const spread = paired.length
        ? `${quantile(paired, 0.25).toFixed(2)}–${quantile(paired, 0.75).toFixed(2)}${unit}`
        : "–";
      lines.push(`| ${name} | ${t} | ${measured} | ${met} | ${pairedCell} | ${spread} |`);
    }
  }
  return lines.join("\n");
}

/** The offline framing figures, or why there are none. */
function framingTable(f: FramingReport | null): string {
  if (f === null) {
    return "Not measured: `framing.ts` failed (its error went to the bench's standard error).";
  }
  const row = (reads: string) => (p: FramingPoint) =>
    `| ${reads} | ${p.messages} | ${(p.bytes / 1e6).toFixed(1)} | ${formatMs(p.ms)} | ` +
    `${p.nsPerByte.toFixed(2)} | ${(p.bytes / (p.ms / 1000) / 1e6).toFixed(0)} |`;
  return [
    "| reads of | messages | MB | median ms | ns per byte | MB/s |",
    "|---|---:|---:|---:|---:|---:|",
    ...f.large.map(row("64 KiB")),
    ...f.bytewise.map(row("1 byte")),
  ].join("\n");
}

/** The offline targets, as rows of the targets table. */
function framingTargets(f: FramingReport | null): string {
  const row = (name: string, value: number | null, unit: string, met: (v: number) => boolean) =>
    `| ${name} | offline | ${value === null ? "not measured" : value.toFixed(2) + unit} | ${
      value === null ? "–" : met(value) ? "yes" : "no"
    } | – | – |`;
  const linear = (v: number) => v <= 1.25;
  return [
    row(
      "framing ≥ 1 GB/s, bulk answer in 64 KiB reads",
      f?.gbPerSecond ?? null,
      " GB/s",
      (v) => v >= 1,
    ),
    row(
      "framing time linear in size, 64 KiB reads (per byte, all ÷ a quarter)",
      f ? growth(f.large) : null,
      "×",
      linear,
    ),
    row(
      "framing time linear in size, 1-byte reads (per byte, largest ÷ smallest)",
      f ? growth(f.bytewise) : null,
      "×",
      linear,
    ),
  ].join("\n");
}

function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 ? null : a / b;
}

async function loadAverage(): Promise<string> {
  const text = await Deno.readTextFile("/proc/loadavg").catch(() => "");
  return text.split(" ")[0] || "unknown";
}

async function machine(): Promise<string> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const cpu = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? "unknown CPU";
  const meminfo = await Deno.readTextFile("/proc/meminfo").catch(() => "");
  const memKiB = Number(/MemTotal:\s*(\d+)/.exec(meminfo)?.[1] ?? 0);
  const kernel = await output("uname", ["-sr"]);
  return `${cpu}, ${navigator.hardwareConcurrency} logical CPUs, ` +
    `${(memKiB / 1024 / 1024).toFixed(0)} GiB RAM, ${kernel}`;
}

async function main(): Promise<void> {
  const opts = parseOptions(Deno.args);
  const started = new Date();
  const loadBefore = await loadAverage();
  await ensureTime();
  const versions: Record<string, string> = {
    deno: Deno.version.deno,
    node: (await output("node", ["--version"])).replace(/^v/, "") ||
      "not installed",
    python: (await output("python3", ["--version"])).replace(/^Python /, "") ||
      "not installed",
  };
  const unavailable = new Map<ImplId, string>();
  if (opts.only.includes("imapflow")) {
    const v = await ensureImapflow();
    if (v) versions.imapflow = v;
    else {unavailable.set(
        "imapflow",
        "unavailable: imapflow could not be installed (npm)",
      );}
  }
  if (versions.python === "not installed") {
    unavailable.set("imaplib", "unavailable: no python3");
  }
  if (opts.only.includes("ours")) {
    const probe = await output("deno", [
      "run",
      "--allow-all",
      `${BENCH}/runners/ours.ts`,
      "probe",
    ]);
    const status = probe ? JSON.parse(probe) : { ok: false, skipped: "unavailable: probe failed" };
    if (!status.ok) unavailable.set("ours", status.skipped);
  }
  for (const [impl, why] of unavailable) {
    console.error(`${IMPLS[impl].label}: ${why}`);
  }

  // Offline first, in a process of its own, while no server competes for the cores.
  console.error("Framing offline (no server)");
  const framingRun = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      `${BENCH}/framing.ts`,
      "--messages",
      String(opts.messages),
      "--seed",
      String(opts.seed),
      "--json",
    ],
    stdin: "null",
    stderr: "inherit",
  }).output();
  const framing: FramingReport | null = framingRun.success
    ? JSON.parse(new TextDecoder().decode(framingRun.stdout))
    : null;

  const tmp = await Deno.makeTempDir({ prefix: "imaplib-bench-" });
  // The server's unprivileged users must reach the instance folder through this one.
  await Deno.chmod(tmp, 0o755);
  const dir = `${tmp}/dovecot`;
  const stop = async () => {
    await stopDovecot(dir);
    if (!opts.keep) await Deno.remove(tmp, { recursive: true }).catch(() => {});
  };
  const onSignal = () => {
    stop().finally(() => Deno.exit(130));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const server = await startDovecot(dir);
    versions.dovecot = server.IMAP_VERSION ?? "unknown";
    const user = server.IMAP_USER ?? "imaptest";
    console.error(
      `Filling ${opts.messages} messages into ${dir}/home/${user}/Maildir`,
    );
    const fill = await fillMaildir(
      `${dir}/home/${user}/Maildir`,
      opts.messages,
      opts.seed,
    );
    const mb = (fill.wireBytes / 1e6).toFixed(1);
    const env: Record<string, string> = {
      ...Deno.env.toObject(),
      ...server,
      BENCH_MESSAGES: String(fill.messages),
      BENCH_EXPECT_BYTES: String(fill.wireBytes),
      BENCH_TRIPS: String(opts.trips),
    };
    // Warm-up (not measured): Dovecot indexes the new files and caches the fetched fields, and
    // the page cache holds the maildir, so the first measured process is not penalised.
    for (const w of ["bulk", "meta", "meta", "uid"] as const) {
      const warm = await runOnce("raw", w, "plain", env, false);
      if (warm.failure) {
        throw new Error(`Warm-up "${w}" failed: ${warm.failure}`);
      }
    }

    const rows = new Map<string, Row>();
    const pairs = opts.workloads.flatMap((w) => opts.transports.map((t) => [w, t] as const));
    const total = pairs.reduce(
      (n, [w]) =>
        n +
        roundsOf(w, opts) *
          CASES[w].filter((i) => opts.only.includes(i) && !unavailable.has(i))
            .length,
      0,
    );
    const allRounds = Math.max(...pairs.map(([w]) => roundsOf(w, opts)));
    let done = 0;
    for (let round = 0; round < allRounds; round++) {
      for (const [w, t] of pairs) {
        if (round >= roundsOf(w, opts)) continue;
        const impls = CASES[w].filter((i) => opts.only.includes(i));
        // Rotate the order each round, so no implementation always runs first (or last).
        const order = impls.map((_, i) => impls[(i + round) % impls.length]);
        for (const impl of order) {
          const row = rows.get(key(w, t, impl)) ??
            { ms: [], byRound: [], firstByRound: [], rssKiB: [], failures: [] };
          rows.set(key(w, t, impl), row);
          if (unavailable.has(impl)) {
            row.skipped = unavailable.get(impl);
            continue;
          }
          const sample = await runOnce(impl, w, t, env);
          done++;
          const r = sample.result;
          if (r?.skipped) row.skipped = r.skipped;
          else {
            if (sample.failure) row.failures.push(sample.failure);
            // A run that finished but received the wrong data still shows its time, flagged.
            if (r?.ms != null) {
              row.ms.push(r.ms);
              row.byRound[round] = r.ms;
              if (r.firstHalfMs != null) row.firstByRound[round] = r.firstHalfMs;
              if (sample.rssKiB !== null) row.rssKiB.push(sample.rssKiB);
            }
          }
          const what = r?.skipped ?? sample.failure ??
            `${formatMs(r?.ms ?? 0)} ms`;
          console.error(
            `[${done}/${total}] round ${round + 1} ${w} ${t} ${impl}: ${what}`,
          );
        }
      }
    }

    const command = `deno task bench${Deno.args.length ? " " + Deno.args.join(" ") : ""}`;
    const sections = opts.transports.map((t) =>
      `### ${t === "plain" ? "Plain TCP" : "Implicit TLS"}\n\n${table(rows, opts, t, mb)}`
    );
    const byHalf = halvesTable(rows, opts);
    const report = [
      "# Benchmarks",
      "",
      "Generated by `scripts/bench/run.ts`; rerun it to refresh this file.",
      "",
      `- Command: \`${command}\``,
      `- Date: ${started.toISOString().slice(0, 16).replace("T", " ")} UTC ` +
      `(${((Date.now() - started.getTime()) / 60_000).toFixed(1)} min)`,
      `- Machine: ${await machine()}`,
      `- Load average (1 min) at start and end: ${loadBefore} and ${await loadAverage()} ` +
      "(other work on the machine widens the min–max ranges)",
      `- Versions: Deno ${versions.deno}, Node ${versions.node}, Python ${versions.python}, ` +
      `Dovecot ${versions.dovecot}, imapflow ${versions.imapflow ?? "–"}`,
      `- Mailbox: ${fill.messages} generated messages, ${mb} MB (seed ${opts.seed}); ` +
      `${opts.trips} round trips; ${roundsText(opts)}`,
      "",
      "## Results",
      "",
      ...sections.flatMap((s) => [s, ""]),
      ...(byHalf
        ? [
          "### Round trips one after another, by half",
          "",
          "The same runs, the first half of the commands and the second timed apart. Each run is",
          "a fresh process: in its first half V8 (Deno's, Node's) interprets a client's code at",
          "first, then compiles each function after a few hundred calls, so the more code a client",
          "runs for a command, the more it pays there; the second half shows what a command costs",
          "once that is done, as in a process that keeps running. (CPython compiles nothing.)",
          "",
          byHalf,
          "",
        ]
        : []),
      "### Framing offline (no server)",
      "",
      framingTable(framing),
      "",
      "## Targets (this project)",
      "",
      targets(rows, opts),
      framingTargets(framing),
      "",
      "## Method",
      "",
      "- Each cell is one fresh process per round (`/usr/bin/time -v`), the implementations of a",
      "  workload in rotated order each round. Times are measured inside the process and cover the",
      "  workload only: connect, LOGIN and SELECT happen before the clock starts, LOGOUT after.",
      "  Peak RSS is the whole process (runtime included), the largest over the rounds.",
      "- The raw bound (`runners/raw.ts`) sends the command bytes and counts the answer up to the",
      "  tagged OK, framing lines and literals and decoding nothing. × raw divides a median by the",
      "  raw median of the same workload and transport from the same run (the bulk variants by raw",
      "  bulk). × raw, paired is the median over the rounds of each round's own ratio: a round",
      "  runs the implementations one after another, so it cancels most of the machine's drift",
      "  between rounds. The targets are judged on × raw; the paired figure is shown beside it,",
      "  with the 25th to 75th percentile of the rounds' own ratios: how much one round moves.",
      "- Every run checks what it received: the message count, and for bulk FETCH the sum of the",
      "  literal sizes against the generated mailbox; a run that does not match counts as failed.",
      "- The mailbox is written straight into the maildir by `fill.ts` from the seeded generator",
      "  (`generate.ts`): Received chains, DKIM, RFC 2047 names, text/plain and",
      "  multipart/alternative in quoted-printable UTF-8, base64 attachments, 20 KB ±30 %.",
      "  The server is warmed up (index, cache, page cache) before the first measured run.",
      "- Framing offline (`framing.ts`, one process, before the server starts): the reader alone on",
      "  the bulk FETCH answer of the same mailbox, served from memory; the median of 7 passes",
      "  after one unmeasured pass, the sizes taken in rotated order each pass. Time is linear when",
      "  the time per byte of the largest size is within 1.25× of the smallest's (4× the bytes: a",
      "  reader that rescans or recopies its buffer would show about 4×).",
      "- A quick check: `deno task bench --quick` (500 messages, 1 round, not written here).",
      "  Server-less micro-benchmarks of the wire layer: `deno bench tests/bench/`. The client's",
      "  own cost per round trip, without server or network: `deno task bench:client` (its header",
      "  shows how to count instructions with callgrind, a figure the machine's noise leaves alone).",
      "",
    ].join("\n");
    console.log(report);
    if (opts.write) {
      await Deno.writeTextFile(opts.output, report);
      console.error(`Wrote ${opts.output}`);
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await stop();
  }
}

if (import.meta.main) await main();
