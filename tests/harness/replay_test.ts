import assert from "node:assert/strict";
import { drive, driveTcp, type Duplex, Reads } from "./_client.ts";
import { DOVECOT, PYTHON_FIXTURES, ROOT, TLS } from "./_common.ts";
import {
  parseTranscript,
  replay,
  ReplayMismatch,
  type ReplayResult,
  runSuite,
  type Transcript,
} from "../../lib/harness/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const fixture = async (name: string) =>
  parseTranscript(await Deno.readFile(new URL(name, DOVECOT)));

const clientLines = (t: Transcript) =>
  t.entries.filter((e) => e.kind === "line" && e.side === "C").length;

for (const name of PYTHON_FIXTURES) {
  Deno.test(`replay serves ${name} to a raw client with other tags and secrets`, async () => {
    const t = await fixture(name);
    await using server = await replay(t, { tls: TLS, implicitTls: false });
    await driveTcp(server, t);
    const result = await server.done;
    assert.equal(result.error, undefined);
    assert.deepEqual(result, { ok: true, clientLines: clientLines(t) });
  });
}

Deno.test("replay serves implicit TLS with the test certificate", async () => {
  const t = await fixture("python_basic.imap");
  await using server = await replay(t, { tls: TLS });
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: server.port,
    caCerts: [TLS.cert],
  });
  try {
    await drive(conn, t);
  } finally {
    conn.close();
  }
  assert.equal((await server.done).ok, true);
});

async function mismatchOf(
  t: Transcript,
  send: string[],
  options = {},
): Promise<[ReplayResult, string]> {
  await using server = await replay(t, options);
  const conn = await Deno.connect({ hostname: server.hostname, port: server.port });
  const r = new Reads(conn);
  for (const s of send) await conn.write(enc.encode(s));
  const got = await r.rest();
  conn.close();
  return [await server.done, got];
}

Deno.test("replay reports the first mismatched line with a readable diff and says BYE", async () => {
  const [result, got] = await mismatchOf(await fixture("python_basic.imap"), ["zz0 NOOP\r\n"]);
  assert.equal(result.ok, false);
  const err = result.error;
  assert.ok(err instanceof ReplayMismatch);
  assert.equal(err.lineNumber, 5);
  assert.equal(err.offset, 4);
  assert.equal(err.expected, 'C: "zz0 CAPABILITY\\r\\n"');
  assert.equal(err.received, 'C: "zz0 NOOP\\r\\n"');
  assert.match(err.message, /transcript line 5, byte 4:\n {2}expected: C: .*\n {2}received: C: /);
  assert.match(got, /\* BYE replay mismatch\r\n$/);
  assert.equal(result.clientLines, 0);
});

Deno.test("replay compares literal bytes exactly", async () => {
  const t = parseTranscript(enc.encode(
    "S: * OK hi\r\nC: a1 APPEND INBOX {5+}\r\nhelloC: \r\nS: a1 OK done\r\n",
  ));
  const [result] = await mismatchOf(t, ["b1 APPEND INBOX {5+}\r\nhellO\r\n"]);
  assert.ok(result.error instanceof ReplayMismatch);
  assert.match(result.error.message, /client literal at transcript line 2, byte 4/);
  assert.equal(result.error.received, '"hellO"');
  const [ok] = await mismatchOf(t, ["b1 APPEND INBOX {5+}\r\nhello\r\n"]);
  assert.deepEqual(ok, { ok: true, clientLines: 2 });
});

Deno.test("replay fails when the client sends nothing in time or hangs up", async () => {
  const t = await fixture("python_basic.imap");
  const [slow] = await mismatchOf(t, [], { timeout: 50 });
  assert.ok(slow.error instanceof ReplayMismatch);
  assert.equal(slow.error.received, "(nothing within 50 ms)");
});

Deno.test("replay honours # wait before the lines after it", async () => {
  const t = parseTranscript(enc.encode(
    "S: * OK hi\r\nC: a IDLE\r\nS: + idling\r\n# wait: 120\r\nS: * 2 EXISTS\r\nC: DONE\r\nS: a OK\r\n",
  ));
  await using server = await replay(t);
  const conn = await Deno.connect({ hostname: server.hostname, port: server.port });
  const r = new Reads(conn);
  await r.exact("* OK hi\r\n".length);
  await conn.write(enc.encode("q7 IDLE\r\n"));
  assert.equal(dec.decode(await r.exact("+ idling\r\n".length)), "+ idling\r\n");
  const start = performance.now();
  assert.equal(dec.decode(await r.exact("* 2 EXISTS\r\n".length)), "* 2 EXISTS\r\n");
  assert.ok(performance.now() - start >= 100, "the EXISTS waited");
  await conn.write(enc.encode("DONE\r\n"));
  assert.equal(await r.rest(), "q7 OK\r\n");
  conn.close();
  assert.deepEqual(await server.done, { ok: true, clientLines: 2 });
});

Deno.test("replay maps the tag inside ESEARCH responses", async () => {
  const t = parseTranscript(enc.encode(
    'S: * OK hi\r\nC: A1 SEARCH RETURN (MIN) ALL\r\nS: * ESEARCH (TAG "A1") MIN 2\r\nS: A1 OK\r\n',
  ));
  const [result, got] = await mismatchOf(t, ["x-9 SEARCH RETURN (MIN) ALL\r\n"]);
  assert.equal(result.ok, true);
  assert.equal(got, '* OK hi\r\n* ESEARCH (TAG "x-9") MIN 2\r\nx-9 OK\r\n');
});

/** Starts `scripts/replay.ts --stdio` on `file`, with stdin, stdout and stderr piped. */
function spawnStdioReplay(file: URL): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      new URL("scripts/replay.ts", ROOT).pathname,
      "--stdio",
      file.pathname,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("scripts/replay.ts --stdio serves a transcript over stdin/stdout", async () => {
  const file = new URL("python_stream.imap", DOVECOT);
  const t = parseTranscript(await Deno.readFile(file));
  const child = spawnStdioReplay(file);
  const writer = child.stdin.getWriter();
  const reader = child.stdout.getReader();
  const duplex: Duplex = {
    async read(b) {
      const x = await reader.read();
      if (x.done) return null;
      b.set(x.value); // chunks from a pipe are at most 64 KiB, the size of b
      return x.value.length;
    },
    write: (b) => writer.write(b),
  };
  await drive(duplex, t);
  await writer.close();
  reader.releaseLock();
  const out = await child.output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
});

Deno.test("scripts/replay.ts --stdio exits 1 with the diff on a mismatch", async () => {
  const file = new URL("python_stream.imap", DOVECOT);
  const child = spawnStdioReplay(file);
  const writer = child.stdin.getWriter();
  await writer.write(enc.encode("x1 NOOP\r\n"));
  await writer.close();
  const out = await child.output();
  assert.equal(out.code, 1);
  assert.match(dec.decode(out.stdout), /^\* PREAUTH .*\r\n\* BYE replay mismatch\r\n$/);
  assert.match(
    dec.decode(out.stderr),
    /expected: C: "x1 CAPABILITY\\r\\n"\n {2}received: C: "x1 NOOP/,
  );
});

Deno.test("runSuite replays a directory, one server per transcript", async () => {
  const results = await runSuite(DOVECOT.pathname, async (server, testCase) => {
    const conn = await Deno.connect({ hostname: server.hostname, port: server.port });
    try {
      // Each client stops after the greeting and a wrong command.
      await conn.write(enc.encode("t BOGUS\r\n"));
      await new Reads(conn).rest();
    } finally {
      conn.close();
    }
    assert.ok(testCase.transcript.entries.length > 0);
  }, { tls: TLS });
  // The folder also holds the compatibility recordings; the python ones must all be there, in order.
  assert.deepEqual(
    results.map((r) => r.name).filter((n) => n.startsWith("python_")),
    PYTHON_FIXTURES,
  );
  for (const r of results.filter((r) => r.name.startsWith("python_"))) {
    assert.equal(r.ok, false);
    assert.ok(r.error instanceof ReplayMismatch);
  }
});
