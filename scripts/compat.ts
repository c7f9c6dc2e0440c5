/**
 * `deno task compat`: the compatibility runner. Runs a battery of imaplib calls through our
 * client against a live server (in a scratch mailbox it creates and removes) and prints a table:
 * command, result (OK, NO, BAD, not advertised), time, note. Server NO and BAD are results; the
 * exit code is 1 only when the client itself failed (2 on wrong usage).
 *
 * ```sh
 * deno task compat imap://user:pass@host:143 [--starttls] [--ca FILE] [--record DIR] [--json]
 * deno task compat imaps://user:pass@host:993 --ca FILE
 * # a private server started by scripts/servers/*.sh: its env file gives everything
 * deno task compat --env DIR/env [--scenarios all|NAME,...] [--record DIR] [--json]
 * deno task compat --matrix fixtures/transcripts/{dovecot,cyrus,courier,mailutils}/compat.json
 * ```
 *
 * `--record DIR` puts the recording proxy (lib/harness/record.ts) between the client and the
 * server and writes each scenario as `DIR/<scenario>.imap` plus the calls that drove it as
 * `DIR/<scenario>.calls.json` (replayed by tests/harness/conformance_test.ts). The proxy offers
 * the test certificate in `fixtures/certs/replay/` on STARTTLS and implicit TLS. Every written
 * file is checked not to contain the password.
 *
 * @module
 */

import { IMAP4, IMAP4_SSL, IMAP4_stream } from "../mod.ts";
import { record, type Recorder } from "../lib/harness/record.ts";
import {
  type CompatEnv,
  type CompatRow,
  type ConnectionKind,
  formatMatrix,
  formatTable,
  type RecordedCall,
  runScenario,
  SCENARIOS,
} from "../lib/harness/compat.ts";

const root = new URL("../", import.meta.url);
const certDir = new URL("fixtures/certs/replay/", root);
const encoder = new TextEncoder();

/** Where and how to reach the server under test. */
interface Target {
  server: string;
  host: string;
  port: number | null;
  tlsPort: number | null;
  user: string;
  pass: string;
  ca?: string;
  preauth: string[] | null;
}

/** The runner's JSON output (also the matrix's input). */
interface Report {
  server: string;
  failed: boolean;
  scenarios: { scenario: string; failed: boolean; rows: CompatRow[] }[];
}

function usage(): never {
  console.error(
    "usage: compat.ts imap[s]://USER:PASS@HOST[:PORT] [--starttls] [--ca FILE] [--record DIR] [--json]\n" +
      "       compat.ts --env DIR/env [--scenarios all|NAME,...] [--record DIR] [--json]\n" +
      "       compat.ts --matrix REPORT.json...",
  );
  Deno.exit(2);
}

function parseEnvFile(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

async function targetFromEnv(file: string): Promise<Target> {
  const env = parseEnvFile(await Deno.readTextFile(file));
  const get = (k: string) => {
    const v = env.get(k);
    if (v === undefined || v === "") throw new Error(`Env file "${file}" lacks "${k}"`);
    return v;
  };
  const preauth = env.get("IMAP_PREAUTH") ?? "";
  return {
    server: `${get("IMAP_SERVER")} ${env.get("IMAP_VERSION") ?? ""}`.trim(),
    host: get("IMAP_HOST"),
    port: Number(get("IMAP_PORT")),
    tlsPort: Number(get("IMAP_TLS_PORT")),
    user: get("IMAP_USER"),
    pass: get("IMAP_PASS"),
    ca: env.get("IMAP_CA") || undefined,
    preauth: preauth === "" ? null : JSON.parse(preauth) as string[],
  };
}

function targetFromUrl(text: string, ca: string | undefined): Target {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    usage();
  }
  if (url.protocol !== "imap:" && url.protocol !== "imaps:") usage();
  const tls = url.protocol === "imaps:";
  const port = Number(url.port || (tls ? 993 : 143));
  return {
    server: url.hostname,
    host: url.hostname.replace(/^\[|\]$/g, ""),
    port: tls ? null : port,
    tlsPort: tls ? port : null,
    user: decodeURIComponent(url.username),
    pass: decodeURIComponent(url.password),
    ca,
    preauth: null,
  };
}

/** Runs the scenarios against the target, optionally recording each one. */
async function run(
  target: Target,
  scenarios: string[],
  options: { starttls: boolean; recordDir?: string; json: boolean },
): Promise<Report> {
  const caCerts = target.ca ? [await Deno.readTextFile(target.ca)] : undefined;
  const testCert = {
    cert: await Deno.readTextFile(new URL("cert.pem", certDir)),
    key: await Deno.readTextFile(new URL("key.pem", certDir)),
  };
  const recording = options.recordDir !== undefined;
  // While recording, the client talks TLS to the proxy, which presents the test certificate.
  const clientTls = recording
    ? { caCerts: [testCert.cert], hostname: "localhost" }
    : { caCerts, hostname: target.host };
  const kinds: ConnectionKind[] = [];
  if (target.port !== null) kinds.push("tcp");
  if (target.tlsPort !== null) kinds.push("tls");
  if (target.preauth !== null) kinds.push("stream");
  const report: Report = { server: target.server, failed: false, scenarios: [] };
  const direct = async (): Promise<IMAP4> =>
    target.port !== null
      ? await IMAP4.connect(target.host, target.port)
      : await IMAP4_SSL.connect(target.host, target.tlsPort!, { caCerts });
  for (const name of scenarios) {
    const scenario = SCENARIOS[name];
    if (!kinds.includes(scenario.kind)) {
      if (!options.json) console.error(`# ${name}: skipped (no ${scenario.kind} transport)`);
      continue;
    }
    let recorder: Recorder | null = null;
    let streamFile: string | null = null;
    const env: CompatEnv = {
      user: target.user,
      password: target.pass,
      tls: clientTls,
      kinds,
      starttls: options.starttls,
      async connect(kind) {
        if (kind === "stream") {
          let argv = target.preauth!;
          if (recording) {
            streamFile = `${options.recordDir}/${name}.imap`;
            argv = [
              Deno.execPath(),
              "run",
              "--allow-all",
              new URL("scripts/record.ts", root).pathname,
              "--stream",
              streamFile,
              "--server",
              target.server,
              "--",
              ...argv,
            ];
          }
          return await IMAP4_stream.connect(argv);
        }
        const port = kind === "tls" ? target.tlsPort! : target.port!;
        if (!recording) {
          return kind === "tls"
            ? await IMAP4_SSL.connect(target.host, port, { caCerts })
            : await IMAP4.connect(target.host, port);
        }
        recorder = await record({
          upstream: { hostname: target.host, port, tls: kind === "tls", caCerts },
          listenTls: kind === "tls" ? testCert : undefined,
          starttlsCert: testCert,
          server: target.server,
        });
        return kind === "tls"
          ? await IMAP4_SSL.connect(recorder.hostname, recorder.port, {
            caCerts: [testCert.cert],
            hostname: "localhost",
          })
          : await IMAP4.connect(recorder.hostname, recorder.port);
      },
      async deliver(mailbox, message) {
        // Another connection, straight to the server: it is not part of the transcript.
        const side = await direct();
        try {
          await side.login(target.user, target.pass);
          await side.append(mailbox, null, null, message);
        } finally {
          await side.logout().catch(() => side.shutdown());
        }
      },
    };
    const result = await runScenario(name, env);
    report.failed ||= result.failed;
    report.scenarios.push({ scenario: name, failed: result.failed, rows: result.rows });
    if (!options.json) {
      console.log(`\n## ${name}: ${scenario.description}\n`);
      console.log(formatTable(result.rows));
    }
    if (recording) {
      const dir = options.recordDir!;
      const rec = recorder as Recorder | null;
      const file = `${dir}/${name}.imap`;
      if (rec !== null) {
        const bytes = await rec.done;
        await rec.close();
        await Deno.writeFile(file, bytes);
      } else if (streamFile === null) continue;
      await writeCalls(`${dir}/${name}.calls.json`, target.server, name, result.calls);
      await assertNoSecret([file, `${dir}/${name}.calls.json`], target.pass, target.user);
    }
  }
  return report;
}

async function writeCalls(
  file: string,
  server: string,
  scenario: string,
  calls: RecordedCall[],
): Promise<void> {
  const doc = { server, scenario, description: SCENARIOS[scenario].description, calls };
  await Deno.writeTextFile(file, JSON.stringify(doc, null, 1) + "\n");
}

function contains(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let k = 0; k < needle.length; k++) if (haystack[i + k] !== needle[k]) continue outer;
    return true;
  }
  return false;
}

/** Fails loudly when a written file holds the password (or its SASL PLAIN base64 form). */
async function assertNoSecret(files: string[], password: string, user: string): Promise<void> {
  // A password that is part of the user name (the test servers' default) cannot be told apart.
  if (user.includes(password)) return;
  const needles = [encoder.encode(password)];
  for (const file of files) {
    const bytes = await Deno.readFile(file);
    if (needles.some((n) => contains(bytes, n))) {
      await Deno.remove(file);
      throw new Error(`Recorded file "${file}" contained the password: removed it`);
    }
  }
}

async function matrix(files: string[]): Promise<void> {
  const columns = [];
  for (const f of files) {
    const report = JSON.parse(await Deno.readTextFile(f)) as Report;
    const rows = report.scenarios.filter((s) => SCENARIOS[s.scenario]?.table).flatMap((s) =>
      s.rows
    );
    columns.push({ server: report.server, rows });
  }
  console.log(formatMatrix(columns));
}

async function main(args: string[]): Promise<number> {
  const flag = (name: string) => args.includes(name);
  const value = (name: string) => {
    const i = args.indexOf(name);
    if (i === -1) return undefined;
    const v = args[i + 1];
    if (v === undefined || v.startsWith("--")) usage();
    return v;
  };
  if (flag("--matrix")) {
    await matrix(args.slice(args.indexOf("--matrix") + 1));
    return 0;
  }
  const envFile = value("--env");
  const ca = value("--ca");
  const skip = new Set(
    ["--env", "--ca", "--record", "--scenarios"].map((f) => args.indexOf(f) + 1),
  );
  const positional = args.filter((a, i) => !a.startsWith("--") && !skip.has(i));
  let target: Target;
  if (envFile !== undefined) target = await targetFromEnv(envFile);
  else if (positional.length === 1) target = targetFromUrl(positional[0], ca);
  else usage();
  if (ca !== undefined) target.ca = ca;
  const wanted = value("--scenarios") ?? "compat_auth,compat_battery";
  const scenarios = wanted === "all" ? Object.keys(SCENARIOS) : wanted.split(",");
  for (const s of scenarios) if (!(s in SCENARIOS)) usage();
  const recordDir = value("--record");
  if (recordDir !== undefined) await Deno.mkdir(recordDir, { recursive: true });
  if (recordDir !== undefined && target.user.includes(target.pass)) {
    console.error("warning: the password is part of the user name: recordings not checked for it");
  }
  const json = flag("--json");
  const report = await run(target, scenarios, { starttls: flag("--starttls"), recordDir, json });
  if (json) console.log(JSON.stringify(report, null, 1));
  else console.log(report.failed ? "\nclient failures: see FAIL rows" : "\nno client failure");
  return report.failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
