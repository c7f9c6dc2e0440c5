import assert from "node:assert/strict";
import {
  literalOf,
  metadataOf,
  parseTranscript,
  SessionTracker,
  TranscriptSyntaxError,
  writeTranscript,
} from "../../lib/harness/transcript.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const fixtures = new URL("../../fixtures/transcripts/", import.meta.url);

async function fixtureFiles(dir = fixtures): Promise<URL[]> {
  const out: URL[] = [];
  for await (const e of Deno.readDir(dir)) {
    const u = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) out.push(...await fixtureFiles(u));
    else if (e.name.endsWith(".imap")) out.push(u);
  }
  return out.sort((a, b) => a.href.localeCompare(b.href));
}

Deno.test("transcript round trip is byte-identical on every fixture", async () => {
  const files = await fixtureFiles();
  assert.ok(files.length >= 6, `only ${files.length} fixtures`);
  for (const f of files) {
    const bytes = await Deno.readFile(f);
    const t = parseTranscript(bytes);
    assert.ok(t.entries.some((e) => e.kind === "line" && e.side === "C"), f.href);
    assert.deepEqual(writeTranscript(t), bytes, f.href);
  }
});

Deno.test("transcript parser frames literals by byte count and numbers lines", () => {
  const body = "Subject: é\r\nC: not a line\r\n"; // looks like a line, but is literal data
  const size = enc.encode(body).length;
  const bytes = enc.encode(
    `# server: test 1\r\nS: * OK hi\r\nC: a1 APPEND x {${size}}\r\n${body}S: + go\r\nC: \r\n` +
      `\nS: a1 OK [APPENDUID 1 2] done\n`,
  );
  const t = parseTranscript(bytes);
  const lines = t.entries.filter((e) => e.kind === "line");
  assert.equal(lines.length, 5);
  assert.equal(dec.decode(lines[1].literal), body);
  assert.equal(lines[1].lineNumber, 3);
  assert.equal(lines[2].lineNumber, 6);
  assert.equal(lines[4].lineNumber, 9);
  assert.equal(dec.decode(lines[4].line), "a1 OK [APPENDUID 1 2] done\n");
  assert.deepEqual(metadataOf(t), { server: "test 1" });
  assert.deepEqual(writeTranscript(t), bytes);
});

Deno.test("transcript parser rejects an unknown prefix and a short literal with line numbers", () => {
  assert.throws(
    () => parseTranscript(enc.encode("S: * OK\r\nX: what\r\n")),
    (e) => e instanceof TranscriptSyntaxError && e.lineNumber === 2 && /"X: what/.test(e.message),
  );
  assert.throws(
    () => parseTranscript(enc.encode("S: * OK\r\nS: * 1 FETCH (BODY[] {10}\r\nshort")),
    (e) => e instanceof TranscriptSyntaxError && e.lineNumber === 2 && /10 bytes/.test(e.message),
  );
});

Deno.test("literalOf finds {n} and {n+} only at the end of a line", () => {
  assert.deepEqual(literalOf(enc.encode("a LOGIN u {12}\r\n")), {
    size: 12,
    sync: true,
    start: 10,
  });
  assert.deepEqual(literalOf(enc.encode("a X {0+}\r\n")), { size: 0, sync: false, start: 4 });
  assert.equal(literalOf(enc.encode("a X {12} y\r\n")), null);
  assert.equal(literalOf(enc.encode("a X {}\r\n")), null);
  assert.equal(literalOf(enc.encode("a X 12}\r\n")), null);
});

Deno.test("session tracker tells commands, literal continuations and payload lines apart", () => {
  const tr = new SessionTracker();
  const c = (s: string) => tr.client(enc.encode(s));
  const s = (x: string) => tr.server(enc.encode(x));
  s("* OK ready\r\n");
  assert.equal(c("t1 LOGIN {4}\r\n").role, "command");
  s("+ go\r\n");
  const cont = c(" pass\r\n");
  assert.deepEqual([cont.role, cont.tag, cont.command], ["continuation", "t1", "LOGIN"]);
  s("t1 OK\r\n");
  c("t2 AUTHENTICATE PLAIN\r\n");
  s("+ \r\n");
  assert.equal(c("AGEAYg==\r\n").role, "payload");
  s("t2 OK\r\n");
  c("t3 IDLE\r\n");
  s("+ idling\r\n");
  s("* 3 EXISTS\r\n");
  const done = c("DONE\r\n");
  assert.deepEqual([done.role, done.command], ["payload", "IDLE"]);
  s("t3 OK\r\n");
  assert.equal(c("t4 UID FETCH 1 BODY[]\r\n").command, "UID FETCH");
  assert.equal(s("* 1 FETCH (BODY[] {3}\r\n").role, "response");
  assert.equal(s(")\r\n").role, "continuation");
  assert.equal(s("t4 OK\r\n").first, "t4");
});
