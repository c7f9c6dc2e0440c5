/**
 * Nothing unvalidated on the wire: CR, LF and NUL in every kind of argument, hidden literal
 * markers, non-synchronising literals only when allowed.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IMAP4 } from "../../lib/imap4.ts";
import {
  connect,
  expect,
  failsWith,
  greet,
  hostile,
  login,
  readBytes,
  select,
  send,
} from "./_hostile.ts";

const BAD = ["a\rb", "a\nb", "a\0b", "x\r\nA9 DELETE INBOX"];

type Call = [string, (M: IMAP4, bad: string) => Promise<unknown>];

const CALLS: Call[] = [
  ["login user", (M, b) => M.login(b, "pw")],
  ["login password", (M, b) => M.login("user", b)],
  ["select mailbox", (M, b) => M.select(b)],
  ["create mailbox", (M, b) => M.create(b)],
  ["delete mailbox", (M, b) => M.delete(b)],
  ["rename old", (M, b) => M.rename(b, "x")],
  ["rename new", (M, b) => M.rename("x", b)],
  ["list reference", (M, b) => M.list(b, "*")],
  ["list pattern", (M, b) => M.list('""', b)],
  ["lsub pattern", (M, b) => M.lsub('""', b)],
  ["status mailbox", (M, b) => M.status(b, "(MESSAGES)")],
  ["status items", (M, b) => M.status("INBOX", b)],
  ["subscribe", (M, b) => M.subscribe(b)],
  ["unsubscribe", (M, b) => M.unsubscribe(b)],
  ["append mailbox", (M, b) => M.append(b, null, null, "x")],
  ["append flags", (M, b) => M.append("INBOX", b, null, "x")],
  ["append date string", (M, b) => M.append("INBOX", null, `"${b}"`, "x")],
  ["fetch set", (M, b) => M.fetch(b, "(FLAGS)")],
  ["fetch items", (M, b) => M.fetch("1", b)],
  ["store set", (M, b) => M.store(b, "+FLAGS", "\\Seen")],
  ["store command", (M, b) => M.store("1", b, "\\Seen")],
  ["store flags", (M, b) => M.store("1", "+FLAGS", b)],
  ["copy set", (M, b) => M.copy(b, "x")],
  ["copy mailbox", (M, b) => M.copy("1", b)],
  ["move mailbox", (M, b) => M.move("1", b)],
  ["search criteria", (M, b) => M.search(null, b)],
  ["search charset", (M, b) => M.search(b, "ALL")],
  ["sort criteria", (M, b) => M.sort(b, "UTF-8", "ALL")],
  ["thread algorithm", (M, b) => M.thread(b, "UTF-8", "ALL")],
  ["uid args", (M, b) => M.uid("FETCH", b, "(FLAGS)")],
  ["uid copy mailbox", (M, b) => M.uid("COPY", "1", b)],
  ["setacl who", (M, b) => M.setacl("INBOX", b, "lr")],
  ["getacl", (M, b) => M.getacl(b)],
  ["myrights", (M, b) => M.myrights(b)],
  ["getquota", (M, b) => M.getquota(b)],
  ["getquotaroot", (M, b) => M.getquotaroot(b)],
  ["setquota", (M, b) => M.setquota("", b)],
  ["getannotation", (M, b) => M.getannotation("INBOX", b, "value")],
  ["xatom argument", (M, b) => M.xatom("XCMD", b)],
  ["xatom name", (M, b) => M.xatom(b)],
  ["enable", (M, b) => M.enable(b)],
  ["authenticate mechanism", (M, b) => M.authenticate(b, () => null)],
];

Deno.test("CR, LF and NUL in every kind of argument: TypeError, nothing written", async () => {
  await using srv = hostile([
    ...greet("IMAP4rev1 ENABLE LITERAL+ UIDPLUS MOVE"),
    ...login("A1", "IMAP4rev1 ENABLE LITERAL+ MOVE"),
    ...select(),
    expect("A3 NOOP"),
    send("A3 OK still in step\r\n"),
  ]);
  const M = await connect(srv);
  // Each call is made in the state that allows it, so that only the argument can be refused.
  const nonauth = CALLS.filter(([n]) => n.startsWith("login") || n.startsWith("authenticate"));
  const others = CALLS.filter((c) => !nonauth.includes(c));
  const check = async (calls: Call[]) => {
    for (const [label, call] of calls) {
      for (const bad of BAD) {
        const before = srv.bytes().length;
        const e = await failsWith(call(M, bad), TypeError, 200);
        assert.ok(!e.message.includes(bad), `${label}: the message quotes the raw value`);
        assert.equal(srv.bytes().length, before, `${label} ${JSON.stringify(bad)} wrote bytes`);
      }
    }
  };
  const auth = others.filter(([n]) => n === "enable");
  await check(nonauth);
  await M.login("user", "pw");
  await check(auth);
  await M.select();
  await check(others.filter((c) => !auth.includes(c)));
  assert.deepEqual(await M.noop(), ["OK", ["still in step"]]);
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("literal markers hidden in raw arguments are refused", async () => {
  await using srv = hostile([...greet(), ...login(), ...select()]);
  const M = await connect(srv);
  await M.login("user", "pw");
  await M.select();
  const before = srv.bytes().length;
  for (const raw of ["(BODY[] {5})", "(X {5+})", '"a {12}"', "(~{3})", '"{0}"']) {
    await failsWith(M.fetch("1", raw), TypeError, 100, /hides a literal marker/);
  }
  assert.equal(srv.bytes().length, before);
  await M.shutdown();
});

Deno.test("a literal marker in an ordinary argument travels quoted, never as a marker", async () => {
  await using srv = hostile([
    ...greet(),
    ...login(),
    expect('A2 CREATE "box {5}"'),
    send("A2 OK\r\n"),
  ]);
  const M = await connect(srv);
  await M.login("user", "pw");
  assert.equal((await M.create("box {5}"))[0], "OK");
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("bytes with CRLF travel as a synchronising literal, after '+'", async () => {
  const payload = new TextEncoder().encode("line1\r\nA9 LOGOUT\r\n");
  await using srv = hostile([
    ...greet(),
    expect(`A1 XCMD {${payload.length}}`),
    send("+ ok\r\n"),
    readBytes(payload.length + 2),
    send("A1 OK\r\n"),
  ]);
  const M = await connect(srv);
  assert.equal((await M.xatom("XCMD", payload))[0], "OK");
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("without LITERAL+ a literal waits for '+': a NO instead means it is never sent", async () => {
  const payload = new TextEncoder().encode("never-on-the-wire");
  await using srv = hostile([
    ...greet("IMAP4rev1"),
    expect(`A1 XCMD {${payload.length}}`),
    send("A1 NO refused\r\n"),
  ]);
  const M = await connect(srv);
  assert.deepEqual(await M.xatom("XCMD", payload), ["NO", ["refused"]]);
  await M.shutdown();
  assert.ok(!srv.text().includes("never-on-the-wire"));
});

Deno.test("LITERAL+ allows {n+}; LITERAL- only up to 4096 bytes", async () => {
  const small = new Uint8Array(4096).fill(0x61);
  const big = new Uint8Array(4097).fill(0x62);
  await using srv = hostile([
    ...greet("IMAP4rev1 LITERAL-"),
    expect("A1 XCMD {4096+}"),
    readBytes(4096 + 2),
    send("A1 OK\r\n"),
    expect("A2 XCMD {4097}"),
    send("+ go\r\n"),
    readBytes(4097 + 2),
    send("A2 OK\r\n"),
  ]);
  const M = await connect(srv);
  assert.equal((await M.xatom("XCMD", small))[0], "OK");
  assert.equal((await M.xatom("XCMD", big))[0], "OK");
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("a non-ASCII password travels as a literal, a tag prefix cannot inject", async () => {
  assert.throws(() => new IMAP4({ tagPrefix: "A\r\nX" }), TypeError);
  assert.throws(() => new IMAP4({ tagPrefix: "A1 " }), TypeError);
  await using srv = hostile([
    ...greet("IMAP4rev1 LITERAL+"),
    expect("A1 LOGIN user {7+}"),
    readBytes(7 + 2),
    send("A1 OK [CAPABILITY IMAP4rev1] in\r\n"),
  ]);
  const M = await connect(srv);
  assert.equal((await M.login("user", "p\u00e4ss\u00e9"))[0], "OK");
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("negative, fractional and huge numbers are refused as arguments", async () => {
  await using srv = hostile([...greet()]);
  const M = await connect(srv);
  for (const n of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    await failsWith(M.xatom("XCMD", n), TypeError, 100);
  }
  await M.shutdown();
  assert.deepEqual(srv.lines(), ["A0 CAPABILITY"]);
});

Deno.test("uid(): any spelling of the subcommand, mailboxes encoded, unknown names refused", async () => {
  await using srv = hostile([
    ...greet("IMAP4rev1 MOVE"),
    ...login("A1", "IMAP4rev1 MOVE"),
    ...select(),
    expect("A3 UID FETCH 7 (FLAGS)"),
    send("* 1 FETCH (UID 7 FLAGS ())\r\nA3 OK done\r\n"),
    expect("A4 UID FETCH 8 (FLAGS)"),
    send("* 2 FETCH (UID 8 FLAGS ())\r\nA4 OK done\r\n"),
    expect("A5 UID COPY 7 Entw&APw-rfe"),
    send("A5 OK copied\r\n"),
    expect('A6 UID MOVE 8 "a b"'),
    send("A6 OK moved\r\n"),
    expect("A7 UID SEARCH ALL"),
    send("* SEARCH 7 8\r\nA7 OK searched\r\n"),
  ]);
  const M = await connect(srv);
  await M.login("user", "pw");
  await M.select();
  assert.deepEqual(await M.uid("fetch", "7", "(FLAGS)"), ["OK", ["1 (UID 7 FLAGS ())"]]);
  assert.deepEqual(await M.uid("Fetch", "8", "(FLAGS)"), ["OK", ["2 (UID 8 FLAGS ())"]]);
  assert.deepEqual(await M.uid("copy", "7", "Entwürfe"), ["OK", [null]]);
  assert.deepEqual(await M.uid("MOVE", "8", "a b"), ["OK", [null]]);
  assert.deepEqual(await M.uid("search", "ALL"), ["OK", ["7 8"]]);
  const before = srv.bytes().length;
  await failsWith(M.uid("BOGUS", "1"), IMAP4.error, 100, /Unknown IMAP4 UID command: "BOGUS"/);
  assert.equal(srv.bytes().length, before);
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});
