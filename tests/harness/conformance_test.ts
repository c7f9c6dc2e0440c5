// Conformance: every recorded fixture with a `.calls.json` is replayed offline through IMAP4 (TCP,
// implicit TLS, STARTTLS, or IMAP4_stream over the stdio of scripts/replay.ts), the recorded
// imaplib calls are re-run against it, and each outcome is checked against what the transcript
// implies: the status of every command and every server literal, byte-exact.
import assert from "node:assert/strict";
import {
  IMAP4,
  IMAP4_SSL,
  IMAP4_stream,
  type Transport,
  type TransportFactory,
} from "../../mod.ts";
import { getTransports } from "../../transports/mod.ts";
import {
  lineText,
  metadataOf,
  parseTranscript,
  replay,
  SECRET_MARKER,
  SessionTracker,
  type Transcript,
} from "../../lib/harness/mod.ts";
import {
  checkCalls,
  type ConnectionKind,
  impliedOutcome,
  type RecordedCall,
  transcriptCommands,
} from "../../lib/harness/compat.ts";
import { ROOT, TLS } from "./_common.ts";

const fixtures = new URL("fixtures/transcripts/", ROOT);
const replayScript = new URL("scripts/replay.ts", ROOT).pathname;
const clientTls = { caCerts: [TLS.cert], hostname: "localhost" };
const SERVERS = ["dovecot", "cyrus", "courier", "mailutils"];

interface Fixture {
  server: string;
  name: string;
  file: string;
  calls: RecordedCall[] | null;
}

async function listFixtures(): Promise<Fixture[]> {
  const out: Fixture[] = [];
  for await (const dir of Deno.readDir(fixtures)) {
    if (!dir.isDirectory) continue;
    for await (const f of Deno.readDir(new URL(`${dir.name}/`, fixtures))) {
      if (!f.name.endsWith(".imap")) continue;
      const name = f.name.slice(0, -5);
      const file = new URL(`${dir.name}/${f.name}`, fixtures).pathname;
      let calls: RecordedCall[] | null = null;
      try {
        const doc = JSON.parse(await Deno.readTextFile(file.replace(/\.imap$/, ".calls.json")));
        calls = doc.calls;
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      }
      out.push({ server: dir.name, name, file, calls });
    }
  }
  return out.sort((a, b) => `${a.server}/${a.name}`.localeCompare(`${b.server}/${b.name}`));
}

const all = await listFixtures();

/** Replays one fixture and re-runs its calls; returns every problem found. */
async function conform(transcript: Transcript, file: string, calls: RecordedCall[]) {
  const meta = metadataOf(transcript);
  if (meta.transport === "stream") {
    const results = await checkCalls(calls, transcript, (kind) => {
      assert.equal(kind, "stream");
      return IMAP4_stream.connect([
        Deno.execPath(),
        "run",
        "--allow-read",
        replayScript,
        "--stdio",
        file,
      ]);
    }, { tls: clientTls });
    return { results, replayError: undefined };
  }
  await using server = await replay(transcript, {
    tls: TLS,
    implicitTls: meta.transport === "tls",
  });
  const connect = (kind: ConnectionKind): Promise<IMAP4> =>
    kind === "tls"
      ? IMAP4_SSL.connect(server.hostname, server.port, clientTls)
      : IMAP4.connect(server.hostname, server.port);
  const results = await checkCalls(calls, transcript, connect, { tls: clientTls });
  const done = await server.done;
  return { results, replayError: done.ok ? undefined : done.error };
}

for (const fx of all.filter((f) => f.calls !== null)) {
  Deno.test(`conformance: ${fx.server}/${fx.name} replays through IMAP4 as the transcript implies`, async () => {
    const transcript = parseTranscript(await Deno.readFile(fx.file));
    const { results, replayError } = await conform(transcript, fx.file, fx.calls!);
    assert.equal(replayError, undefined, replayError?.message);
    const problems = results.flatMap((r) => r.problems);
    assert.deepEqual(problems, []);
    // Every command of the transcript was accounted for by a call.
    assert.ok(results.length >= fx.calls!.length);
  });
}

Deno.test("conformance: every server has at least 10 fixtures with calls", () => {
  for (const server of SERVERS) {
    const n = all.filter((f) => f.server === server && f.calls !== null).length;
    assert.ok(n >= 10, `${server} has ${n} fixtures with calls`);
  }
});

Deno.test("conformance: fixtures hold no LOGIN password and no AUTHENTICATE payload", async () => {
  const isLiteral = (w: string | undefined) => w !== undefined && /^\{\d+\+?\}$/.test(w);
  let logins = 0;
  for (const fx of all) {
    const t = parseTranscript(await Deno.readFile(fx.file));
    const tracker = new SessionTracker();
    let loginWords: string[] = [];
    for (const e of t.entries) {
      if (e.kind === "comment") continue;
      if (e.side === "S") {
        tracker.server(e.line);
        continue;
      }
      const info = tracker.client(e.line);
      const text = lineText(e.line);
      const where = `${fx.server}/${fx.name}:${e.lineNumber}`;
      if (info.command === "LOGIN" && info.role !== "payload") {
        // LOGIN user password: the password is the second argument, as an atom, a quoted
        // string or a literal; the user may itself be a literal (then its line continues).
        const words = (info.role === "command" ? text.split(" ").slice(2) : text.split(" "))
          .filter((w) => w !== "");
        const at = info.role === "command" ? 0 : loginWords.length;
        loginWords = info.role === "command" ? words : [...loginWords, ...words];
        if (at <= 1 && loginWords.length >= 2) {
          logins++;
          const pw = loginWords[1];
          if (isLiteral(pw)) {
            assert.equal(new TextDecoder().decode(e.literal), SECRET_MARKER, where);
          } else assert.equal(pw, SECRET_MARKER, where);
        }
      }
      if (info.command === "AUTHENTICATE" && info.role === "payload" && text !== "*") {
        assert.equal(text, SECRET_MARKER, where);
      }
    }
  }
  assert.ok(logins > 40, `${logins} LOGIN commands checked`);
});

/** Transports whose reads replace `from` with `to` (same length): a client that gets it wrong. */
async function tampering(from: string, to: string): Promise<TransportFactory> {
  const real = await getTransports();
  const a = new TextEncoder().encode(from);
  const b = new TextEncoder().encode(to);
  const wrap = (t: Transport): Transport => ({
    kind: t.kind,
    write: (d) => t.write(d),
    close: () => t.close(),
    async read(buf) {
      const n = await t.read(buf);
      if (n === null) return n;
      for (let i = 0; i + a.length <= n; i++) {
        if (a.every((x, k) => buf[i + k] === x)) buf.set(b, i);
      }
      return n;
    },
  });
  return { ...real, connect: async (o) => wrap(await real.connect(o)) };
}

/** Replays a dovecot fixture to a client whose reads are tampered with; returns the problems. */
async function tamperedProblems(name: string, from: string, to: string): Promise<string[]> {
  const fx = all.find((f) => f.server === "dovecot" && f.name === name);
  assert.ok(fx?.calls, `dovecot/${name} fixture`);
  const transcript = parseTranscript(await Deno.readFile(fx.file));
  await using server = await replay(transcript, { tls: TLS, implicitTls: false });
  const transports = await tampering(from, to);
  const results = await checkCalls(
    fx.calls,
    transcript,
    () => IMAP4.connect(server.hostname, server.port, { transports }),
    { tls: clientTls },
  );
  await server.done;
  return results.flatMap((r) => r.problems);
}

Deno.test("conformance: a status the client got wrong is reported", async () => {
  const problems = await tamperedProblems(
    "examine_inbox",
    " OK Check completed",
    " NO Check completed",
  );
  assert.equal(problems.length, 1, problems.join("\n"));
  assert.match(problems[0], /^CHECK: transcript line \d+ implies OK, got NO/);
});

Deno.test("conformance: a literal that does not come back byte-exact is reported", async () => {
  const problems = await tamperedProblems("append_literals", "Message 2: ", "Massage 2: ");
  assert.ok(problems.length >= 1, "a problem is reported");
  assert.match(problems[0], /literal did not come back byte-exact/);
});

Deno.test("conformance: statuses map to imaplib outcomes", () => {
  const cmd = { tag: "a", name: "X", lineNumber: 1, bye: false, literals: [] };
  assert.deepEqual(impliedOutcome("select", { ...cmd, status: "NO" }), { typ: "NO" });
  assert.deepEqual(impliedOutcome("login", { ...cmd, status: "NO" }), {
    error: "IMAP4Error",
    status: "NO",
  });
  assert.deepEqual(impliedOutcome("fetch", { ...cmd, status: "BAD" }), {
    error: "IMAP4Error",
    status: "BAD",
  });
  assert.deepEqual(impliedOutcome("logout", { ...cmd, status: "OK", bye: true }), { typ: "BYE" });
});

Deno.test("conformance: a server line without CRLF implies that the client drops the connection", async () => {
  // Mailutils ends the tagged OK of AUTHENTICATE PLAIN with a bare LF.
  const file = new URL("mailutils/compat_auth.imap", fixtures);
  const cmds = transcriptCommands(parseTranscript(await Deno.readFile(file)));
  const auth = cmds.find((c) => c.name === "AUTHENTICATE" && c.status === "OK");
  assert.ok(auth?.malformed, "the AUTHENTICATE PLAIN answer is malformed");
  assert.deepEqual(impliedOutcome("authenticate", auth), { error: "IMAP4Abort" });
  assert.ok(cmds.filter((c) => c !== auth).every((c) => !c.malformed));
});

Deno.test("conformance: the demo replays imaplib's example session from its Dovecot recording", async () => {
  const { replayDemo } = await import("../../scripts/demo_replay.ts");
  const { runDemo } = await import("../../scripts/demo.ts");
  const lines: string[] = [];
  await replayDemo(runDemo, (line) => lines.push(line));
  const text = lines.join("\n");
  assert.match(text, /M\.fetch\("1", "\(RFC822\)"\)\n {2}→ \["OK", \[/);
  assert.match(text, /Subject: Hello from imaplib-ts/);
  assert.match(text, /# replay ok: \d+ client lines matched/);
});
