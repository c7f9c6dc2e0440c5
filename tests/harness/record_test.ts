import assert from "node:assert/strict";
import { driveTcp, PASSWORD } from "./_client.ts";
import { DOVECOT, PYTHON_FIXTURES, TLS } from "./_common.ts";
import {
  metadataOf,
  parseTranscript,
  record,
  RecordingSession,
  replay,
  type Transcript,
} from "../../lib/harness/mod.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The transcript without its comment lines, as bytes. */
const body = (t: Transcript) =>
  dec.decode(
    new Uint8Array(
      t.entries.flatMap((e) =>
        e.kind === "comment" ? [] : [...enc.encode(`${e.side}: `), ...e.line, ...(e.literal ?? [])]
      ),
    ),
  );

Deno.test("recording session masks LOGIN passwords in every form and AUTHENTICATE data", () => {
  const s = new RecordingSession({ server: "test", recorded: new Date(0) });
  const talk: [boolean, string][] = [
    [false, "* OK ready\r\n"],
    [true, "a1 LOGIN alice hunter2\r\n"],
    [false, "a1 NO no\r\n"],
    [true, 'a2 LOGIN "alice" "hun ter\\"2"\r\n'],
    [false, "a2 NO no\r\n"],
    [true, "a3 LOGIN {5}\r\n"],
    [false, "+ go\r\n"],
    [true, "alice"],
    [true, " {7}\r\n"],
    [false, "+ go\r\n"],
    [true, "hunter2\r\n"],
    [false, "a3 NO no\r\n"],
    [true, "a4 LOGIN alice {7+}\r\nhunter2\r\n"],
    [false, "a4 NO no\r\n"],
    [true, "a5 AUTHENTICATE PLAIN AGFsaWNlAGh1bnRlcjI=\r\n"],
    [false, "a5 NO no\r\n"],
    [true, "a6 AUTHENTICATE LOGIN\r\n"],
    [false, "+ VXNlcm5hbWU6\r\n"],
    [true, "YWxpY2U=\r\n"],
    [false, "+ UGFzc3dvcmQ6\r\n"],
    [true, "aHVudGVyMg=="],
    [true, "\r\n"],
    [false, "a6 OK yes\r\n"],
    [true, "a7 LOGOUT\r\n"],
  ];
  for (const [client, text] of talk) {
    if (client) s.client(enc.encode(text));
    else s.server(enc.encode(text));
  }
  const out = s.transcript();
  const text = dec.decode(out);
  for (const secret of ["hunter2", "hun ter", "AGFsaWNlAGh1bnRlcjI=", "aHVudGVyMg==", "YWxpY2U="]) {
    assert.ok(!text.includes(secret), `${secret} leaked`);
  }
  assert.equal(
    text,
    "# server: test\r\n# recorded: 1970-01-01T00:00:00.000Z\r\n# transport: tcp\r\n" +
      "S: * OK ready\r\nC: a1 LOGIN alice <redacted>\r\nS: a1 NO no\r\n" +
      'C: a2 LOGIN "alice" <redacted>\r\nS: a2 NO no\r\n' +
      "C: a3 LOGIN {5}\r\naliceS: + go\r\nC:  {10}\r\n<redacted>S: + go\r\nC: \r\nS: a3 NO no\r\n" +
      "C: a4 LOGIN alice {10+}\r\n<redacted>C: \r\nS: a4 NO no\r\n" +
      "C: a5 AUTHENTICATE PLAIN <redacted>\r\nS: a5 NO no\r\n" +
      "C: a6 AUTHENTICATE LOGIN\r\nS: + VXNlcm5hbWU6\r\nC: <redacted>\r\nS: + UGFzc3dvcmQ6\r\n" +
      "C: <redacted>\r\nS: a6 OK yes\r\nC: a7 LOGOUT\r\n",
  );
  assert.equal(parseTranscript(out).entries.length, 26);
});

for (const name of PYTHON_FIXTURES) {
  Deno.test(`recorder between a client and a replay of ${name} writes the same session`, async () => {
    const fixture = parseTranscript(await Deno.readFile(new URL(name, DOVECOT)));
    await using upstream = await replay(fixture, { tls: TLS, implicitTls: false });
    await using rec = await record({
      upstream: {
        hostname: upstream.hostname,
        port: upstream.port,
        caCerts: [TLS.cert],
        servername: "localhost",
      },
      starttlsCert: TLS,
      server: "replay",
    });
    await driveTcp(rec, fixture, (recorded) => recorded);
    const bytes = await rec.done;
    assert.deepEqual(await upstream.done, {
      ok: true,
      clientLines: fixture.entries.filter((e) => e.kind === "line" && e.side === "C").length,
    });
    assert.ok(!dec.decode(bytes).includes("s3cret"), "the password never reaches the transcript");
    assert.ok(!dec.decode(bytes).includes(btoa(`\0imaptest\0${PASSWORD}`)));
    const recorded = parseTranscript(bytes);
    assert.equal(body(recorded), body(fixture));
    assert.equal(metadataOf(recorded).server, "replay");
    assert.equal(metadataOf(recorded).transport, "tcp");
  });
}
