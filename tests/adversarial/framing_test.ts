/**
 * Hostile framing: over-long lines, drip-fed bytes, EOF, absurd and huge literals, bytes that are
 * not UTF-8, lines shaped to trigger super-linear parsing, slowloris.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type Datum, IMAP4 } from "../../lib/imap4.ts";
import {
  assertDead,
  connect,
  expect,
  failsWith,
  greet,
  hangUp,
  hostile,
  openSelected,
  run,
  selected,
  send,
  type Step,
  timed,
  wait,
} from "./_hostile.ts";

const enc = new TextEncoder();

function bytes(...parts: (string | Uint8Array)[]): Uint8Array {
  const bs = parts.map((p) => typeof p === "string" ? enc.encode(p) : p);
  const out = new Uint8Array(bs.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of bs) out.set(b, (at += b.length) - b.length);
  return out;
}

Deno.test("a response line over maxLineLength, sent whole: abort, dead, nothing more written", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send("* OK " + "a".repeat(3000) + "\r\n"),
  ]);
  const M = await connect(srv, { maxLineLength: 1000 });
  await failsWith(M.noop(), IMAP4.abort, 1000, /exceeds the limit of 1000 bytes/);
  await assertDead(M, srv);
  assert.deepEqual(srv.lines(), ["A0 CAPABILITY", "A1 NOOP"]);
});

Deno.test("a line over the limit, drip-fed: cut off once the limit is passed, not at the end", async () => {
  let sentWhenCut = -1;
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    run(async (peer) => {
      for (let i = 0; i < 400; i++) {
        try {
          await peer.write(enc.encode("b".repeat(50)));
        } catch {
          sentWhenCut = i * 50;
          return;
        }
        await peer.sleep(1);
      }
    }),
  ]);
  const M = await connect(srv, { maxLineLength: 1000 });
  await failsWith(M.noop(), IMAP4.abort, 2000, /exceeds the limit of 1000 bytes/);
  await srv.done;
  assert.ok(sentWhenCut === -1 || sentWhenCut < 20_000);
  await assertDead(M, srv);
});

Deno.test("one byte per TCP segment for a whole session gives the same results", async () => {
  const literal = "Subject: h\u00e9\r\n\r\n\u65e5\u672c {3}\r\nA9 OK x\r\n";
  const body = enc.encode(literal);
  const script = (drip: boolean): Step[] => {
    const o = drip ? { bytewise: true } : {};
    return [
      send("* OK [CAPABILITY IMAP4rev1] drip\r\n", o),
      expect("A0 CAPABILITY"),
      send("* CAPABILITY IMAP4rev1 IDLE\r\nA0 OK\r\n", o),
      expect(/^A1 LOGIN /),
      send("A1 OK [CAPABILITY IMAP4rev1 IDLE] in\r\n", o),
      expect(/^A2 SELECT /),
      send("* 1 EXISTS\r\n* FLAGS (\\Seen)\r\nA2 OK [READ-WRITE] sel\r\n", o),
      expect("A3 FETCH 1 (BODY[] FLAGS)"),
      send(
        bytes(`* 1 FETCH (BODY[] {${body.length}}\r\n`, body, " FLAGS (\\Seen))\r\nA3 OK done\r\n"),
        o,
      ),
      expect("A4 LOGOUT"),
      send("* BYE bye\r\nA4 OK\r\n", o),
    ];
  };
  const session = async (drip: boolean) => {
    await using srv = hostile(script(drip));
    const M = await connect(srv, { timeout: 2000 });
    const out = [
      M.welcome,
      await M.login("user", "pw"),
      await M.select(),
      await M.fetch("1", "(BODY[] FLAGS)"),
      await M.logout(),
    ];
    assert.deepEqual(srv.failures, []);
    return out;
  };
  const whole = await session(false);
  const dripped = await session(true);
  assert.deepEqual(dripped, whole);
  const fetched = (whole[3] as [string, Datum[]])[1];
  assert.deepEqual(fetched[0], ["1 (BODY[] {" + body.length + "}", body]);
  assert.equal(fetched[1], " FLAGS (\\Seen))");
});

Deno.test("EOF between responses: the waiting command aborts", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), send("* 4 EXISTS\r\n"), hangUp()]);
  const M = await connect(srv);
  await failsWith(M.noop(), IMAP4.abort, 1000, /Connection closed by the server/);
  await assertDead(M, srv);
});

Deno.test("EOF in the middle of a literal: abort, no partial data returned", async () => {
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send("* 1 FETCH (BODY[] {100}\r\nonly forty bytes of the hundred promised.."),
    hangUp(),
  ]);
  const M = await openSelected(srv);
  await failsWith(M.fetch("1", "(BODY[])"), IMAP4.abort, 1000, /middle of a literal/);
  await assertDead(M, srv);
});

Deno.test("a huge literal announced, then silence: cut off after about the timeout", async () => {
  // 500 MB is under the default maxLiteralSize; the size announced must not buy time or memory.
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send("* 1 FETCH (BODY[] {500000000}\r\nsome bytes"),
    wait(3000),
    hangUp(),
  ]);
  const M = await openSelected(srv);
  const rss0 = Deno.memoryUsage().rss;
  const out = await timed(M.fetch("1", "(BODY[])"));
  assert.ok(out.error instanceof IMAP4.abort, String(out.error));
  assert.match((out.error as Error).message, /Timed out reading a literal/);
  assert.ok(out.ms >= 250 && out.ms < 1500, `${out.ms} ms`);
  assert.ok(Deno.memoryUsage().rss - rss0 < 64 * 1024 * 1024, "memory followed the announcement");
  await assertDead(M, srv);
});

Deno.test("a trickling literal (one byte every 30 ms of 10 MB announced): cut off", async () => {
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send("* 1 FETCH (BODY[] {10000000}\r\n"),
    send("x".repeat(1000), { bytewise: true, delay: 30 }),
  ]);
  const M = await openSelected(srv);
  const out = await timed(M.fetch("1", "(BODY[])"));
  assert.ok(out.error instanceof IMAP4.abort, String(out.error));
  assert.ok(out.ms < 1500, `${out.ms} ms`);
});

Deno.test("a large literal at speed, longer than the timeout in total, is not cut off", async () => {
  const size = 3 * 1024 * 1024;
  const body = new Uint8Array(size);
  for (let i = 0; i < size; i++) body[i] = (i * 7919) & 0xff;
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send(bytes(`* 1 FETCH (BODY[] {${size}}\r\n`, body, ")\r\nA3 OK done\r\n"), {
      chunk: 64 * 1024,
      delay: 15,
    }),
  ]);
  const M = await openSelected(srv);
  const out = await timed(M.fetch("1", "(BODY[])"));
  assert.equal(out.error, undefined, String(out.error));
  assert.ok(out.ms > 300, `the transfer took ${out.ms} ms, more than the 300 ms timeout`);
  const [typ, data] = out.value!;
  assert.equal(typ, "OK");
  assert.deepEqual((data[0] as [string, Uint8Array])[1], body);
  await M.shutdown();
});

Deno.test("a literal over maxLiteralSize: abort before reading it", async () => {
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send("* 1 FETCH (BODY[] {1001}\r\n"),
    wait(10_000),
  ]);
  const M = await openSelected(srv, { maxLiteralSize: 1000 });
  await failsWith(
    M.fetch("1", "(BODY[])"),
    IMAP4.abort,
    250,
    /1001 bytes exceeds the limit of 1000/,
  );
  await assertDead(M, srv);
});

for (
  const [label, marker, message] of [
    ["absurd (30 digits)", "{999999999999999999999999999999}", /too many digits/],
    ["overflowing 2^64", "{18446744073709551616}", /too many digits/],
    ["over 2^32", "{4294967296}", /exceeds the limit/],
    ["many leading zeros", "{00000000000000000000005}", /too many digits/],
  ] as const
) {
  Deno.test(`literal size ${label}: abort at once`, async () => {
    await using srv = hostile([
      ...selected(),
      expect(/^A3 FETCH/),
      send(`* 1 FETCH (BODY[] ${marker}\r\nhello)\r\nA3 OK\r\n`),
    ]);
    const M = await openSelected(srv);
    await failsWith(M.fetch("1", "(BODY[])"), IMAP4.abort, 500, message);
    await assertDead(M, srv);
  });
}

Deno.test("a literal size with a few leading zeros is a number like any other", async () => {
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send("* 1 FETCH (BODY[] {005}\r\nhello)\r\nA3 OK\r\n"),
  ]);
  const M = await openSelected(srv);
  const [, data] = await M.fetch("1", "(BODY[])");
  assert.deepEqual(data, [["1 (BODY[] {005}", enc.encode("hello")], ")"]);
  await M.shutdown();
});

Deno.test("zero-length and adjacent literals come back exact and in order", async () => {
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send(
      "* 1 FETCH (BODY[1] {0}\r\n BODY[2] {3}\r\nabc BODY[3] {2}\r\n{}BODY[4] {1}\r\n)" +
        ")\r\nA3 OK\r\n",
    ),
  ]);
  const M = await openSelected(srv);
  const [typ, data] = await M.fetch("1", "(BODY[1] BODY[2] BODY[3] BODY[4])");
  assert.equal(typ, "OK");
  assert.deepEqual(data, [
    ["1 (BODY[1] {0}", new Uint8Array(0)],
    [" BODY[2] {3}", enc.encode("abc")],
    [" BODY[3] {2}", enc.encode("{}")],
    ["BODY[4] {1}", enc.encode(")")],
    ")",
  ]);
  await M.shutdown();
});

Deno.test("a literal full of protocol-looking bytes is data, nothing else", async () => {
  const evil = enc.encode(
    "A3 OK fake completion\r\n* BYE fake\r\n+ fake continuation\r\n* 9 FETCH (BODY[] {5}\r\n",
  );
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send(bytes(`* 1 FETCH (BODY[] {${evil.length}}\r\n`, evil, ")\r\nA3 OK real\r\n")),
    expect("A4 NOOP"),
    send("A4 OK still alive\r\n"),
  ]);
  const M = await openSelected(srv);
  const [typ, data] = await M.fetch("1", "(BODY[])");
  assert.equal(typ, "OK");
  assert.deepEqual((data[0] as [string, Uint8Array])[1], evil);
  assert.deepEqual(await M.noop(), ["OK", ["still alive"]]);
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("literal lengths count bytes, not characters", async () => {
  const text = "\u00e9\u65e5\u{1F600}\r\n";
  const b = enc.encode(text); // 2 + 3 + 4 + 2 = 11 bytes, 5 UTF-16 units
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send(bytes(`* 1 FETCH (BODY[] {${b.length}}\r\n`, b, " UID 7)\r\nA3 OK\r\n")),
  ]);
  const M = await openSelected(srv);
  const [, data] = await M.fetch("1", "(BODY[] UID)");
  assert.equal(b.length, 11);
  assert.deepEqual(data, [[`1 (BODY[] {11}`, b], " UID 7)"]);
  assert.equal(new TextDecoder().decode((data[0] as [string, Uint8Array])[1]), text);
  await M.shutdown();
});

Deno.test("NUL bytes and invalid UTF-8 crash nothing; literals stay exact", async () => {
  const raw = new Uint8Array([0x00, 0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80, 0x0d, 0x0a, 0x00]);
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send(bytes("* 1 FETCH (X-NUL \0 ", new Uint8Array([0xc0, 0xff]), ")\r\n")),
    send(
      bytes(`* 2 FETCH (BODY[] {${raw.length}}\r\n`, raw, ")\r\nA3 OK ", raw.slice(1, 3), "\r\n"),
    ),
  ]);
  const M = await openSelected(srv);
  const [typ, data] = await M.fetch("1:2", "(BODY[])");
  assert.equal(typ, "OK");
  assert.equal(data.length, 3);
  assert.equal(data[0], "1 (X-NUL \0 \uFFFD\uFFFD)");
  assert.deepEqual((data[1] as [string, Uint8Array])[1], raw);
  await M.shutdown();
});

Deno.test("bare LF line endings: abort (framing error)", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), send("* 1 EXISTS\nA1 OK\n")]);
  const M = await connect(srv);
  await failsWith(M.noop(), IMAP4.abort, 500, /not terminated by CRLF/);
  await assertDead(M, srv);
});

Deno.test("ReDoS-shaped 1 MB lines are handled in linear time", async () => {
  const n = 999_000;
  const shapes = [
    "* OK [" + "[".repeat(n) + "\r\n",
    "* 1 FETCH (" + "(".repeat(n) + "\r\n",
    "* SEARCH" + " 1".repeat(n / 2) + "\r\n",
    "* OK " + "{1".repeat(n / 2) + "\r\n",
    "* LIST " + "\\".repeat(n) + "\r\n",
    "* OK " + " ".repeat(n) + "x\r\n",
    "* 1 FETCH " + '"\\'.repeat(n / 2) + "\r\n",
    "* OK " + "&".repeat(n) + "\r\n",
  ];
  const steps: Step[] = [...greet()];
  shapes.forEach((s, i) => steps.push(expect(`A${i + 1} NOOP`), send(s + `A${i + 1} OK\r\n`)));
  await using srv = hostile(steps);
  const M = await connect(srv, { timeout: 5000 });
  for (const shape of shapes) {
    const out = await timed(M.noop());
    assert.equal(out.error, undefined, String(out.error));
    assert.ok(out.ms < 1000, `${JSON.stringify(shape.slice(0, 12))}: ${out.ms} ms`);
  }
  await M.shutdown();
});

Deno.test("slowloris inside a response line: cut off after about the timeout", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send("* OK " + "s".repeat(500), { bytewise: true, delay: 50 }),
  ]);
  const M = await connect(srv);
  const out = await timed(M.noop());
  assert.ok(out.error instanceof IMAP4.abort);
  assert.match((out.error as Error).message, /Timed out waiting for the rest of a response line/);
  assert.ok(out.ms >= 250 && out.ms < 1300, `${out.ms} ms`);
  await assertDead(M, srv);
});

Deno.test("no tagged reply ever: abort after about the timeout", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), wait(10_000)]);
  const M = await connect(srv);
  const out = await timed(M.noop());
  assert.ok(out.error instanceof IMAP4.abort);
  assert.ok(out.ms >= 250 && out.ms < 1300, `${out.ms} ms`);
  await assertDead(M, srv);
});

Deno.test("a server that stops reading: a command too long to be written aborts after about the timeout", async () => {
  await using srv = hostile([...selected(), wait(10_000)]);
  const M = await openSelected(srv);
  // One line of 32 MB, more than the sockets on both sides hold: its write never completes. The
  // command is the only one, so it is read for directly, and the wait for its answer is what
  // must end.
  const set = "1,".repeat(16 * 1024 * 1024) + "1";
  await failsWith(M.uid("FETCH", set, "(FLAGS)"), IMAP4.abort, 1500, /timed out/i);
  await assertDead(M, srv);
});

Deno.test("a tagged line ending in {n} carries no literal", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), send("A1 OK done {5}\r\n")]);
  const M = await connect(srv);
  const out = await timed(M.noop());
  assert.deepEqual(out.value, ["OK", ["done {5}"]]);
  assert.ok(out.ms < 250);
  await M.shutdown();
});
