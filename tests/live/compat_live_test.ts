// The compatibility runner (scripts/compat.ts) against live private servers: every scenario runs
// through the recording proxy, the table must show no client failure, and each fresh recording
// must replay through IMAP4 as its transcript implies (record → replay, end to end).
import assert from "node:assert/strict";
import { IMAP4, IMAP4_SSL, IMAP4_stream } from "../../mod.ts";
import { metadataOf, parseTranscript, replay } from "../../lib/harness/mod.ts";
import { checkCalls, type RecordedCall } from "../../lib/harness/compat.ts";
import { type LiveServer, type ServerName, skipLive, startServer } from "./_servers.ts";

const root = new URL("../../", import.meta.url);
const compatScript = new URL("scripts/compat.ts", root).pathname;
const replayScript = new URL("scripts/replay.ts", root).pathname;
const certDir = new URL("fixtures/certs/replay/", root);
const tls = {
  cert: await Deno.readTextFile(new URL("cert.pem", certDir)),
  key: await Deno.readTextFile(new URL("key.pem", certDir)),
};
const clientTls = { caCerts: [tls.cert], hostname: "localhost" };

interface Report {
  failed: boolean;
  scenarios: {
    scenario: string;
    failed: boolean;
    rows: { command: string; result: string; note: string }[];
  }[];
}

async function runCompat(server: LiveServer, out: string): Promise<Report> {
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", compatScript, "--env", `${server.dir}/env`, "--scenarios", "all"]
      .concat(["--record", out, "--json"]),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(run.stdout);
  assert.equal(run.code, 0, `compat exited ${run.code}: ${new TextDecoder().decode(run.stderr)}`);
  return JSON.parse(text) as Report;
}

async function replayRecording(out: string, name: string): Promise<string[]> {
  const file = `${out}/${name}.imap`;
  const transcript = parseTranscript(await Deno.readFile(file));
  const calls = JSON.parse(await Deno.readTextFile(`${out}/${name}.calls.json`))
    .calls as RecordedCall[];
  const meta = metadataOf(transcript);
  if (meta.transport === "stream") {
    const results = await checkCalls(
      calls,
      transcript,
      () =>
        IMAP4_stream.connect([
          Deno.execPath(),
          "run",
          "--allow-read",
          replayScript,
          "--stdio",
          file,
        ]),
      { tls: clientTls },
    );
    return results.flatMap((r) => r.problems);
  }
  await using server = await replay(transcript, { tls, implicitTls: meta.transport === "tls" });
  const results = await checkCalls(
    calls,
    transcript,
    (kind) =>
      kind === "tls"
        ? IMAP4_SSL.connect(server.hostname, server.port, clientTls)
        : IMAP4.connect(server.hostname, server.port),
    { tls: clientTls },
  );
  const done = await server.done;
  return [...results.flatMap((r) => r.problems), ...(done.ok ? [] : [String(done.error)])];
}

/** Starts a server whose password differs from the user name, so recordings can be checked. */
async function startWithPassword(name: ServerName): Promise<LiveServer | null> {
  const saved = Deno.env.get("IMAP_PASS");
  Deno.env.set("IMAP_PASS", `s3cret-${crypto.randomUUID().slice(0, 8)}`);
  try {
    return await startServer(name);
  } finally {
    if (saved === undefined) Deno.env.delete("IMAP_PASS");
    else Deno.env.set("IMAP_PASS", saved);
  }
}

for (const name of ["dovecot", "mailutils"] as const) {
  Deno.test({
    name: `compat runner: ${name} shows no client failure and its recordings replay`,
    ignore: skipLive(name),
  }, async () => {
    await using server = await startWithPassword(name);
    if (server === null) throw new Error(`Server "${name}" is not available`);
    const out = await Deno.makeTempDir({ prefix: `compat-${name}-` });
    try {
      const report = await runCompat(server, out);
      const fails = report.scenarios.flatMap((s) => s.rows.filter((r) => r.result === "FAIL"));
      assert.deepEqual(fails, []);
      assert.equal(report.failed, false);
      const battery = report.scenarios.find((s) => s.scenario === "compat_battery")!;
      for (const command of ["LOGIN", "SELECT", "FETCH (RFC822)", "APPEND #1", "LOGOUT"]) {
        assert.equal(battery.rows.find((r) => r.command === command)?.result, "OK", command);
      }
      // Nothing recorded holds the password.
      for await (const f of Deno.readDir(out)) {
        const text = await Deno.readTextFile(`${out}/${f.name}`);
        assert.ok(!text.includes(server.pass), `${f.name} holds the password`);
      }
      for (const s of report.scenarios) {
        assert.deepEqual(await replayRecording(out, s.scenario), [], s.scenario);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  });
}
