/**
 * Hostile protocol behaviour: BYE, foreign and premature tags, unrequested continuations,
 * floods, unsolicited READ-ONLY, odd tagged statuses, deep nesting, huge numbers, range bombs,
 * hostile mailbox names and modified UTF-7, cancellation.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IMAP4 } from "../../lib/imap4.ts";
import { parseFetch, parseList, parseUidCode } from "../../lib/wire/decoder.ts";
import { decodeMailboxName } from "../../utils/utf7.ts";
import { parseSequenceSet } from "../../utils/sequence_set.ts";
import { memoryServer } from "./_memory.ts";
import type { Transport, TransportFactory } from "../../transports/transport.ts";
import {
  assertDead,
  connect,
  expect,
  failsWith,
  greet,
  hangUp,
  hostile,
  login,
  openSelected,
  readBytes,
  selected,
  send,
  type Step,
  timed,
  wait,
} from "./_hostile.ts";

const enc = new TextEncoder();

Deno.test("unsolicited BYE between commands: the next command aborts with the server's words", async () => {
  await using srv = hostile([...greet(), send("* BYE server shutting down\r\n"), wait(5000)]);
  const M = await connect(srv);
  const e = await failsWith(M.noop(), IMAP4.abort, 500, /Server said BYE.*shutting down/);
  assert.equal((e as InstanceType<typeof IMAP4.abort>).status, "BYE");
  await assertDead(M, srv);
});

Deno.test("BYE in answer to a command, then EOF: abort, not a hang", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send("* BYE idle too long\r\n"),
    hangUp(),
  ]);
  const M = await connect(srv);
  await failsWith(M.noop(), IMAP4.abort, 500, /BYE/);
  await assertDead(M, srv);
});

Deno.test("BYE in answer to LOGOUT is the normal end", async () => {
  await using srv = hostile([...greet(), expect("A1 LOGOUT"), send("* BYE see you\r\nA1 OK\r\n")]);
  const M = await connect(srv);
  assert.deepEqual(await M.logout(), ["BYE", ["see you"]]);
  assert.equal(M.state, "LOGOUT");
});

Deno.test("a foreign tag: abort", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), send("ZZ9 OK not yours\r\nA1 OK\r\n")]);
  const M = await connect(srv);
  await failsWith(M.noop(), IMAP4.abort, 500, /Unexpected tagged response: "ZZ9 OK/);
  await assertDead(M, srv);
});

Deno.test("a premature tag (for a command not sent yet): abort", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), send("A2 OK too early\r\n")]);
  const M = await connect(srv);
  await failsWith(M.noop(), IMAP4.abort, 500, /Unexpected tagged response: "A2 OK/);
  await assertDead(M, srv);
});

Deno.test("a second completion of a finished tag: abort", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send("A1 OK\r\n"),
    expect("A2 NOOP"),
    send("A1 OK again\r\nA2 OK\r\n"),
  ]);
  const M = await connect(srv);
  assert.equal((await M.noop())[0], "OK");
  await failsWith(M.noop(), IMAP4.abort, 500, /Unexpected tagged response: "A1 OK again/);
  await assertDead(M, srv);
});

Deno.test("a tagged answer before '+': the literal (a password) is never sent", async () => {
  const password = "p\u00e4ssw\u00f6rd-\u65e5"; // non-ASCII: it must travel as a literal
  await using srv = hostile([
    ...greet(),
    expect(/^A1 LOGIN user \{\d+\}$/),
    send("A1 NO [AUTHENTICATIONFAILED] not today\r\n"),
    expect("A2 NOOP"),
    send("A2 OK\r\n"),
  ]);
  const M = await connect(srv);
  await failsWith(M.login("user", password), IMAP4.error, 500, /not today/);
  assert.equal((await M.noop())[0], "OK", "the connection is still in step");
  assert.ok(!srv.text().includes(password));
  const lines = srv.lines();
  assert.equal(lines.length, 3, "CAPABILITY, the LOGIN line without its literal, NOOP");
  assert.match(lines[1], /^A1 LOGIN user \{\d+\}$/);
  assert.equal(lines[2], "A2 NOOP");
  await M.shutdown();
});

Deno.test("'+' when nothing is pending: abort", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), send("+ send me more\r\nA1 OK\r\n")]);
  const M = await connect(srv);
  await failsWith(M.noop(), IMAP4.abort, 500, /Unexpected continuation request/);
  await assertDead(M, srv);
});

Deno.test("untagged data interleaved around literals is routed, literals exact", async () => {
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send(
      "* 1 FETCH (BODY[] {5}\r\nhello)\r\n* 4 EXISTS\r\n* OK [ALERT] mind the gap\r\n" +
        "* 2 FETCH (BODY[] {7}\r\n* 9 BYE FLAGS (\\Seen))\r\n* 1 RECENT\r\nA3 OK done\r\n",
    ),
  ]);
  const M = await openSelected(srv);
  const [typ, data] = await M.fetch("1:2", "(BODY[] FLAGS)");
  assert.equal(typ, "OK");
  assert.deepEqual(data, [
    ["1 (BODY[] {5}", enc.encode("hello")],
    ")",
    ["2 (BODY[] {7}", enc.encode("* 9 BYE")],
    " FLAGS (\\Seen))",
  ]);
  assert.deepEqual(M.response("EXISTS"), ["EXISTS", ["3", "4"]]);
  assert.deepEqual(M.response("ALERT"), ["ALERT", [""]]);
  assert.ok(M.untagged_responses["OK"]?.includes("[ALERT] mind the gap"));
  assert.deepEqual(M.response("RECENT"), ["RECENT", ["0", "1"]]);
  await M.shutdown();
});

Deno.test("an untagged flood over maxUntaggedResponses: abort", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send("* XFLOOD spam\r\n".repeat(5000) + "A1 OK\r\n"),
  ]);
  const M = await connect(srv, { maxUntaggedResponses: 1000 });
  await failsWith(M.noop(), IMAP4.abort, 1000, /Unclaimed untagged responses exceed 1000 items/);
  await assertDead(M, srv);
});

Deno.test("an untagged flood over maxUntaggedBytes: abort", async () => {
  const line = "* XBIG " + "y".repeat(2000) + "\r\n";
  await using srv = hostile([...greet(), expect("A1 NOOP"), send(line.repeat(30) + "A1 OK\r\n")]);
  const M = await connect(srv, { maxUntaggedBytes: 50_000 });
  await failsWith(M.noop(), IMAP4.abort, 1000, /50000 bytes/);
  await assertDead(M, srv);
});

Deno.test("claimed data does not count against the untagged cap", async () => {
  const steps: Step[] = [...greet()];
  for (let i = 1; i <= 5; i++) {
    steps.push(
      expect(`A${i} CAPABILITY`),
      send("* CAPABILITY IMAP4rev1\r\n".repeat(400) + `A${i} OK\r\n`),
    );
  }
  steps.push(expect("A6 NOOP"), send("* XKEEP x\r\n".repeat(900) + "A6 OK\r\n"));
  await using srv = hostile(steps);
  const M = await connect(srv, { maxUntaggedResponses: 1000 });
  for (let i = 1; i <= 5; i++) assert.equal((await M.capability())[1].length, 400);
  assert.equal((await M.noop())[0], "OK");
  assert.equal(M.untagged_responses["XKEEP"].length, 900, "nothing unclaimed was dropped");
  await M.shutdown();
});

Deno.test("keep-alive lines forever: an AbortSignal cancels the call", async () => {
  const steps: Step[] = [...greet(), expect("A1 NOOP")];
  for (let i = 0; i < 100; i++) steps.push(send("* OK still here\r\n"), wait(50));
  await using srv = hostile(steps);
  const ctl = new AbortController();
  const M = await connect(srv, { signal: ctl.signal });
  const timer = setTimeout(() => ctl.abort(new Error("user gave up")), 400);
  const e = await failsWith(M.noop(), IMAP4.abort, 1500, /aborted by signal/);
  clearTimeout(timer);
  assert.ok((e as Error & { cause?: Error }).cause?.message === "user gave up");
  await assertDead(M, srv);
});

Deno.test("an AbortSignal aborted before connecting: no connection is made", async () => {
  await using srv = hostile([...greet()]);
  const ctl = new AbortController();
  ctl.abort();
  await failsWith(connect(srv, { signal: ctl.signal }), IMAP4.abort, 200, /aborted by signal/);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.accepted, 0);
});

Deno.test("unsolicited READ-ONLY: the next command raises IMAP4.readonly and is not sent", async () => {
  await using srv = hostile([
    ...selected(),
    expect("A3 NOOP"),
    send("* OK [READ-ONLY] you lost write access\r\nA3 OK\r\n"),
  ]);
  const M = await openSelected(srv);
  assert.equal((await M.noop())[0], "OK");
  const before = srv.bytes().length;
  await failsWith(M.store("1", "+FLAGS", "\\Deleted"), IMAP4.readonly, 200, /READ-ONLY/);
  assert.equal(srv.bytes().length, before, "the STORE never reached the wire");
  await M.shutdown();
});

Deno.test("untagged heads: number, type of letters and dashes upper-cased, data as imaplib keeps it", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send(
      "* 42 FETCH (UID 42 FLAGS ())\r\n* 7 exists\r\n* SEARCH\r\n* x-Thing [a] b \r\n" +
        "* 3 RECENT\r\n* 0 EXPUNGE extra\r\nA1 OK done\r\n",
    ),
  ]);
  const M = await connect(srv);
  assert.deepEqual(await M.noop(), ["OK", ["done"]]);
  assert.deepEqual(M.untagged_responses, {
    FETCH: ["42 (UID 42 FLAGS ())"],
    EXISTS: ["7"],
    SEARCH: [""],
    "X-THING": ["[a] b "],
    RECENT: ["3"],
    EXPUNGE: ["0 extra"],
  });
  await M.shutdown();
});

for (const line of ["* 5", "* 12abc x", "* ", "*  FETCH", "* 5 (FETCH)", "* FE_TCH x"]) {
  Deno.test(`an untagged line of no known shape ${JSON.stringify(line)}: abort, the line quoted`, async () => {
    await using srv = hostile([...greet(), expect("A1 NOOP"), send(`${line}\r\nA1 OK\r\n`)]);
    const M = await connect(srv);
    const quoted = JSON.stringify(line).slice(0, -1).replace(/[()*]/g, "\\$&");
    await failsWith(
      M.noop(),
      IMAP4.abort,
      500,
      new RegExp(`Cannot parse untagged response: ${quoted}`),
    );
    await assertDead(M, srv);
  });
}

Deno.test("a tagged OK with no text is accepted", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send("A1 OK\r\n"),
    expect("A2 NOOP"),
    send("A2 OK \r\n"),
  ]);
  const M = await connect(srv);
  assert.deepEqual(await M.noop(), ["OK", [""]]);
  assert.deepEqual(await M.noop(), ["OK", [""]]);
  await M.shutdown();
});

for (const status of ["MAYBE all good", "PREAUTH ok", "BYE", "", "OKAY fine"]) {
  Deno.test(`an invalid tagged status ${JSON.stringify(status)}: abort`, async () => {
    await using srv = hostile([...greet(), expect("A1 NOOP"), send(`A1 ${status}\r\n`)]);
    const M = await connect(srv);
    await failsWith(M.noop(), IMAP4.abort, 500, /Invalid tagged status/);
    await assertDead(M, srv);
  });
}

Deno.test("a BAD answer raises IMAP4.error and the connection lives on", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send("A1 BAD what?\r\n"),
    expect("A2 NOOP"),
    send("A2 OK\r\n"),
  ]);
  const M = await connect(srv);
  const e = await failsWith(M.noop(), IMAP4.error, 500, /BAD "what\?"/);
  assert.ok(!(e instanceof IMAP4.abort));
  assert.equal((await M.noop())[0], "OK");
  await M.shutdown();
});

Deno.test("unbalanced parentheses: raw data comes back; the typed decoder fails cleanly", async () => {
  await using srv = hostile([
    ...selected(),
    expect(/^A3 FETCH/),
    send("* 1 FETCH (FLAGS (\\Seen UID 5\r\n* 2 FETCH FLAGS \\Seen)) UID 6)\r\nA3 OK\r\n"),
  ]);
  const M = await openSelected(srv);
  const [typ, data] = await M.fetch("1:2", "(FLAGS UID)");
  assert.equal(typ, "OK");
  assert.deepEqual(data, ["1 (FLAGS (\\Seen UID 5", "2 FLAGS \\Seen)) UID 6)"]);
  for (const d of data) assert.throws(() => parseFetch([d]), IMAP4.error);
  await M.shutdown();
});

Deno.test("100,000-deep nesting: no stack overflow, linear time", async () => {
  const depth = 100_000;
  const line = "* 1 FETCH (BODYSTRUCTURE " + "(".repeat(depth) + ")".repeat(depth) + ")\r\n";
  await using srv = hostile([...selected(), expect(/^A3 FETCH/), send(line + "A3 OK\r\n")]);
  const M = await openSelected(srv);
  const out = await timed(M.fetch("1", "(BODYSTRUCTURE)"));
  assert.equal(out.value?.[0], "OK");
  assert.ok(out.ms < 1000, `${out.ms} ms`);
  const t0 = performance.now();
  assert.throws(() => parseFetch(out.value![1]), (e: unknown) => {
    assert.ok(e instanceof IMAP4.error, `not an IMAP4.error: ${e}`);
    assert.match((e as Error).message, /nest|deep|depth/i);
    return true;
  });
  assert.ok(performance.now() - t0 < 500);
  await M.shutdown();
});

Deno.test("numbers over 2^32 and 2^63 keep their digits; the decoder refuses them typed", async () => {
  const big = "18446744073709551617"; // 2^64 + 1
  await using srv = hostile([
    ...greet(),
    ...login(),
    expect(/^A2 SELECT/),
    send("* 4294967296 EXISTS\r\n* OK [UIDVALIDITY 9223372036854775808] x\r\nA2 OK\r\n"),
    expect(/^A3 FETCH/),
    send(`* 1 FETCH (UID ${big} RFC822.SIZE ${big})\r\nA3 OK\r\n`),
  ]);
  const M = await connect(srv);
  await M.login("user", "pw");
  assert.deepEqual(await M.select(), ["OK", ["4294967296"]]);
  assert.deepEqual(M.response("UIDVALIDITY"), ["UIDVALIDITY", ["9223372036854775808"]]);
  const [, data] = await M.fetch("1", "(UID RFC822.SIZE)");
  assert.deepEqual(data, [`1 (UID ${big} RFC822.SIZE ${big})`]);
  assert.throws(() => parseFetch(data), IMAP4.error);
  await M.shutdown();
});

Deno.test("a COPYUID range bomb is never expanded", async () => {
  const bomb = "1:4294967295,1:4294967295," + "7,".repeat(20_000) + "4294967295:1";
  await using srv = hostile([
    ...selected(),
    expect(/^A3 COPY /),
    send(`A3 OK [COPYUID 4294967295 ${bomb} 1:4294967295] done\r\n`),
  ]);
  const M = await openSelected(srv);
  const out = await timed(M.copy("1:*", "Trash"));
  assert.equal(out.value?.[0], "OK");
  const [, [code]] = M.response("COPYUID");
  const t0 = performance.now();
  const parsed = parseUidCode(code as string);
  assert.equal(parsed.uidValidity, 4294967295);
  assert.equal(parsed.source.length, 20_003, "one range per item, not per UID");
  assert.deepEqual(parsed.dest, [{ start: 1, end: 4294967295 }]);
  assert.deepEqual(parseSequenceSet("1:4294967295"), [{ start: 1, end: 4294967295 }]);
  assert.ok(performance.now() - t0 < 500);
  await M.shutdown();
});

Deno.test("hostile mailbox names in LIST come back exact, as lines or literals", async () => {
  const literalName = enc.encode("evil\r\nA9 OK injected\r\n");
  await using srv = hostile([
    ...greet(),
    ...login(),
    expect('A2 LIST "" *'),
    send(
      '* LIST () "/" "quo\\"te\\\\back"\r\n' +
        '* LIST () "/" "{5}"\r\n' +
        `* LIST () "/" {${literalName.length}}\r\n` +
        new TextDecoder().decode(literalName) + "\r\n" +
        '* LIST () NIL "\x00nul"\r\n' +
        '* LIST (\\Noselect) "/" &Jjo-\r\n' +
        "A2 OK\r\n",
    ),
  ]);
  const M = await connect(srv);
  await M.login("user", "pw");
  const [typ, data] = await M.list();
  assert.equal(typ, "OK");
  assert.equal(data.length, 6);
  assert.equal(data[0], '() "/" "quo\\"te\\\\back"');
  assert.equal(parseList(data[0]).name, 'quo"te\\back');
  assert.equal(parseList(data[1]).name, "{5}");
  assert.deepEqual(data[2], ['() "/" {' + literalName.length + "}", literalName]);
  assert.equal(data[3], "");
  assert.equal(data[4], '() NIL "\x00nul"');
  assert.equal(parseList(data[5]).decodedName, "\u263a");
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("pathological modified UTF-7 names: an error, in linear time", async () => {
  const n = 500_000;
  const names = [
    "&" + "A".repeat(n), // a shift that never closes
    "&" + "AGE".repeat(n / 3) + "-", // shifted ASCII
    "&-".repeat(n / 2) + "&", // many escapes then a dangling shift
    "&2D0-", // a lone surrogate
    "&Jjo-&Jjo-", // a shift right after a shift
    "&" + "A".repeat(n) + "*-", // a bad character at the very end
  ];
  await using srv = hostile([
    ...greet(),
    ...login(),
    expect('A2 LIST "" *'),
    send(names.map((nm) => `* LIST () "/" "${nm}"\r\n`).join("") + "A2 OK\r\n"),
  ]);
  const M = await connect(srv, { timeout: 3000 });
  await M.login("user", "pw");
  const [, data] = await M.list();
  assert.equal(data.length, names.length);
  for (const item of data) {
    const { name, decodedName } = parseList(item);
    assert.ok(decodedName === name, `kept as sent: ${name.slice(0, 20)}`);
    const t0 = performance.now();
    assert.throws(() => decodeMailboxName(name), TypeError);
    assert.ok(performance.now() - t0 < 300, `${name.slice(0, 10)}: ${performance.now() - t0} ms`);
  }
  await M.shutdown();
});

Deno.test("APPEND answered NO instead of '+': the body is never sent", async () => {
  const body = "From: x\r\nSubject: secret body 7f3a\r\n\r\nhello\r\n";
  await using srv = hostile([
    ...greet(),
    ...login(),
    expect(/^A2 APPEND INBOX \{\d+\}$/),
    send("A2 NO [OVERQUOTA] no room\r\n"),
    expect("A3 NOOP"),
    send("A3 OK\r\n"),
  ]);
  const M = await connect(srv);
  await M.login("user", "pw");
  assert.deepEqual(await M.append("INBOX", null, null, body), ["NO", ["[OVERQUOTA] no room"]]);
  assert.equal((await M.noop())[0], "OK");
  assert.ok(!srv.text().includes("secret body"));
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("APPEND answered BAD instead of '+': IMAP4.error, the body is never sent", async () => {
  await using srv = hostile([
    ...greet(),
    ...login(),
    expect(/^A2 APPEND INBOX \{\d+\}$/),
    send("A2 BAD no literals here\r\n"),
  ]);
  const M = await connect(srv);
  await M.login("user", "pw");
  await failsWith(M.append("INBOX", null, null, "Subject: hidden 99\r\n\r\n"), IMAP4.error, 500);
  assert.ok(!srv.text().includes("hidden 99"));
  await M.shutdown();
});

Deno.test("APPEND answered '+' gets exactly the body, then the tagged answer", async () => {
  const body = "Subject: ok\r\n\r\nbody\r\n";
  await using srv = hostile([
    ...greet(),
    ...login(),
    expect(`A2 APPEND INBOX {${body.length}}`),
    send("+ go ahead\r\n"),
    readBytes(body.length + 2),
    send("A2 OK [APPENDUID 1 5] done\r\n"),
  ]);
  const M = await connect(srv);
  await M.login("user", "pw");
  assert.equal((await M.append("INBOX", null, null, body))[0], "OK");
  assert.ok(srv.text().endsWith(body + "\r\n"));
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

Deno.test("a '+' read before the literal's first write has settled still lets the literal go", async () => {
  // The write of "APPEND ... {n}" settles late while a NOOP keeps the client reading: the "+"
  // arrives first and must find the APPEND waiting for it.
  const server = memoryServer(
    "* OK memory server\r\n",
    (cmd) =>
      cmd.name === "CAPABILITY"
        ? `* CAPABILITY IMAP4rev1\r\n${cmd.tag} OK\r\n`
        : `${cmd.tag} OK ${cmd.name} done\r\n`,
    [],
    30,
  );
  const M = await IMAP4.connect("memory", 143, {
    tagPrefix: "A",
    timeout: 2000,
    transports: server.factory,
  });
  await M.login("user", "pw");
  const [noop, append] = await Promise.all([
    M.noop(),
    M.append("INBOX", null, null, "Subject: hi\r\n\r\nbody\r\n"),
  ]);
  assert.deepEqual(noop, ["OK", ["NOOP done"]]);
  assert.deepEqual(append, ["OK", ["APPEND done"]]);
  const appended = server.commands.find((c) => c.name === "APPEND");
  assert.ok(appended !== undefined);
  assert.deepEqual(server.errors, []);
  await M.shutdown();
});

/**
 * A line server whose writes settle `delay` ms after it has answered them: each client line is
 * checked against the next step's pattern and answered at once.
 */
function lateWrites(steps: [RegExp, string][], delay: number): {
  factory: TransportFactory;
  lines: string[];
} {
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  const lines: string[] = [];
  let queued = enc.encode("* OK ready\r\n");
  let waiting: (() => void) | null = null;
  let partial = "";
  let closed = false;
  const transport: Transport = {
    kind: "tcp",
    async read(buf) {
      while (queued.length === 0 && !closed) await new Promise<void>((r) => (waiting = r));
      if (closed) return null;
      const n = Math.min(buf.length, queued.length);
      buf.set(queued.subarray(0, n));
      queued = queued.slice(n);
      return n;
    },
    write(data) {
      partial += dec.decode(data);
      let end;
      while ((end = partial.indexOf("\r\n")) >= 0) {
        const line = partial.slice(0, end);
        partial = partial.slice(end + 2);
        lines.push(line);
        const step = steps.shift();
        const answer = step !== undefined && step[0].test(line) ? step[1] : "* BYE off script\r\n";
        const next = new Uint8Array(queued.length + answer.length);
        next.set(queued);
        next.set(enc.encode(answer), queued.length);
        queued = next;
        const w = waiting;
        waiting = null;
        w?.();
      }
      return new Promise((resolve) => setTimeout(resolve, delay));
    },
    close() {
      closed = true;
      const w = waiting;
      waiting = null;
      w?.();
      return Promise.resolve();
    },
  };
  return {
    lines,
    factory: {
      runtime: "deno",
      connect: () => Promise.resolve(transport),
      connectTls: () => Promise.reject(new Error("no TLS here")),
      spawn: () => Promise.reject(new Error("no children here")),
    },
  };
}

Deno.test("AUTHENTICATE: a '+' read before a write has settled still gets its answer", async () => {
  const server = lateWrites([
    [/^A0 CAPABILITY$/, "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA0 OK\r\n"],
    [/^A1 AUTHENTICATE PLAIN$/, "+ \r\n"],
    [/^AHVzZXIAcHc=$/, "+ bW9yZQ==\r\n"],
    [/^YWdhaW4=$/, "A1 OK [CAPABILITY IMAP4rev1] authenticated\r\n"],
  ], 30);
  const M = await IMAP4.connect("memory", 143, {
    tagPrefix: "A",
    timeout: 2000,
    transports: server.factory,
  });
  const challenges: string[] = [];
  const [typ] = await M.authenticate("PLAIN", (challenge) => {
    challenges.push(new TextDecoder().decode(challenge));
    return challenges.length === 1 ? "\0user\0pw" : "again";
  });
  assert.equal(typ, "OK");
  assert.deepEqual(challenges, ["", "more"]);
  assert.equal(M.state, "AUTH");
  assert.equal(server.lines.length, 4);
  await M.shutdown();
});

Deno.test("a FETCH sent alone is checked against the next ones: disjoint pipeline, overlapping wait", async () => {
  const log: string[] = [];
  await using srv = hostile([
    ...selected(),
    expect("A3 UID FETCH 5 (FLAGS)"),
    // Read before A3 is answered: the disjoint one went out while the first pended.
    expect("A4 UID FETCH 6 (FLAGS)"),
    // Answered out of order and interleaved, as Dovecot may.
    send("* 6 FETCH (UID 6 FLAGS ())\r\n* 5 FETCH (UID 5 FLAGS (\\Seen))\r\n"),
    send("A4 OK done\r\nA3 OK done\r\n"),
    expect("A5 UID FETCH 5 (RFC822.SIZE)"),
    send("* 5 FETCH (UID 5 RFC822.SIZE 42)\r\nA5 OK done\r\n"),
    // The overlapping one right after the lone one.
    expect("A6 UID FETCH 7 (FLAGS)"),
    send("* 7 FETCH (UID 7 FLAGS ())\r\nA6 OK done\r\n"),
    expect("A7 UID FETCH 7 (RFC822.SIZE)"),
    send("* 7 FETCH (UID 7 RFC822.SIZE 9)\r\nA7 OK done\r\n"),
  ]);
  const M = await connect(srv, { logger: (l) => void log.push(l) });
  await M.login("user", "pw");
  await M.select("INBOX");
  const a = M.uid("FETCH", "5", "(FLAGS)");
  const c = M.uid("FETCH", "6", "(FLAGS)");
  const b = M.uid("FETCH", "5", "(RFC822.SIZE)");
  assert.deepEqual(await a, ["OK", ["5 (UID 5 FLAGS (\\Seen))"]]);
  assert.deepEqual(await c, ["OK", ["6 (UID 6 FLAGS ())"]]);
  assert.deepEqual(await b, ["OK", ["5 (UID 5 RFC822.SIZE 42)"]]);
  const d = M.uid("FETCH", "7", "(FLAGS)");
  const e = M.uid("FETCH", "7", "(RFC822.SIZE)");
  assert.deepEqual(await d, ["OK", ["7 (UID 7 FLAGS ())"]]);
  assert.deepEqual(await e, ["OK", ["7 (UID 7 RFC822.SIZE 9)"]]);
  // Each overlapping one left only once the one before it was answered.
  const at = (line: string) => log.indexOf(line);
  assert.ok(at("C: A5 UID FETCH 5 (RFC822.SIZE)") > at("S: A3 OK done"), log.join("\n"));
  assert.ok(at("C: A7 UID FETCH 7 (RFC822.SIZE)") > at("S: A6 OK done"), log.join("\n"));
  await M.shutdown();
});

Deno.test("commands issued while a write is under way go out next, in call order, short and long", async () => {
  // Each write settles 5 ms after the server has read it, so what is issued in the same turn as
  // the first command waits for its write, and each batch after it for the one before. Short
  // commands and a long one (a UID FETCH of a set over 4 KB) are batched in call order.
  const longSet = Array.from({ length: 1000 }, (_, i) => String(1001 + 2 * i)).join(",");
  const server = memoryServer(
    "* OK [CAPABILITY IMAP4rev1] ready\r\n",
    (cmd) => {
      if (cmd.name === "UID FETCH") {
        const uid = (cmd.args[0].value as string).split(",")[0];
        return `* ${uid} FETCH (UID ${uid} FLAGS ())\r\n${cmd.tag} OK done\r\n`;
      }
      if (cmd.name === "SELECT") return `* 9999 EXISTS\r\n${cmd.tag} OK [READ-WRITE] done\r\n`;
      if (cmd.name === "CAPABILITY") return `* CAPABILITY IMAP4rev1\r\n${cmd.tag} OK done\r\n`;
      return `${cmd.tag} OK done\r\n`;
    },
    [],
    5,
  );
  const M = await IMAP4.connect("memory", 143, {
    tagPrefix: "A",
    timeout: 2000,
    transports: server.factory,
  });
  await M.login("user", "pw");
  await M.select("INBOX");
  const expected: string[] = ["NOOP "];
  const calls = [M.noop()];
  const fetch = (set: string) => {
    expected.push(`UID FETCH ${set}`);
    calls.push(M.uid("FETCH", set, "(FLAGS)"));
  };
  for (let uid = 1; uid <= 200; uid++) fetch(String(uid));
  fetch(longSet);
  for (let uid = 201; uid <= 250; uid++) fetch(String(uid));
  expected.push("NOOP ");
  calls.push(M.noop());

  const results = await Promise.all(calls);
  assert.ok(results.every(([typ]) => typ === "OK"));
  assert.deepEqual(results[2][1], ["2 (UID 2 FLAGS ())"]);
  assert.deepEqual(results[201][1], ["1001 (UID 1001 FLAGS ())"]);
  assert.deepEqual(results[202][1], ["201 (UID 201 FLAGS ())"]);
  assert.deepEqual(server.errors, []);
  const sent = server.commands.slice(-expected.length);
  const first = Number(sent[0].tag.slice(1));
  assert.deepEqual(
    sent.map((c) => `${c.tag} ${c.name} ${c.args[0]?.value ?? ""}`),
    expected.map((text, i) => `A${first + i} ${text}`),
  );
  await M.logout();
});

Deno.test("commands issued at once go out in batches: a small first one, then doubling to 64 KiB", async () => {
  // The server starts on the first batch while the client registers the next ones: the first is
  // at least 1 KiB (or what is left), each next one twice the one before, up to 64 KiB.
  const server = memoryServer(
    "* OK [CAPABILITY IMAP4rev1] ready\r\n",
    (cmd) => {
      if (cmd.name === "UID FETCH") {
        const uid = cmd.args[0].value as string;
        return `* ${uid} FETCH (UID ${uid} FLAGS ())\r\n${cmd.tag} OK done\r\n`;
      }
      if (cmd.name === "SELECT") return `* 9999 EXISTS\r\n${cmd.tag} OK [READ-WRITE] done\r\n`;
      if (cmd.name === "CAPABILITY") return `* CAPABILITY IMAP4rev1\r\n${cmd.tag} OK done\r\n`;
      return `${cmd.tag} OK done\r\n`;
    },
  );
  const M = await IMAP4.connect("memory", 143, { timeout: 2000, transports: server.factory });
  await M.login("user", "pw");
  await M.select("INBOX");
  const before = server.writeSizes().length;
  const calls = Array.from({ length: 4000 }, (_, i) => M.uid("FETCH", String(i + 1), "(FLAGS)"));
  const results = await Promise.all(calls);
  results.forEach(([typ, data], i) =>
    assert.deepEqual([typ, data], ["OK", [`${i + 1} (UID ${i + 1} FLAGS ())`]])
  );
  const sizes = server.writeSizes().slice(before);
  // The first command goes alone, at once; the rest wait for that write and follow in batches.
  const longest = `${M.tagpre}9999 UID FETCH 4000 (FLAGS)\r\n`.length;
  assert.ok(sizes[0] <= longest, String(sizes));
  let limit = 1024;
  for (const [i, size] of sizes.slice(1).entries()) {
    const last = i === sizes.length - 2;
    assert.ok(size < limit + longest && (last || size >= limit), `${limit}: ${sizes}`);
    limit = Math.min(2 * limit, 64 * 1024);
  }
  assert.equal(limit, 64 * 1024, String(sizes));
  await M.logout();
});

Deno.test("readline() while a command waits for its answer: an error at once, the command unharmed", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    wait(30),
    send("A1 OK done\r\n"),
    expect("A2 NOOP"),
    send("A2 OK again\r\n"),
  ]);
  const M = await connect(srv);
  const noop = M.noop();
  // Two readers of one stream would both take the answer's bytes.
  await failsWith(M.readline(), IMAP4.error, 50, /readline\(\) cannot read now: the answers/);
  await failsWith(M.read(4), IMAP4.error, 50, /read\(\) cannot read now/);
  assert.deepEqual(await noop, ["OK", ["done"]]);
  assert.deepEqual(await M.noop(), ["OK", ["again"]]);
});

Deno.test("a command issued while readline() waits: the line is the read's, the answer the command's", async () => {
  await using srv = hostile([
    ...greet(),
    expect("A1 NOOP"),
    send("* 3 EXISTS\r\n"),
    wait(30),
    send("A1 OK done\r\n"),
    expect("A2 NOOP"),
    send("A2 OK again\r\n"),
  ]);
  const M = await connect(srv);
  const line = M.readline();
  const noop = M.noop();
  // A second raw read at once is refused rather than racing the first for the same bytes.
  await failsWith(M.readline(), IMAP4.error, 50, /another read\(\) or readline\(\) is under way/);
  assert.equal(new TextDecoder().decode(await line), "* 3 EXISTS\r\n");
  assert.deepEqual(await noop, ["OK", ["done"]]);
  // The line went to the raw read, not to the untagged responses.
  assert.equal(M.untagged_responses["EXISTS"], undefined);
  assert.deepEqual(await M.noop(), ["OK", ["again"]]);
});
