/**
 * Every recorded fixture with recorded calls (`fixtures/transcripts/<server>/<name>.calls.json`)
 * is replayed through the npm build on Node: the replay server is the package's harness, the
 * client the package's IMAP4 over the Node transports (plain TCP, implicit TLS and STARTTLS with
 * the certificate verified, or IMAP4_stream over a child Node process), and each call's outcome
 * must be what the transcript implies, literals byte-exact (the check of
 * tests/harness/conformance_test.ts, the same code).
 *
 * Run by tests/node_build_test.ts; alone: `node --test tests/node/replay_test.mjs`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { inspect } from "node:util";
import { test as nodeTest } from "node:test";
import { loadPackage, onDeno, root } from "./_package.mjs";

const test = onDeno
  ? (name, fn) => nodeTest(name, { skip: "runs under Node (tests/node_build_test.ts)" }, fn)
  : nodeTest;

const fixtures = join(root, "fixtures", "transcripts");
const certDir = join(root, "fixtures", "certs", "replay");
const tls = {
  cert: readFileSync(join(certDir, "cert.pem"), "utf8"),
  key: readFileSync(join(certDir, "key.pem"), "utf8"),
};
const clientTls = { caCerts: [tls.cert], hostname: "localhost" };

/** Every fixture, with its recorded calls or null. */
function listFixtures() {
  const out = [];
  for (const server of readdirSync(fixtures).sort()) {
    const dir = join(fixtures, server);
    for (const f of readdirSync(dir).sort()) {
      if (!f.endsWith(".imap")) continue;
      const file = join(dir, f);
      const sidecar = file.replace(/\.imap$/, ".calls.json");
      const calls = existsSync(sidecar) ? JSON.parse(readFileSync(sidecar, "utf8")).calls : null;
      out.push({ server, name: f.slice(0, -5), file, calls });
    }
  }
  return out;
}

const all = listFixtures();
const withCalls = all.filter((f) => f.calls !== null);

/** Replays one fixture to the package's client and re-runs its calls; returns the problems. */
async function conform(fx) {
  const { imaplib, harness, compat, project } = await loadPackage();
  const transcript = harness.parseTranscript(readFileSync(fx.file));
  const transport = harness.metadataOf(transcript).transport;
  if (transport === "stream") {
    const argv = [
      process.execPath,
      join(root, "tests", "node", "_replay_stdio.mjs"),
      project,
      fx.file,
    ];
    const results = await compat.checkCalls(fx.calls, transcript, (kind) => {
      assert.equal(kind, "stream");
      return imaplib.IMAP4_stream.connect(argv, {
        onStderr: (chunk) => process.stderr.write(chunk),
      });
    }, { tls: clientTls });
    return { results, replayError: undefined };
  }
  const server = await harness.replay(transcript, { tls, implicitTls: transport === "tls" });
  try {
    const connect = (kind) =>
      kind === "tls"
        ? imaplib.IMAP4_SSL.connect(server.hostname, server.port, clientTls)
        : imaplib.IMAP4.connect(server.hostname, server.port);
    const results = await compat.checkCalls(fx.calls, transcript, connect, { tls: clientTls });
    const done = await server.done;
    return { results, replayError: done.ok ? undefined : done.error };
  } finally {
    await server.close();
  }
}

for (const fx of withCalls) {
  test(`npm build on Node replays ${fx.server}/${fx.name} as the transcript implies`, async () => {
    const { results, replayError } = await conform(fx);
    assert.equal(replayError, undefined, replayError?.message);
    assert.deepEqual(results.flatMap((r) => r.problems), []);
    assert.ok(
      results.length >= fx.calls.length,
      `${results.length} of ${fx.calls.length} calls ran`,
    );
  });
}

test("npm build on Node: the fixtures cover every transport", () => {
  const kinds = new Set(
    withCalls.map((fx) =>
      /^# transport: (\S+)/m.exec(readFileSync(fx.file, "latin1"))?.[1] ?? "tcp"
    ),
  );
  assert.deepEqual([...kinds].sort(), ["stream", "tcp", "tls"]);
  assert.ok(
    withCalls.some((fx) => fx.calls.some((c) => c.method === "starttls")),
    "a fixture uses STARTTLS",
  );
  // Fixtures without calls (the python_* ones, replayed to CPython's imaplib on Deno) are named
  // so that a missing sidecar is seen.
  const without = all.filter((f) => f.calls === null).map((f) => `${f.server}/${f.name}`);
  assert.ok(withCalls.length >= 40, `only ${withCalls.length} fixtures have calls`);
  assert.ok(
    without.every((n) => /\/(python_[a-z_]+|demo)$/.test(n)),
    `fixtures without calls: ${without.join(", ")}`,
  );
});

test("npm build on Node: util.inspect and JSON.stringify show a client's public attributes only", async () => {
  const { imaplib } = await loadPackage();
  const server = createServer((socket) => {
    socket.write("* OK ready\r\n");
    socket.on("data", (d) => {
      const tag = d.toString("latin1").split(" ")[0];
      socket.write(`* CAPABILITY IMAP4rev1\r\n${tag} OK done\r\n`);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const M = await imaplib.IMAP4.connect("127.0.0.1", server.address().port);
    const shown = inspect(M, { depth: Infinity, showHidden: true });
    assert.match(shown, /^IMAP4 \{/);
    assert.match(shown, /state: 'NONAUTH'/);
    assert.doesNotMatch(shown, /_reader|_pending|_conn/);
    const json = JSON.parse(JSON.stringify(M));
    assert.equal(json.state, "NONAUTH");
    assert.deepEqual(json.capabilities, ["IMAP4REV1"]);
    assert.equal("_reader" in json, false);
    await M.shutdown();
  } finally {
    server.close();
  }
});
