/**
 * The compatibility battery (DESIGN §6): scenarios of imaplib calls run through {@link IMAP4}
 * against a live server, each call kept as data (`*.calls.json` beside a recorded transcript),
 * and the conformance check that re-runs those calls against a replay of the transcript and
 * compares every outcome with what the transcript implies.
 *
 * A scenario is one connection. The `compat_*` scenarios make the runner's table (command, result,
 * time, note); the others exist for fixtures (error paths, STARTTLS, implicit TLS, IDLE with a
 * message arriving, APPEND with literals, large FETCH literals, the stream transport).
 * Runtime-neutral: connecting, recording and delivering are the caller's.
 *
 * @example
 * ```ts ignore
 * import { IMAP4 } from "../../mod.ts";
 * import { formatTable, runScenario } from "./compat.ts";
 * const result = await runScenario("compat_battery", {
 *   user: "me",
 *   password: "secret",
 *   connect: () => IMAP4.connect("127.0.0.1", 143),
 *   tls: {},
 * });
 * console.log(formatTable(result.rows));
 * ```
 *
 * @module
 */

import type { CommandResult, Datum, IMAP4, TlsConnectOptions } from "../imap4.ts";
import { IMAP4Error } from "../errors.ts";
import { SessionTracker, type Transcript } from "./transcript.ts";
import { equalBytes } from "./_shared.ts";
import { fromLatin1, toBase64 } from "../../utils/bytes.ts";

/** How a scenario reaches the server. */
export type ConnectionKind = "tcp" | "tls" | "stream";

/** A call argument as JSON: a plain value, or a marker the runner resolves. */
export type CallArg =
  | string
  | number
  | boolean
  | null
  | { $secret: "password" | "wrong" }
  | { $bytes: string }
  | { $message: [number, number] }
  | { $plain: string };

/** One imaplib call of a scenario, as stored in `*.calls.json`. */
export interface CallSpec {
  /** The method (`"login"`, `"uid"`...), or `"connect"` (args: the connection kind). */
  method: string;
  /** Its arguments. `idle` takes `[seconds, stopAtType?]`. */
  args: CallArg[];
  /** The label in the runner's table, e.g. `"FETCH (RFC822)"`. */
  label: string;
  /** For `idle`: a message is delivered over another connection once IDLE runs (live only). */
  deliver?: { mailbox: string; message: CallArg };
}

/** What a call gave: its status word, or the error it threw. */
export interface CallOutcome {
  /** The `typ` of the result. */
  typ?: string;
  /** The error class name (`"IMAP4Error"`, `"IMAP4Abort"`, `"TypeError"`...). */
  error?: string;
  /** The status carried by an IMAP4Error (`"NO"`, `"BAD"`). */
  status?: string;
  /** The error message or the last text of the data, for notes. */
  text?: string;
  /**
   * The connection was dropped because the server broke the framing (a line not ended by CRLF):
   * a server error, not a client failure.
   */
  serverFault?: boolean;
}

/** A call as recorded: the spec and what it gave live. */
export interface RecordedCall extends CallSpec {
  /** The live outcome. */
  outcome: CallOutcome;
}

/** A result in the table. */
export type CompatResult = "OK" | "NO" | "BAD" | "not advertised" | "server error" | "FAIL";

/** One row of the runner's table. */
export interface CompatRow {
  /** The scenario it came from. */
  scenario: string;
  /** The command, as a label. */
  command: string;
  /** OK, NO, BAD, not advertised, or FAIL (the client itself failed). */
  result: CompatResult;
  /** Milliseconds the call took. */
  ms: number;
  /** The server's text, or why the row is what it is. */
  note: string;
}

/** What a scenario needs from its caller. */
export interface CompatEnv {
  /** The login name. */
  user: string;
  /** The password (never written to any output). */
  password: string;
  /** Opens the scenario's one connection. */
  connect(kind: ConnectionKind): Promise<IMAP4>;
  /** TLS options for STARTTLS. */
  tls: TlsConnectOptions;
  /** The connection kinds that can be opened (default: only `tcp`). */
  kinds?: readonly ConnectionKind[];
  /** Start with STARTTLS when offered (the runner's `--starttls`). */
  starttls?: boolean;
  /** Delivers a message over another connection (for IDLE); absent when replaying. */
  deliver?(mailbox: string, message: Uint8Array): Promise<void>;
  /** A suffix making scratch mailbox names unique (default: random). */
  nonce?: string;
  /** Password to use for `{ $secret: "wrong" }` (default: a fixed wrong one). */
  wrongPassword?: string;
}

/** The outcome of one scenario. */
export interface ScenarioResult {
  /** The scenario's name. */
  scenario: string;
  /** Every call made, in order. */
  calls: RecordedCall[];
  /** The table rows (calls and capabilities not advertised). */
  rows: CompatRow[];
  /** Whether the client itself failed somewhere. */
  failed: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function fromBase64(text: string): Uint8Array {
  return fromLatin1(atob(text));
}

/**
 * Wraps bytes as a JSON call argument.
 *
 * @param bytes the bytes
 * @returns the `{ $bytes }` marker
 */
export function bytesArg(bytes: Uint8Array): CallArg {
  return { $bytes: toBase64(bytes) };
}

function lastText(data: unknown): string {
  if (!Array.isArray(data) || data.length === 0) return "";
  const d = data[data.length - 1];
  if (typeof d === "string") return d;
  if (Array.isArray(d) && typeof d[0] === "string") return d[0];
  return "";
}

/** Every `[line, literal]` pair in data, nested arrays included (GETQUOTAROOT). */
function literalsIn(data: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (!Array.isArray(data)) return out;
  for (const d of data) {
    if (
      Array.isArray(d) && d.length === 2 && typeof d[0] === "string" && d[1] instanceof Uint8Array
    ) {
      out.push(d[1]);
    } else if (Array.isArray(d)) literalsIn(d, out);
  }
  return out;
}

/** Abort messages that name a framing error of the server's, with the offending bytes. */
const SERVER_FAULT = /^(Connection is closed: )?Cannot parse response: line not terminated by CRLF/;

function classify(e: unknown): CallOutcome {
  const text = e instanceof Error ? e.message : String(e);
  if (e instanceof IMAP4Error) {
    const outcome: CallOutcome = { error: e.name, status: e.status, text };
    if (e.name === "IMAP4Abort" && SERVER_FAULT.test(text)) outcome.serverFault = true;
    return outcome;
  }
  return { error: e instanceof Error ? e.name : "Error", text };
}

/** Whether an outcome means the client itself failed (not a server NO or BAD). */
export function isClientFailure(o: CallOutcome): boolean {
  if (o.error === undefined || o.serverFault) return false;
  if (o.error === "IMAP4Abort" || o.error === "IMAP4ReadOnly") return true;
  return !(o.error === "IMAP4Error" && (o.status === "NO" || o.status === "BAD"));
}

function resultOf(o: CallOutcome): CompatResult {
  if (o.serverFault) return "server error";
  if (isClientFailure(o)) return "FAIL";
  const s = o.error !== undefined ? o.status : o.typ;
  if (s === "NO" || s === "BAD") return s;
  return "OK";
}

/** What a call needs to run, besides the client. */
interface InvokeContext {
  password: string;
  wrongPassword: string;
  tls: TlsConnectOptions;
  deliver?: (mailbox: string, message: Uint8Array) => Promise<void>;
  /** Longest IDLE wait in seconds: a replay sends what arrived during IDLE at once. */
  idleCap?: number;
}

function resolveArg(a: CallArg, ctx: InvokeContext): unknown {
  if (a === null || typeof a !== "object") return a;
  if ("$secret" in a) return a.$secret === "password" ? ctx.password : ctx.wrongPassword;
  if ("$bytes" in a) return fromBase64(a.$bytes);
  if ("$message" in a) return testMessage(a.$message[0], a.$message[1]);
  const user = a.$plain;
  return () => encoder.encode(`\0${user}\0${ctx.password}`);
}

/**
 * Runs one call on a client.
 *
 * @param M the client
 * @param spec the call
 * @param ctx secrets, TLS options and the delivery side channel
 * @returns the result (the data of every IDLE response for `idle`)
 */
async function invoke(M: IMAP4, spec: CallSpec, ctx: InvokeContext): Promise<CommandResult> {
  const args = spec.args.map((a) => resolveArg(a, ctx));
  switch (spec.method) {
    case "starttls":
      return await M.starttls(ctx.tls);
    case "idle": {
      const [seconds, stopAt] = args as [number, string | undefined];
      const idler = await M.idle(Math.min(seconds, ctx.idleCap ?? Infinity));
      const data: Datum[] = [];
      try {
        if (spec.deliver !== undefined && ctx.deliver !== undefined) {
          const msg = resolveArg(spec.deliver.message, ctx);
          await ctx.deliver(spec.deliver.mailbox, msg as Uint8Array);
        }
        for await (const [typ, items] of idler) {
          data.push(...items.map((d) => (typeof d === "string" ? `${typ} ${d}` : d)));
          if (stopAt !== undefined && typ === stopAt) break;
        }
      } finally {
        await idler.done().catch(() => {});
      }
      const [typ, tail] = await idler.done();
      return [typ, [...data, ...tail]];
    }
    default: {
      const fn = (M as unknown as Record<string, unknown>)[spec.method];
      if (typeof fn !== "function") throw new TypeError(`Unknown call "${spec.method}"`);
      return await (fn as (...a: unknown[]) => Promise<CommandResult>).apply(M, args);
    }
  }
}

/** A running scenario: the one connection and the calls made on it. */
export class CompatSession {
  /** The client, once connected. */
  M!: IMAP4;
  /** The calls made so far. */
  readonly calls: RecordedCall[] = [];
  /** The table rows so far. */
  readonly rows: CompatRow[] = [];
  /** Whether the client itself failed. */
  failed = false;
  /** Whether the connection was dropped (every later call is skipped). */
  dead = false;
  #env: CompatEnv;
  #scenario: string;
  #ctx: InvokeContext;

  /**
   * Creates a session.
   *
   * @param scenario the scenario's name
   * @param env how to connect, secrets
   */
  constructor(scenario: string, env: CompatEnv) {
    this.#scenario = scenario;
    this.#env = env;
    this.#ctx = {
      password: env.password,
      wrongPassword: env.wrongPassword ?? "not-the-password",
      tls: env.tls,
      deliver: env.deliver,
    };
  }

  /** The environment. */
  get env(): CompatEnv {
    return this.#env;
  }

  /**
   * Whether the server advertises a capability (or one starting with `prefix=` when it ends in
   * `=`).
   *
   * @param cap e.g. `"IDLE"` or `"THREAD="`
   * @returns whether it is in the client's capabilities
   */
  has(cap: string): boolean {
    const caps = this.M?.capabilities ?? [];
    return cap.endsWith("=") ? caps.some((c) => c.startsWith(cap)) : caps.includes(cap);
  }

  /**
   * Opens the connection and records it as the first call.
   *
   * @param kind tcp, tls or stream
   * @returns whether it worked
   */
  async connect(kind: ConnectionKind): Promise<boolean> {
    const t0 = performance.now();
    let outcome: CallOutcome;
    try {
      this.M = await this.#env.connect(kind);
      outcome = { typ: "OK", text: this.M.welcome };
    } catch (e) {
      outcome = classify(e);
    }
    this.#note({ method: "connect", args: [kind], label: `connect (${kind})` }, outcome, t0);
    return outcome.error === undefined;
  }

  /**
   * Makes one call, records it and its row.
   *
   * @param label the table label
   * @param method the IMAP4 method
   * @param args its arguments
   * @param extra more of the spec (`deliver` for IDLE)
   * @returns the result, or null when it threw
   */
  async call(
    label: string,
    method: string,
    args: CallArg[] = [],
    extra: Partial<CallSpec> = {},
  ): Promise<CommandResult | null> {
    // After the server broke the connection, nothing more can be asked: the scenario ends.
    if (this.dead) return null;
    const spec: CallSpec = { method, args, label, ...extra };
    const t0 = performance.now();
    let result: CommandResult | null = null;
    let outcome: CallOutcome;
    try {
      result = await invoke(this.M, spec, this.#ctx);
      const lits = literalsIn(result[1]);
      const size = lits.reduce((n, l) => n + l.length, 0);
      outcome = {
        typ: result[0],
        text: lits.length > 0 ? `${lits.length} literal(s), ${size} bytes` : lastText(result[1]),
      };
    } catch (e) {
      outcome = classify(e);
    }
    this.#note(spec, outcome, t0);
    return result;
  }

  /**
   * Adds a "not advertised" row for a command that was not tried.
   *
   * @param label the table label
   * @param cap the capability that is missing
   */
  skip(label: string, cap: string): void {
    this.rows.push({
      scenario: this.#scenario,
      command: label,
      result: "not advertised",
      ms: 0,
      note: `no ${cap} capability`,
    });
  }

  #note(spec: CallSpec, outcome: CallOutcome, t0: number): void {
    const ms = Math.round(performance.now() - t0);
    this.calls.push({ ...spec, outcome });
    if (outcome.error === "IMAP4Abort") this.dead = true;
    if (isClientFailure(outcome)) this.failed = true;
    this.rows.push({
      scenario: this.#scenario,
      command: spec.label,
      result: resultOf(outcome),
      ms,
      note: (outcome.error !== undefined ? `${outcome.error}: ` : "") +
        (outcome.text ?? "").replace(/\s+/g, " ").slice(0, 80),
    });
  }

  /** Logs out when still connected (a failed scenario must not leak its connection). */
  async end(): Promise<void> {
    const M = this.M as IMAP4 | undefined;
    if (M === undefined) return;
    if (M.state !== "LOGOUT" && !this.dead) await this.call("LOGOUT", "logout");
    await M.shutdown();
  }
}

/** A scenario: one connection's worth of calls. */
export interface Scenario {
  /** What it covers. */
  description: string;
  /** The connection kind it needs. */
  kind: ConnectionKind;
  /** Whether its calls make the runner's table. */
  table: boolean;
  /** Runs it. */
  run(s: CompatSession): Promise<void>;
}

const FIXED_DATE = '"26-Nov-2026 06:00:00 +0000"';

/**
 * A test message, deterministic, with CRLF line ends.
 *
 * @param n its number (changes the subject and body)
 * @param bodyBytes the body's size in bytes, at least
 * @returns the message
 */
export function testMessage(n: number, bodyBytes = 0): Uint8Array {
  const head = `From: Ada <ada@example.org>\r\nTo: test@example.org\r\n` +
    `Subject: compat message ${n} caf\u00e9\r\nDate: Thu, 26 Nov 2026 06:0${n % 10}:00 +0000\r\n` +
    `Message-ID: <compat-${n}@example.org>\r\nMIME-Version: 1.0\r\n` +
    `Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n`;
  const lines = [`Message ${n}: na\u00efve caf\u00e9, \u65e5\u672c\u8a9e.\r\n`];
  let size = encoder.encode(lines[0]).length;
  for (let line = 0; size < bodyBytes; line++) {
    // ASCII lines: their length is their size in bytes.
    const text = `${String(line).padStart(6, "0")} ${
      "abcdefghijklmnopqrstuvwxyz0123456789".repeat(2)
    }\r\n`;
    lines.push(text);
    size += text.length;
  }
  const body = lines.join("");
  return encoder.encode(head + body);
}

/** Finds the personal namespace's prefix and the hierarchy separator. */
async function mailboxLayout(s: CompatSession): Promise<{ prefix: string; sep: string }> {
  let prefix = "";
  let sep = "/";
  if (s.has("NAMESPACE")) {
    const r = await s.call("NAMESPACE", "namespace");
    const m = /^\(\("((?:[^"\\]|\\.)*)" (?:"((?:[^"\\]|\\.)+)"|NIL)/.exec(lastText(r?.[1]));
    if (m !== null) {
      prefix = m[1];
      if (m[2] !== undefined) sep = m[2].replace(/\\(.)/g, "$1");
    }
  } else s.skip("NAMESPACE", "NAMESPACE");
  const r = await s.call('LIST "" ""', "list", ['""', '""']);
  const m = /\) "((?:[^"\\]|\\.)+)" /.exec(lastText(r?.[1]));
  if (m !== null) sep = m[1].replace(/\\(.)/g, "$1");
  return { prefix, sep };
}

function scratchName(s: CompatSession, prefix: string): string {
  const nonce = s.env.nonce ?? Math.random().toString(16).slice(2, 8);
  return `${prefix}compat-${nonce}`;
}

/** LOGIN, or STARTTLS first when asked for and offered. */
async function login(s: CompatSession): Promise<boolean> {
  if (s.env.starttls) {
    if (s.has("STARTTLS")) await s.call("STARTTLS", "starttls");
    else s.skip("STARTTLS", "STARTTLS");
  }
  const r = await s.call("LOGIN", "login", [s.env.user, { $secret: "password" }]);
  return r !== null && r[0] === "OK";
}

async function appendMessages(s: CompatSession, box: string, count: number): Promise<void> {
  for (let n = 1; n <= count; n++) {
    const flags = n === 1 ? "(\\Seen)" : null;
    await s.call(`APPEND #${n}`, "append", [box, flags, FIXED_DATE, { $message: [n, 0] }]);
  }
}

function firstUid(r: CommandResult | null): string | null {
  const m = /\d+/.exec(lastText(r?.[1]));
  return m === null ? null : m[0];
}

/** The battery's main session: every command of DESIGN §4 and the advertised extensions. */
async function compatBattery(s: CompatSession): Promise<void> {
  await s.call("CAPABILITY", "capability");
  await s.call("NOOP", "noop");
  if (!await login(s)) return;
  const { prefix, sep } = await mailboxLayout(s);
  const box = scratchName(s, prefix);
  const child = `${box}${sep}sub`;
  const renamed = `${box}${sep}renamed`;
  await s.call("LIST", "list");
  await s.call("CREATE", "create", [box]);
  await s.call("CREATE (child)", "create", [child]);
  await s.call("SUBSCRIBE", "subscribe", [box]);
  await s.call("LSUB", "lsub", ['""', `${box}*`]);
  await s.call("UNSUBSCRIBE", "unsubscribe", [box]);
  await s.call("STATUS", "status", [box, "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"]);
  await appendMessages(s, box, 3);
  await s.call("EXAMINE", "select", [box, true]);
  await s.call("SELECT", "select", [box]);
  await s.call("CHECK", "check");
  await s.call("SEARCH ALL", "search", [null, "ALL"]);
  await s.call("SEARCH UNSEEN", "search", [null, "UNSEEN"]);
  await s.call("SEARCH CHARSET", "search", ["UTF-8", "SUBJECT", "compat"]);
  await s.call("FETCH (FLAGS UID RFC822.SIZE)", "fetch", ["1:*", "(FLAGS UID RFC822.SIZE)"]);
  await s.call("FETCH (RFC822)", "fetch", ["1", "(RFC822)"]);
  await s.call("FETCH (BODY.PEEK[HEADER.FIELDS])", "fetch", [
    "1:*",
    "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
  ]);
  await s.call("FETCH (ENVELOPE BODYSTRUCTURE)", "fetch", ["2", "(ENVELOPE BODYSTRUCTURE)"]);
  await s.call("PARTIAL", "partial", ["1", "RFC822", 0, 20]);
  await s.call("STORE", "store", ["1", "+FLAGS", "(\\Flagged)"]);
  const uids = await s.call("UID SEARCH", "uid", ["SEARCH", "ALL"]);
  const uid = firstUid(uids) ?? "1";
  await s.call("UID FETCH", "uid", ["FETCH", uid, "(FLAGS BODY.PEEK[TEXT])"]);
  await s.call("UID STORE", "uid", ["STORE", uid, "-FLAGS", "(\\Flagged)"]);
  await s.call("COPY", "copy", ["1", child]);
  await s.call("UID COPY", "uid", ["COPY", uid, child]);
  if (s.has("MOVE")) {
    await s.call("MOVE", "move", ["3", child]);
    await s.call("UID MOVE", "uid", ["MOVE", uid, child]);
  } else s.skip("MOVE", "MOVE");
  if (s.has("SORT")) await s.call("SORT", "sort", ["(DATE)", "UTF-8", "ALL"]);
  else s.skip("SORT", "SORT");
  if (s.has("THREAD=")) {
    const alg = s.has("THREAD=REFERENCES") ? "REFERENCES" : "ORDEREDSUBJECT";
    await s.call("THREAD", "thread", [alg, "UTF-8", "ALL"]);
  } else s.skip("THREAD", "THREAD=");
  if (s.has("ACL")) {
    await s.call("GETACL", "getacl", [box]);
    await s.call("MYRIGHTS", "myrights", [box]);
    await s.call("SETACL", "setacl", [box, "anyone", "lr"]);
    await s.call("DELETEACL", "deleteacl", [box, "anyone"]);
  } else for (const c of ["GETACL", "MYRIGHTS", "SETACL", "DELETEACL"]) s.skip(c, "ACL");
  if (s.has("QUOTA")) {
    await s.call("GETQUOTAROOT", "getquotaroot", [box]);
    await s.call("GETQUOTA", "getquota", [""]);
    await s.call("SETQUOTA", "setquota", ["", "(STORAGE 100000)"]);
  } else for (const c of ["GETQUOTAROOT", "GETQUOTA", "SETQUOTA"]) s.skip(c, "QUOTA");
  if (s.has("ANNOTATEMORE") || s.has("ANNOTATE-EXPERIMENT-1")) {
    await s.call("GETANNOTATION", "getannotation", [box, '"/comment"', '"value.priv"']);
    await s.call("SETANNOTATION", "setannotation", [
      box,
      '"/comment"',
      '("value.priv" "compat")',
    ]);
  } else for (const c of ["GETANNOTATION", "SETANNOTATION"]) s.skip(c, "ANNOTATEMORE");
  if (s.has("IDLE")) await s.call("IDLE", "idle", [0.3]);
  else s.skip("IDLE", "IDLE");
  await s.call("STORE \\Deleted", "store", ["1:*", "+FLAGS", "(\\Deleted)"]);
  if (s.has("UIDPLUS")) await s.call("UID EXPUNGE", "uid", ["EXPUNGE", uid]);
  else s.skip("UID EXPUNGE", "UIDPLUS");
  await s.call("EXPUNGE", "expunge");
  if (s.has("UNSELECT")) {
    await s.call("UNSELECT", "unselect");
    await s.call("SELECT (again)", "select", [box]);
  } else s.skip("UNSELECT", "UNSELECT");
  await s.call("CLOSE", "close");
  await s.call("RENAME", "rename", [child, renamed]);
  await s.call("DELETE (child)", "delete", [renamed]);
  await s.call("DELETE", "delete", [box]);
  await s.call("PROXYAUTH", "proxyauth", [s.env.user]);
  // Last: UTF8=ACCEPT (the fallback) changes how later commands are sent.
  if (s.has("ENABLE")) {
    await s.call("ENABLE", "enable", [s.has("CONDSTORE") ? "CONDSTORE" : "UTF8=ACCEPT"]);
  } else s.skip("ENABLE", "ENABLE");
  if (s.has("ID")) await s.call("ID (xatom)", "xatom", ["ID", '("name" "imaplib-ts")']);
  else s.skip("ID (xatom)", "ID");
  await s.call("LOGOUT", "logout");
}

/** SASL: AUTHENTICATE PLAIN and, when advertised, CRAM-MD5, on a connection of their own. */
async function compatAuth(s: CompatSession): Promise<void> {
  if (s.env.starttls && s.has("STARTTLS")) await s.call("STARTTLS", "starttls");
  if (s.has("AUTH=CRAM-MD5")) {
    await s.call("AUTHENTICATE CRAM-MD5", "login_cram_md5", [s.env.user, { $secret: "password" }]);
  } else s.skip("AUTHENTICATE CRAM-MD5", "AUTH=CRAM-MD5");
  if (s.has("AUTH=PLAIN")) {
    await s.call("AUTHENTICATE PLAIN", "authenticate", ["PLAIN", { $plain: s.env.user }]);
  } else s.skip("AUTHENTICATE PLAIN", "AUTH=PLAIN");
  await s.call("CAPABILITY (after auth)", "capability");
  await s.call("LOGOUT", "logout");
}

/** Makes a scratch mailbox and returns its name; when that fails, logs out and returns null. */
async function scratch(s: CompatSession): Promise<string | null> {
  const { prefix } = await mailboxLayout(s);
  const box = scratchName(s, prefix);
  const r = await s.call("CREATE", "create", [box]);
  if (r?.[0] === "OK") return box;
  await s.call("LOGOUT", "logout");
  return null;
}

/** Logs in, then makes a scratch mailbox; null when either failed (the scenario is over). */
async function loginToScratch(s: CompatSession): Promise<string | null> {
  if (!await login(s)) return null;
  return await scratch(s);
}

async function cleanup(s: CompatSession, box: string): Promise<void> {
  if (s.M.state === "SELECTED") await s.call("CLOSE", "close");
  await s.call("DELETE", "delete", [box]);
  await s.call("LOGOUT", "logout");
}

/** The scenarios, by name. `compat_*` make the runner's table; all of them make fixtures. */
export const SCENARIOS: Record<string, Scenario> = {
  compat_auth: {
    description: "AUTHENTICATE PLAIN (and CRAM-MD5 when advertised)",
    kind: "tcp",
    table: true,
    run: compatAuth,
  },
  compat_battery: {
    description: "every command of DESIGN §4 and the advertised extensions, in a scratch mailbox",
    kind: "tcp",
    table: true,
    run: compatBattery,
  },
  login_failed: {
    description: "a LOGIN with a wrong password (NO), then the right one",
    kind: "tcp",
    table: false,
    async run(s) {
      await s.call("LOGIN (wrong password)", "login", [s.env.user, { $secret: "wrong" }]);
      await s.call("CAPABILITY", "capability");
      await s.call("LOGIN", "login", [s.env.user, { $secret: "password" }]);
      await s.call("LOGOUT", "logout");
    },
  },
  errors: {
    description: "NO and BAD answers: nonexistent mailboxes, unknown commands, bad arguments",
    kind: "tcp",
    table: false,
    async run(s) {
      await s.call("XNOSUCHCOMMAND (NONAUTH)", "xatom", ["XNOSUCHCOMMAND"]);
      if (!await login(s)) return;
      await s.call("SELECT (nonexistent)", "select", ["no-such-mailbox-compat"]);
      await s.call("EXAMINE (nonexistent)", "select", ["no-such-mailbox-compat", true]);
      await s.call("STATUS (nonexistent)", "status", ["no-such-mailbox-compat", "(MESSAGES)"]);
      await s.call("DELETE (nonexistent)", "delete", ["no-such-mailbox-compat"]);
      await s.call("RENAME (nonexistent)", "rename", ["no-such-mailbox-compat", "other-compat"]);
      // A new name: like imaplib, xatom makes an unknown command legal only in its first state.
      await s.call("XNOSUCHCOMMAND2", "xatom", ["XNOSUCHCOMMAND2", "arg"]);
      // (APPEND to a nonexistent mailbox is left out: the server refuses the synchronising
      // literal with a tagged NO before "+", which the transcript format cannot express.)
      const box = await scratch(s);
      if (box === null) return;
      await s.call("APPEND", "append", [box, null, FIXED_DATE, { $message: [9, 0] }]);
      await s.call("SELECT", "select", [box]);
      await s.call("FETCH (bad item)", "fetch", ["1", "(NOSUCHITEM)"]);
      await s.call("FETCH (no such message)", "fetch", ["99", "(FLAGS)"]);
      await s.call("SEARCH (bad key)", "search", [null, "NOSUCHKEY"]);
      await s.call("STORE (bad flag op)", "store", ["1", "FROBFLAGS", "(\\Seen)"]);
      await s.call("COPY (nonexistent)", "copy", ["1", "no-such-mailbox-compat"]);
      await s.call("NOOP", "noop");
      await s.call("STORE \\Deleted", "store", ["1", "+FLAGS", "(\\Deleted)"]);
      await cleanup(s, box);
    },
  },
  starttls: {
    description: "STARTTLS, then LOGIN and LIST over TLS",
    kind: "tcp",
    table: false,
    async run(s) {
      await s.call("STARTTLS", "starttls");
      await s.call("LOGIN", "login", [s.env.user, { $secret: "password" }]);
      await s.call("LIST", "list", ['""', "%"]);
      await s.call("LOGOUT", "logout");
    },
  },
  implicit_tls: {
    description: "implicit TLS (IMAP4_SSL): LOGIN, NAMESPACE, STATUS",
    kind: "tls",
    table: false,
    async run(s) {
      await s.call("LOGIN", "login", [s.env.user, { $secret: "password" }]);
      await s.call("STATUS INBOX", "status", ["INBOX", "(MESSAGES UIDNEXT)"]);
      await s.call("LOGOUT", "logout");
    },
  },
  idle_arrival: {
    description: "IDLE on a scratch mailbox while a message arrives over another connection",
    kind: "tcp",
    table: false,
    async run(s) {
      const box = await loginToScratch(s);
      if (box === null) return;
      // Not empty: Mailutils never announces a message arriving in an empty selected mailbox.
      await s.call("APPEND", "append", [box, null, FIXED_DATE, { $message: [6, 0] }]);
      await s.call("SELECT", "select", [box]);
      await s.call("IDLE", "idle", [10, "EXISTS"], {
        deliver: { mailbox: box, message: { $message: [7, 0] } },
      });
      await s.call("NOOP", "noop");
      await s.call("FETCH", "fetch", ["1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"]);
      await s.call("STORE \\Deleted", "store", ["1:*", "+FLAGS", "(\\Deleted)"]);
      await cleanup(s, box);
    },
  },
  append_literals: {
    description:
      "APPEND with literals: flags, a date, 8-bit text, bare LF normalised, NUL-free binary",
    kind: "tcp",
    table: false,
    async run(s) {
      const box = await loginToScratch(s);
      if (box === null) return;
      const lf = decoder.decode(testMessage(4)).replace(/\r\n/g, "\n");
      await s.call("APPEND (flags, date)", "append", [
        box,
        "(\\Flagged \\Seen)",
        FIXED_DATE,
        { $message: [1, 0] },
      ]);
      await s.call("APPEND (no flags)", "append", [box, null, null, { $message: [2, 0] }]);
      await s.call("APPEND (LF text)", "append", [box, "\\Draft", FIXED_DATE, lf]);
      await s.call("STATUS", "status", [box, "(MESSAGES UNSEEN)"]);
      await s.call("SELECT", "select", [box]);
      await s.call("FETCH (BODY[] INTERNALDATE)", "fetch", [
        "1:*",
        "(FLAGS INTERNALDATE BODY.PEEK[])",
      ]);
      await cleanup(s, box);
    },
  },
  large_fetch: {
    description: "a 200 KiB message: APPEND, then FETCH of the whole body, a partial and the text",
    kind: "tcp",
    table: false,
    async run(s) {
      const box = await loginToScratch(s);
      if (box === null) return;
      await s.call("APPEND (200 KiB)", "append", [
        box,
        null,
        FIXED_DATE,
        { $message: [5, 200 * 1024] },
      ]);
      await s.call("SELECT", "select", [box]);
      await s.call("FETCH (RFC822)", "fetch", ["1", "(RFC822)"]);
      await s.call("FETCH (BODY.PEEK[TEXT]<1000.5000>)", "fetch", [
        "1",
        "(BODY.PEEK[TEXT]<1000.5000>)",
      ]);
      await s.call("FETCH (RFC822.SIZE BODY.PEEK[HEADER])", "fetch", [
        "1",
        "(RFC822.SIZE BODY.PEEK[HEADER])",
      ]);
      await cleanup(s, box);
    },
  },
  mailboxes: {
    description: "mailbox hierarchy: CREATE, LIST patterns, SUBSCRIBE/LSUB, RENAME, DELETE",
    kind: "tcp",
    table: false,
    async run(s) {
      if (!await login(s)) return;
      const { prefix, sep } = await mailboxLayout(s);
      const box = scratchName(s, prefix);
      const a = `${box}${sep}a`;
      const b = `${box}${sep}b`;
      await s.call("CREATE", "create", [box]);
      await s.call("CREATE a", "create", [a]);
      await s.call("CREATE (exists)", "create", [a]);
      await s.call("LIST %", "list", ['""', `${box}${sep}%`]);
      await s.call("LIST *", "list", ['""', `${box}*`]);
      await s.call("SUBSCRIBE a", "subscribe", [a]);
      await s.call("LSUB", "lsub", ['""', `${box}*`]);
      await s.call("RENAME a b", "rename", [a, b]);
      await s.call("LIST (after rename)", "list", ['""', `${box}*`]);
      await s.call("UNSUBSCRIBE a", "unsubscribe", [a]);
      await s.call("DELETE b", "delete", [b]);
      await s.call("DELETE", "delete", [box]);
      await s.call("LOGOUT", "logout");
    },
  },
  examine_inbox: {
    description: "EXAMINE (read-only) and SELECT of INBOX, CHECK, SEARCH, CLOSE",
    kind: "tcp",
    table: false,
    async run(s) {
      if (!await login(s)) return;
      await s.call("EXAMINE INBOX", "select", ["INBOX", true]);
      await s.call("SEARCH ALL", "search", [null, "ALL"]);
      await s.call("SELECT INBOX", "select", ["INBOX"]);
      await s.call("CHECK", "check");
      await s.call("CLOSE", "close");
      await s.call("LOGOUT", "logout");
    },
  },
  stream: {
    description: "IMAP4_stream over the server's pre-authenticated stdio command",
    kind: "stream",
    table: false,
    async run(s) {
      await s.call("LIST", "list", ['""', "%"]);
      await s.call("EXAMINE INBOX", "select", ["INBOX", true]);
      await s.call("FETCH", "fetch", ["1:*", "(FLAGS)"]);
      await s.call("LOGOUT", "logout");
    },
  },
};

/**
 * Runs one scenario on its own connection. Never throws for server answers; a client failure
 * sets `failed`.
 *
 * @param name the scenario
 * @param env how to connect, secrets, side channels
 * @returns the calls and rows
 * @throws TypeError for an unknown scenario
 */
export async function runScenario(name: string, env: CompatEnv): Promise<ScenarioResult> {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) throw new TypeError(`Unknown scenario "${name}"`);
  const s = new CompatSession(name, env);
  if (await s.connect(scenario.kind)) {
    try {
      await scenario.run(s);
    } catch (e) {
      s.rows.push({
        scenario: name,
        command: "(scenario)",
        result: "FAIL",
        ms: 0,
        note: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
      });
      s.failed = true;
    } finally {
      await s.end();
    }
  }
  return { scenario: name, calls: s.calls, rows: s.rows, failed: s.failed };
}

/** One command of a transcript, with what the server answered. */
export interface TranscriptCommand {
  /** The recorded tag. */
  tag: string;
  /** The command name (`"LOGIN"`, `"UID FETCH"`). */
  name: string;
  /** Its `C:` line's number in the file. */
  lineNumber: number;
  /** The tagged status, or null when the session ended first. */
  status: "OK" | "NO" | "BAD" | null;
  /** Whether an untagged BYE came while it ran. */
  bye: boolean;
  /** The literals of the server's responses while it ran, in order. */
  literals: Uint8Array[];
  /** Whether a server line while it ran was not ended by CRLF (the client must drop it). */
  malformed?: boolean;
}

/**
 * Lists a transcript's commands in order, each with its tagged status and the literals the server
 * sent while it ran (a response belongs to the last command sent before it).
 *
 * @param transcript the parsed transcript
 * @returns the commands
 */
export function transcriptCommands(transcript: Transcript): TranscriptCommand[] {
  const tracker = new SessionTracker();
  const out: TranscriptCommand[] = [];
  const byTag = new Map<string, TranscriptCommand>();
  for (const e of transcript.entries) {
    if (e.kind === "comment") continue;
    if (e.side === "C") {
      const info = tracker.client(e.line);
      if (info.role === "command") {
        const cmd: TranscriptCommand = {
          tag: info.tag,
          name: info.command,
          lineNumber: e.lineNumber,
          status: null,
          bye: false,
          literals: [],
        };
        out.push(cmd);
        byTag.set(info.tag, cmd);
      }
      continue;
    }
    const info = tracker.server(e.line);
    const current = out[out.length - 1];
    if (e.literal !== undefined && current !== undefined) current.literals.push(e.literal);
    const n = e.line.length;
    if (current !== undefined && (n < 2 || e.line[n - 2] !== 0x0d || e.line[n - 1] !== 0x0a)) {
      current.malformed = true;
    }
    if (info.role !== "response") continue;
    const text = decoder.decode(e.line);
    if (info.first === "*" && /^\* BYE\b/i.test(text) && current !== undefined) current.bye = true;
    const cmd = byTag.get(info.first);
    if (cmd !== undefined && info.first !== "*" && info.first !== "+") {
      const m = /^\S+ (OK|NO|BAD)\b/i.exec(text);
      if (m !== null) cmd.status = m[1].toUpperCase() as "OK" | "NO" | "BAD";
    }
  }
  return out;
}

/** Methods that throw IMAP4.error on NO (imaplib's contract) instead of returning it. */
const THROWS_ON_NO = new Set(["login", "authenticate", "login_cram_md5", "starttls", "idle"]);

/**
 * What a call's outcome must be, given the first command it sent and how the server answered.
 *
 * @param method the IMAP4 method
 * @param cmd the command
 * @returns the expected outcome (typ, or error and status)
 */
export function impliedOutcome(method: string, cmd: TranscriptCommand): CallOutcome {
  if (cmd.malformed) return { error: "IMAP4Abort" };
  if (method === "logout" && cmd.bye) return { typ: "BYE" };
  if (cmd.status === "BAD") return { error: "IMAP4Error", status: "BAD" };
  if (cmd.status === "NO" && THROWS_ON_NO.has(method)) return { error: "IMAP4Error", status: "NO" };
  return { typ: cmd.status ?? "(none)" };
}

/** The result of re-running recorded calls against a replay. */
export interface ConformanceCall {
  /** The call. */
  spec: CallSpec;
  /** What it gave on replay. */
  outcome: CallOutcome;
  /** What the transcript implies, or null when the call sent no command. */
  implied: CallOutcome | null;
  /** Problems found (empty when it conforms). */
  problems: string[];
}

/**
 * Re-runs recorded calls on a client connected to a replay of their transcript and checks each
 * against the transcript: the status of the first command each call sent (OK → typ, NO → typ or
 * thrown for login/authenticate/starttls, BAD → IMAP4.error thrown) and every literal the server
 * sent during the call, byte-exact, in the result's data or the untagged responses.
 *
 * @param calls the recorded calls, starting with `connect`
 * @param transcript the parsed transcript
 * @param connect opens the client against the replay
 * @param ctx secrets and TLS options for the replay
 * @returns one entry per call
 */
export async function checkCalls(
  calls: readonly RecordedCall[],
  transcript: Transcript,
  connect: (kind: ConnectionKind) => Promise<IMAP4>,
  ctx: { tls: TlsConnectOptions; password?: string },
): Promise<ConformanceCall[]> {
  const commands = transcriptCommands(transcript);
  const invokeCtx: InvokeContext = {
    password: ctx.password ?? "replay-password",
    wrongPassword: "replay-wrong-password",
    tls: ctx.tls,
    idleCap: 0.5,
  };
  const out: ConformanceCall[] = [];
  let M: IMAP4 | null = null;
  let next = 0;
  try {
    for (const spec of calls) {
      const before = M?.tagnum ?? 0;
      let outcome: CallOutcome;
      let data: Datum[] = [];
      try {
        if (spec.method === "connect") {
          M = await connect(spec.args[0] as ConnectionKind);
          outcome = { typ: "OK" };
        } else {
          if (M === null) throw new Error("Call before connect");
          const [typ, d] = await invoke(M, spec, invokeCtx);
          outcome = { typ };
          data = d;
        }
      } catch (e) {
        outcome = classify(e);
      }
      const after = M?.tagnum ?? 0;
      const sent = commands.slice(next, next + (after - before));
      next += after - before;
      const problems: string[] = [];
      let implied: CallOutcome | null = null;
      if (sent.length > 0) {
        implied = spec.method === "connect" ? { typ: "OK" } : impliedOutcome(spec.method, sent[0]);
      } else if (spec.method !== "connect") implied = null;
      const got = outcome.error !== undefined
        ? `${outcome.error} ${outcome.status ?? ""}`.trim()
        : outcome.typ;
      if (implied !== null) {
        const want = implied.error !== undefined
          ? `${implied.error} ${implied.status ?? ""}`.trim()
          : implied.typ;
        if (got !== want) {
          problems.push(
            `${spec.label}: transcript line ${sent[0]?.lineNumber} implies ${want}, got ${got}` +
              (outcome.text ? ` (${outcome.text})` : ""),
          );
        }
      } else {
        const rec = spec.outcome;
        const want = rec.error !== undefined ? `${rec.error} ${rec.status ?? ""}`.trim() : rec.typ;
        if (got !== want) problems.push(`${spec.label}: recorded ${want}, got ${got}`);
      }
      const expectedLiterals = sent.flatMap((c) => c.literals);
      if (expectedLiterals.length > 0 && M !== null) {
        const inData = literalsIn(data);
        const pool = [...inData, ...literalsIn(Object.values(M.untagged_responses).flat())];
        for (const lit of expectedLiterals) {
          if (!pool.some((p) => equalBytes(p, lit))) {
            problems.push(
              `${spec.label}: a ${lit.length}-byte literal did not come back byte-exact`,
            );
          }
        }
        // The literals in the data are the transcript's, in order.
        let k = 0;
        for (const lit of inData) {
          while (k < expectedLiterals.length && !equalBytes(expectedLiterals[k], lit)) k++;
          if (k === expectedLiterals.length) {
            problems.push(
              `${spec.label}: the data holds a literal the transcript did not send here`,
            );
            break;
          }
          k++;
        }
      }
      out.push({ spec, outcome, implied, problems });
    }
    if (next !== commands.length) {
      out.push({
        spec: { method: "(end)", args: [], label: "(end)" },
        outcome: {},
        implied: null,
        problems: [`${commands.length - next} transcript commands were never sent`],
      });
    }
  } finally {
    await (M as IMAP4 | null)?.shutdown();
  }
  return out;
}

/**
 * Formats rows as a plain-text table.
 *
 * @param rows the rows
 * @returns the table, one line per row, with a header
 */
export function formatTable(rows: readonly CompatRow[]): string {
  const head = ["command", "result", "time", "note"];
  const body = rows.map((r) => [r.command, r.result, `${r.ms} ms`, r.note]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  widths[3] = Math.min(widths[3], 80);
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 3 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(head), line(widths.map((w) => "-".repeat(w))), ...body.map(line)].join("\n");
}

/** One server's rows, for the matrix. */
export interface MatrixColumn {
  /** The server, e.g. `"Dovecot 2.3.19.1"`. */
  server: string;
  /** Its rows. */
  rows: readonly CompatRow[];
}

/**
 * Formats a Markdown matrix: one row per command, one column per server.
 *
 * @param columns the servers and their rows
 * @returns the Markdown table
 */
export function formatMatrix(columns: readonly MatrixColumn[]): string {
  const commands: string[] = [];
  for (const c of columns) {
    for (const r of c.rows) if (!commands.includes(r.command)) commands.push(r.command);
  }
  const cell = (c: MatrixColumn, command: string) =>
    c.rows.find((r) => r.command === command)?.result ?? "–";
  const lines = [
    `| command | ${columns.map((c) => c.server).join(" | ")} |`,
    `| --- | ${columns.map(() => "---").join(" | ")} |`,
    ...commands.map((cmd) => `| ${cmd} | ${columns.map((c) => cell(c, cmd)).join(" | ")} |`),
  ];
  return lines.join("\n");
}
