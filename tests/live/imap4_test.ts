// Live tests of every imaplib method (DESIGN §4) against one private Dovecot 2.3 for the whole
// file. Mail is seeded through the maildir (appendRaw), not through the client under test, where
// a test checks what the client reads. Each test opens and closes its own connections and uses
// its own mailboxes; the last test stops the server (an unload handler stops it if that test was
// filtered out).
import assert from "node:assert/strict";
import {
  type Datum,
  IMAP4,
  IMAP4Abort,
  IMAP4Error,
  internaldateToDate,
  parseFetch,
} from "../../mod.ts";
import { appendRaw, type LiveServer, sharedServer } from "./_servers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const { live, stopTest } = sharedServer("dovecot");

/** Opens a connection (state NONAUTH); `log` receives the wire lines. */
function open(s: LiveServer, log?: string[]): Promise<IMAP4> {
  return IMAP4.connect(s.host, s.port, {
    timeout: 10_000,
    logger: log ? (line) => log.push(line) : undefined,
  });
}

/** Opens a connection and logs in (state AUTH). */
async function loggedIn(s: LiveServer, log?: string[]): Promise<IMAP4> {
  const M = await open(s, log);
  await M.login(s.user, s.pass);
  return M;
}

/** A small RFC 5322 message with CRLF line ends. */
function message(subject: string, body: string, extra = ""): Uint8Array {
  return encoder.encode(
    `From: sender@example.org\r\nTo: imaptest@localhost\r\nSubject: ${subject}\r\n${extra}\r\n` +
      `${body}\r\n`,
  );
}

/** The literal bytes of each `[line, bytes]` pair in a command's data. */
function literals(data: Datum[]): Uint8Array[] {
  return data.filter((d): d is [string, Uint8Array] => Array.isArray(d)).map((d) => d[1]);
}

/** The text of each data item (the line part of pairs). */
function lines(data: Datum[]): string[] {
  return data.map((d) => (d === null ? "" : typeof d === "string" ? d : d[0]));
}

/** Counts the lines the client wrote. */
const sent = (log: string[]): number => log.filter((l) => l.startsWith("C: ")).length;

function base64(text: string): string {
  return btoa(String.fromCharCode(...encoder.encode(text)));
}

live("greeting, capability, and login with wrong then right password", async (s) => {
  const log: string[] = [];
  const M = await open(s, log);
  try {
    assert.equal(M.state, "NONAUTH");
    assert.match(M.welcome, /^\* OK \[CAPABILITY IMAP4rev1 .*\] Dovecot/);
    assert.equal(M.PROTOCOL_VERSION, "IMAP4REV1");
    assert.ok(M.capabilities.includes("STARTTLS"));
    assert.ok(!M.capabilities.includes("SORT"), "the greeting does not list SORT");
    const [typ, data] = await M.capability();
    assert.equal(typ, "OK");
    assert.match(String(data[0]), /^IMAP4rev1 .*AUTH=PLAIN/);

    const wrong = 'Wr0ng pass"word';
    await assert.rejects(M.login(s.user, wrong), (e) => {
      assert.ok(e instanceof IMAP4Error && !(e instanceof IMAP4Abort));
      assert.match(e.message, /AUTHENTICATIONFAILED/);
      return true;
    });
    assert.equal(M.state, "NONAUTH");
    // A non-ASCII password travels as a literal: masked too.
    await assert.rejects(M.login(s.user, "geheim-\u00fc-pass"), IMAP4Error);

    const [typ2, data2] = await M.login(s.user, s.pass);
    assert.equal(typ2, "OK");
    assert.deepEqual(data2, ["Logged in"]);
    assert.equal(M.state, "AUTH");
    assert.ok(M.capabilities.includes("SORT"), "capabilities refreshed after login");
    assert.ok(M.capabilities.includes("MOVE"));
    assert.ok(!M.capabilities.includes("STARTTLS"));

    const logins = log.filter((l) => / LOGIN /.test(l));
    assert.equal(logins.length, 3);
    // (The user name may be masked too: on this server it equals the password.)
    assert.match(logins[0], /^C: \S+ LOGIN \S+ "\*\*\*"$/);
    assert.match(logins[1], /^C: \S+ LOGIN \S+ \{\d+\+?\}\r\n\*\*\*$/);
    assert.match(logins[2], /^C: \S+ LOGIN \S+ "\*\*\*"$/);
    const all = log.join("\n");
    assert.ok(!all.includes("Wr0ng") && !all.includes("geheim"), "passwords stay out of logs");
    assert.ok(!all.includes(`"${s.pass}"`), "the right password stays out of logs");
  } finally {
    await M.logout();
  }
});

live("authenticate PLAIN: wrong password throws, right one logs in, nothing leaks", async (s) => {
  const log: string[] = [];
  const M = await open(s, log);
  try {
    const challenges: Uint8Array[] = [];
    const plain = (pass: string) => (challenge: Uint8Array) => {
      challenges.push(challenge);
      return `\0${s.user}\0${pass}`;
    };
    await assert.rejects(M.authenticate("PLAIN", plain("bad-secret-x")), (e) => {
      assert.ok(e instanceof IMAP4Error && !(e instanceof IMAP4Abort));
      return true;
    });
    assert.equal(M.state, "NONAUTH");
    const [typ] = await M.authenticate("PLAIN", plain(s.pass));
    assert.equal(typ, "OK");
    assert.equal(M.state, "AUTH");
    assert.ok(M.capabilities.includes("SORT"));
    assert.equal(challenges.length, 2);
    assert.equal(challenges[0].length, 0, "PLAIN starts with an empty challenge");
    const all = log.join("\n");
    assert.ok(!all.includes(base64(`\0${s.user}\0bad-secret-x`)));
    assert.ok(!all.includes(base64(`\0${s.user}\0${s.pass}`)));
    assert.ok(!all.includes("bad-secret-x"));
    assert.ok(log.some((l) => /^C: \S+ AUTHENTICATE PLAIN$/.test(l)));
  } finally {
    await M.logout();
  }
});

live("login_cram_md5 is refused: this Dovecot offers no CRAM-MD5", async (s) => {
  const M = await open(s);
  try {
    assert.ok(!M.capabilities.includes("AUTH=CRAM-MD5"));
    await assert.rejects(M.login_cram_md5(s.user, s.pass), (e) => {
      assert.ok(e instanceof IMAP4Error && !(e instanceof IMAP4Abort));
      return true;
    });
    assert.equal(M.state, "NONAUTH");
    assert.equal((await M.noop())[0], "OK", "the connection is still usable");
  } finally {
    await M.logout();
  }
});

live("starttls on the plain port: verified, STARTTLS gone from the capabilities", async (s) => {
  const M = await open(s);
  try {
    assert.equal(M.socket().kind, "tcp");
    const [typ] = await M.starttls({ caCerts: [s.caPem], hostname: "localhost" });
    assert.equal(typ, "OK");
    assert.equal(M.socket().kind, "tls");
    assert.ok(M.capabilities.includes("IMAP4REV1"));
    assert.ok(!M.capabilities.includes("STARTTLS"));
    await assert.rejects(M.starttls({ caCerts: [s.caPem] }), IMAP4Error);
    assert.equal((await M.login(s.user, s.pass))[0], "OK");
  } finally {
    await M.logout();
  }
});

live("select gives EXISTS, readonly examines, a missing mailbox gives NO and AUTH", async (s) => {
  await appendRaw(s, "Sel", [message("one", "1"), message("two", "2"), message("three", "3")]);
  const log: string[] = [];
  await using M = await loggedIn(s, log);
  assert.deepEqual(await M.select("Sel"), ["OK", ["3"]]);
  assert.equal(M.state, "SELECTED");
  assert.match(String(M.response("UIDVALIDITY")[1][0]), /^\d+$/);
  assert.deepEqual(await M.select("Sel", true), ["OK", ["3"]]);
  assert.ok(log.some((l) => /^C: \S+ EXAMINE Sel$/.test(l)));
  assert.equal(M.is_readonly, true);
  assert.deepEqual(M.response("READ-ONLY"), ["READ-ONLY", [""]]);
  const [typ, data] = await M.select("Missing");
  assert.equal(typ, "NO");
  assert.match(String(data[0]), /Mailbox doesn't exist: Missing/);
  assert.equal(M.state, "AUTH");
});

live("append: flags, internal date, CRLF normalisation of text and bytes", async (s) => {
  await using M = await loggedIn(s);
  assert.equal((await M.create("App"))[0], "OK");
  const date = new Date(Date.UTC(2021, 4, 6, 7, 8, 9));
  const [typ, data] = await M.append("App", "(\\Flagged)", date, "Subject: a\n\nline a\nb");
  assert.equal(typ, "OK");
  assert.match(String(data[0]), /^\[APPENDUID \d+ 1\] Append completed/);
  const [typ2] = await M.append(
    "App",
    "\\Seen \\Draft",
    '"24-Dec-2019 18:00:00 +0100"',
    encoder.encode("Subject: b\r\n\nbare\rcr\n"),
  );
  assert.equal(typ2, "OK");
  await M.append("App", null, null, "Subject: c\r\n\r\nno flags\r\n");
  assert.deepEqual(await M.select("App"), ["OK", ["3"]]);
  const [, fetched] = await M.fetch("1:3", "(FLAGS INTERNALDATE BODY.PEEK[])");
  const bodies = literals(fetched).map((b) => decoder.decode(b));
  assert.deepEqual(bodies, [
    "Subject: a\r\n\r\nline a\r\nb",
    "Subject: b\r\n\r\nbare\r\ncr\r\n",
    "Subject: c\r\n\r\nno flags\r\n",
  ]);
  const heads = lines(fetched).filter((l) => l.includes("BODY[]"));
  assert.match(heads[0], /FLAGS \(\\Flagged \\Recent\)/);
  assert.match(heads[1], /FLAGS \(\\Seen \\Draft \\Recent\)/);
  assert.equal(internaldateToDate(heads[0])?.getTime(), date.getTime());
  assert.equal(internaldateToDate(heads[1])?.toISOString(), "2019-12-24T17:00:00.000Z");
});

live("fetch: RFC822 bytes exact, BODY.PEEK[HEADER], several messages", async (s) => {
  const raw = [
    message("first", "body one"),
    // 8-bit bytes (invalid UTF-8) and a line of 2000 bytes must come back exactly. (No NUL:
    // Dovecot sends 0x80 in its place.)
    new Uint8Array([
      ...encoder.encode("Subject: second\r\nContent-Type: application/octet-stream\r\n\r\n"),
      0xff,
      0xc3,
      0x28,
      ...encoder.encode("x".repeat(2000) + "\r\n"),
    ]),
    message("third", "body three"),
  ];
  await appendRaw(s, "Fetch", raw);
  await using M = await loggedIn(s);
  await M.select("Fetch");
  const [typ, data] = await M.fetch("1:2", "(RFC822)");
  assert.equal(typ, "OK");
  assert.equal(data.length, 4, "a pair and a closing ')' per message");
  assert.deepEqual(literals(data), raw.slice(0, 2));
  assert.match(lines(data)[0], /^1 \(.*RFC822 \{\d+\}$/);
  assert.equal(data[1], ")");
  const [, head] = await M.fetch("3", "(BODY.PEEK[HEADER])");
  assert.deepEqual(head[0], [
    "3 (BODY[HEADER] {68}",
    encoder.encode("From: sender@example.org\r\nTo: imaptest@localhost\r\nSubject: third\r\n\r\n"),
  ]);
  assert.equal(head[1], ")");
  // RFC822 set \Seen on 1 and 2; the PEEK left 3 alone.
  const [, all] = await M.fetch("1:*", "(BODY.PEEK[])");
  assert.deepEqual(literals(all), raw);
  const [, flags] = await M.fetch("1:3", "(FLAGS)");
  assert.match(String(flags[0]), /^1 \(FLAGS \(\\Seen \\Recent\)\)$/);
  assert.match(String(flags[2]), /^3 \(FLAGS \(\\Recent\)\)$/);
});

live("search with and without charset, sort, thread; a BAD criterion throws", async (s) => {
  await appendRaw(s, "Find", [
    message("beta", "b", "Date: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <b@x>\r\n"),
    message("alpha", "a", "Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <a@x>\r\n"),
    message("Re: beta", "c", "Message-ID: <c@x>\r\nIn-Reply-To: <b@x>\r\nReferences: <b@x>\r\n"),
  ]);
  await using M = await loggedIn(s);
  await M.select("Find");
  assert.deepEqual(await M.search(null, "ALL"), ["OK", ["1 2 3"]]);
  assert.deepEqual(await M.search("UTF-8", "SUBJECT", "beta"), ["OK", ["1 3"]]);
  assert.deepEqual(await M.search(null, '(SUBJECT "alpha")'), ["OK", ["2"]]);
  assert.deepEqual(await M.search(null, "SUBJECT", "nothing"), ["OK", [""]]);
  await assert.rejects(M.search(null, "FOOBAR"), (e) => {
    assert.ok(e instanceof IMAP4Error && !(e instanceof IMAP4Abort));
    assert.equal(e.status, "BAD");
    return true;
  });
  assert.equal(M.state, "SELECTED");
  assert.deepEqual(await M.sort("SUBJECT", "UTF-8", "ALL"), ["OK", ["2 1 3"]]);
  assert.deepEqual(await M.sort("(REVERSE SUBJECT)", "UTF-8", "ALL"), ["OK", ["1 3 2"]]);
  assert.deepEqual(await M.thread("REFERENCES", "UTF-8", "ALL"), ["OK", ["(2)(1 3)"]]);
});

live("store, copy, move, expunge, check, close and unselect", async (s) => {
  await appendRaw(s, "Work", [message("w1", "1"), message("w2", "2"), message("w3", "3")]);
  await using M = await loggedIn(s);
  await M.create("Work/Dest");
  await M.select("Work");
  assert.deepEqual(await M.store("1", "+FLAGS", "\\Deleted"), [
    "OK",
    ["1 (FLAGS (\\Deleted \\Recent))"],
  ]);
  assert.deepEqual(await M.store("2", "FLAGS.SILENT", "(\\Answered)"), ["OK", [null]]);
  const [ctyp, cdata] = await M.copy("2", "Work/Dest");
  assert.equal(ctyp, "OK");
  assert.match(String(cdata[0]), /^\[COPYUID \d+ 2 1\] Copy completed/);
  assert.equal((await M.move("3", "Work/Dest"))[0], "OK");
  M.response("EXPUNGE"); // MOVE's own EXPUNGE of message 3
  assert.deepEqual(await M.expunge(), ["OK", ["1"]]);
  assert.equal((await M.check())[0], "OK");
  assert.deepEqual(await M.search(null, "ALL"), ["OK", ["1"]]);
  assert.equal((await M.close())[0], "OK");
  assert.equal(M.state, "AUTH");
  await assert.rejects(M.close(), IMAP4Error);
  assert.deepEqual(await M.status("Work/Dest", "(MESSAGES)"), [
    "OK",
    ["Work/Dest (MESSAGES 2)"],
  ]);
  await M.select("Work/Dest");
  const [, flags] = await M.fetch("1:2", "(FLAGS)");
  assert.match(String(flags[0]), /\\Answered/);
  assert.equal((await M.unselect())[0], "OK");
  assert.equal(M.state, "AUTH");
});

live("uid FETCH, SEARCH, STORE, COPY, MOVE", async (s) => {
  await appendRaw(s, "Uids", [message("u1", "1"), message("u2", "2"), message("u3", "3")]);
  await using M = await loggedIn(s);
  await M.create("UidDest");
  await M.select("Uids");
  // Make UIDs differ from sequence numbers: expunge the first message.
  await M.store("1", "+FLAGS.SILENT", "\\Deleted");
  await M.expunge();
  assert.deepEqual(await M.uid("SEARCH", "ALL"), ["OK", ["2 3"]]);
  assert.deepEqual(await M.uid("FETCH", "3", "(UID FLAGS)"), [
    "OK",
    ["2 (UID 3 FLAGS (\\Recent))"],
  ]);
  const [, stored] = await M.uid("STORE", "2", "+FLAGS", "(\\Flagged)");
  assert.match(String(stored[0]), /^1 \(UID 2 .*FLAGS \(\\Flagged \\Recent\)\)$/);
  // As imaplib, uid() returns the FETCH data for COPY and MOVE (none here): COPYUID is a code.
  assert.deepEqual(await M.uid("COPY", "2:3", "UidDest"), ["OK", [null]]);
  assert.match(String(M.response("COPYUID")[1][0]), /^\d+ 2:3 1:2$/);
  assert.equal((await M.uid("MOVE", "3", "UidDest"))[0], "OK");
  assert.deepEqual(await M.uid("SEARCH", "ALL"), ["OK", ["2"]]);
  assert.deepEqual(await M.status("UidDest", "(MESSAGES)"), ["OK", ["UidDest (MESSAGES 3)"]]);
  await assert.rejects(M.uid("BOGUS", "1"), IMAP4Error);
});

live("mailboxes: create, list, lsub, subscribe, rename, status, delete, namespace", async (s) => {
  await using M = await loggedIn(s);
  assert.equal((await M.create("Tree/Leaf")).at(0), "OK");
  const [, listed] = await M.list('""', "Tree*");
  // LAYOUT=fs: the parent made on the way is a mere directory.
  assert.deepEqual(listed.sort(), [
    '(\\HasNoChildren) "/" Tree/Leaf',
    '(\\Noselect \\HasChildren) "/" Tree',
  ]);
  assert.deepEqual(await M.list("Tree/", "%"), ["OK", ['(\\HasNoChildren) "/" Tree/Leaf']]);
  assert.deepEqual(await M.list('""', "NoSuch*"), ["OK", [null]]);
  assert.equal((await M.subscribe("Tree/Leaf"))[0], "OK");
  assert.deepEqual(await M.lsub('""', "Tree*"), ["OK", ['() "/" Tree/Leaf']]);
  assert.equal((await M.unsubscribe("Tree/Leaf"))[0], "OK");
  assert.deepEqual(await M.lsub('""', "Tree*"), ["OK", [null]]);
  assert.equal((await M.rename("Tree/Leaf", "Tree/Renamed"))[0], "OK");
  assert.deepEqual(await M.status("Tree/Renamed", "(MESSAGES UNSEEN)"), [
    "OK",
    ["Tree/Renamed (MESSAGES 0 UNSEEN 0)"],
  ]);
  assert.equal((await M.delete("Tree/Renamed"))[0], "OK");
  assert.equal((await M.delete("Tree"))[0], "OK");
  const [dtyp, ddata] = await M.delete("Tree");
  assert.equal(dtyp, "NO");
  assert.match(String(ddata[0]), /NONEXISTENT/);
  assert.deepEqual(await M.namespace(), ["OK", ['(("" "/")) NIL NIL']]);
  // Non-ASCII names travel in modified UTF-7.
  assert.equal((await M.create("Caf\u00e9")).at(0), "OK");
  assert.deepEqual(await M.list('""', "Caf*"), ["OK", ['(\\HasNoChildren) "/" Caf&AOk-']]);
  await M.delete("Caf\u00e9");
});

live(
  "ACL, annotation, quota, partial and proxyauth: Dovecot says BAD, thrown as error",
  async (s) => {
    // This Dovecot has no acl, quota or annotation plugins and never knew PARTIAL or PROXYAUTH:
    // it answers BAD "Unknown command", which imaplib raises as IMAP4.error (not abort).
    await using M = await loggedIn(s);
    await M.select("INBOX");
    const calls: [string, () => Promise<unknown>][] = [
      ["GETACL", () => M.getacl("INBOX")],
      ["SETACL", () => M.setacl("INBOX", "anyone", "lr")],
      ["DELETEACL", () => M.deleteacl("INBOX", "anyone")],
      ["MYRIGHTS", () => M.myrights("INBOX")],
      ["GETANNOTATION", () => M.getannotation("INBOX", '"/comment"', '"value.priv"')],
      ["SETANNOTATION", () => M.setannotation("INBOX", '"/comment"', '("value.priv" "x")')],
      ["GETQUOTA", () => M.getquota('""')],
      ["GETQUOTAROOT", () => M.getquotaroot("INBOX")],
      ["SETQUOTA", () => M.setquota('""', "(STORAGE 512)")],
      ["PARTIAL", () => M.partial("1", "RFC822", 0, 10)],
    ];
    for (const [name, run] of calls) {
      await assert.rejects(run(), (e) => {
        assert.ok(e instanceof IMAP4Error && !(e instanceof IMAP4Abort), name);
        assert.equal(e.status, "BAD", name);
        assert.match(e.message, new RegExp(`Unknown command`), name);
        return true;
      });
    }
    await M.unselect();
    await assert.rejects(M.proxyauth("someone"), (e) => {
      assert.ok(e instanceof IMAP4Error && !(e instanceof IMAP4Abort));
      return true;
    });
    assert.equal((await M.noop())[0], "OK", "the connection survives every BAD");
  },
);

live("enable CONDSTORE; enable in SELECTED is illegal", async (s) => {
  await using M = await loggedIn(s);
  const [typ, data] = await M.enable("CONDSTORE");
  assert.equal(typ, "OK");
  assert.match(String(data[0]), /^Enabled/);
  assert.deepEqual(M.response("ENABLED"), ["ENABLED", ["CONDSTORE"]]);
  await M.select("INBOX");
  await assert.rejects(M.enable("QRESYNC"), /ENABLE illegal in state SELECTED/);
});

live("enable UTF8=ACCEPT: not advertised, Dovecot 2.3 enables nothing", async (s) => {
  const log: string[] = [];
  await using M = await loggedIn(s, log);
  assert.ok(!M.capabilities.includes("UTF8=ACCEPT"));
  // Dovecot 2.3 answers OK but sends no "* ENABLED UTF8=ACCEPT": nothing was enabled.
  const [typ] = await M.enable("UTF8=ACCEPT");
  assert.equal(typ, "OK");
  assert.deepEqual(M.response("ENABLED"), ["ENABLED", [null]]);
  // Regression (found by this test, fixed): lib/imap4.ts enable() turns UTF-8 mode on from the tagged OK alone (as CPython does),
  // though RFC 5161 §3.2 says only the ENABLED response lists what was enabled. The next APPEND
  // is then sent as `UTF8 (~{n}` which Dovecot never answers: the connection times out.
  assert.equal(M.utf8_enabled, false);
  assert.equal((await M.append("INBOX", null, null, "Subject: u\r\n\r\nascii\r\n"))[0], "OK");
});

live("idle yields EXISTS when another connection appends, done() returns OK", async (s) => {
  await using M = await loggedIn(s);
  await M.create("IdleBox");
  assert.deepEqual(await M.select("IdleBox"), ["OK", ["0"]]);
  await using other = await loggedIn(s);
  const idler = await M.idle(5);
  const appended = other.append("IdleBox", null, null, "Subject: wake up\r\n\r\nnow\r\n");
  const seen: [string, Datum[]][] = [];
  const startedAt = Date.now();
  for await (const item of idler) {
    seen.push(item);
    if (item[0] === "EXISTS") break;
  }
  assert.equal((await appended)[0], "OK");
  assert.ok(Date.now() - startedAt < 4_000, "EXISTS came well within the duration");
  assert.deepEqual(seen.find(([t]) => t === "EXISTS"), ["EXISTS", ["1"]]);
  const [typ, data] = await idler.done();
  assert.equal(typ, "OK");
  assert.match(String(data[0]), /^Idle completed/);
  assert.deepEqual(await M.search(null, "ALL"), ["OK", ["1"]]);
});

live("idle for a short duration with nothing happening ends quietly", async (s) => {
  await using M = await loggedIn(s);
  await M.select("INBOX");
  const startedAt = Date.now();
  const seen: unknown[] = [];
  {
    await using idler = await M.idle(0.5);
    for await (const item of idler) seen.push(item);
  }
  const took = Date.now() - startedAt;
  assert.deepEqual(seen, []);
  assert.ok(took >= 450 && took < 3_000, `idled ${took} ms`);
  assert.equal((await M.noop())[0], "OK");
});

live("logout returns BYE, then the state is LOGOUT and every call throws abort", async (s) => {
  const M = await loggedIn(s);
  const [typ, data] = await M.logout();
  assert.equal(typ, "BYE");
  assert.deepEqual(data, ["Logging out"]);
  assert.equal(M.state, "LOGOUT");
  await assert.rejects(M.noop(), IMAP4Abort);
  await assert.rejects(M.select("INBOX"), IMAP4Abort);
  await assert.rejects(M.capability(), IMAP4Abort);
  await M.shutdown(); // a second close is harmless
});

live("await using logs out when the block ends", async (s) => {
  const log: string[] = [];
  let M: IMAP4;
  {
    await using N = await loggedIn(s, log);
    M = N;
    assert.equal((await N.select("INBOX"))[0], "OK");
  }
  assert.equal(M.state, "LOGOUT");
  assert.ok(log.some((l) => /^C: \S+ LOGOUT$/.test(l)));
  assert.ok(log.some((l) => l.startsWith("S: * BYE")));
  await assert.rejects(M.noop(), IMAP4Abort);
});

live("a command illegal in the state throws before anything is sent", async (s) => {
  const log: string[] = [];
  const M = await open(s, log);
  try {
    const before = sent(log);
    await assert.rejects(M.fetch("1", "(FLAGS)"), /FETCH illegal in state NONAUTH/);
    await assert.rejects(M.select("INBOX"), /SELECT illegal in state NONAUTH/);
    // As imaplib, uid() checks the state of the command it wraps.
    await assert.rejects(M.uid("FETCH", "1", "(FLAGS)"), /FETCH illegal in state NONAUTH/);
    await assert.rejects(M.idle(1), IMAP4Error);
    assert.equal(sent(log), before, "nothing was written");
    await M.login(s.user, s.pass);
    const after = sent(log);
    await assert.rejects(M.login(s.user, s.pass), /LOGIN illegal in state AUTH/);
    await assert.rejects(M.authenticate("PLAIN", () => "x"), /AUTHENTICATE illegal in state AUTH/);
    await assert.rejects(M.expunge(), /EXPUNGE illegal in state AUTH/);
    await assert.rejects(M.close(), /CLOSE illegal in state AUTH/);
    await assert.rejects(M.starttls(), IMAP4Error);
    assert.equal(sent(log), after, "nothing was written");
    assert.equal(M.state, "AUTH");
    assert.equal((await M.noop())[0], "OK");
  } finally {
    await M.logout();
  }
});

live("an argument with CR or LF throws TypeError before anything is sent", async (s) => {
  const log: string[] = [];
  await using M = await loggedIn(s, log);
  await M.select("INBOX");
  const before = sent(log);
  await assert.rejects(M.create("evil\r\nA1 DELETE INBOX"), TypeError);
  await assert.rejects(M.search(null, "SUBJECT", "x\ny"), TypeError);
  await assert.rejects(M.status("INBOX", "(MESSAGES)\r\n"), TypeError);
  await assert.rejects(M.uid("FETCH", "1\r", "(FLAGS)"), TypeError);
  await assert.rejects(M.login("a\nb", "c"), IMAP4Error); // state first: SELECTED
  assert.equal(sent(log), before, "nothing was written");
  const fresh = await open(s, log);
  try {
    const count = sent(log);
    await assert.rejects(fresh.login(s.user, "pass\r\nA1 LOGOUT"), TypeError);
    assert.equal(sent(log), count);
    assert.equal(fresh.state, "NONAUTH");
  } finally {
    await fresh.logout();
  }
  assert.equal((await M.noop())[0], "OK");
});

live(
  "fetchStream yields every message exact, lets the loop issue commands, and ends on break",
  async (s) => {
    const raw = Array.from(
      { length: 30 },
      (_, i) => message(`stream ${i + 1}`, "x".repeat(20_000 + i)),
    );
    await appendRaw(s, "Stream", raw);
    await using M = await loggedIn(s);
    assert.deepEqual(await M.select("Stream"), ["OK", ["30"]]);
    const seen: number[] = [];
    // A small read-ahead forces the pause / resume path; a NOOP inside the loop must not deadlock.
    for await (const data of M.fetchStream("1:*", "(UID BODY.PEEK[])", { highWaterMark: 50_000 })) {
      const r = parseFetch(data);
      const body = r.sections["BODY[]"]!;
      // The maildir decides the order: find the message by its subject, then compare every byte.
      const k = Number(/Subject: stream (\d+)/.exec(decoder.decode(body.subarray(0, 200)))![1]);
      assert.deepEqual(body, raw[k - 1]);
      seen.push(r.seq);
      if (seen.length === 5) assert.equal((await M.noop())[0], "OK");
    }
    assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => i + 1));
    let n = 0;
    for await (const _ of M.fetchStream("1:*", "(FLAGS)")) if (++n === 3) break;
    assert.equal(n, 3);
    // The rest of the broken-off answer was drained: the session is in step.
    const [typ, data] = await M.fetch("7", "(UID)");
    assert.equal(typ, "OK");
    assert.equal(data.length, 1);
    assert.match(String(data[0]), /^7 \(UID \d+\)$/);
  },
);

live("pipelining: 50 concurrent uid FETCH calls each get their own message", async (s) => {
  const raw = Array.from({ length: 50 }, (_, i) => message(`pipe ${i + 1}`, `body ${i + 1}`));
  await appendRaw(s, "Pipe", raw);
  const log: string[] = [];
  await using M = await loggedIn(s, log);
  assert.deepEqual(await M.select("Pipe"), ["OK", ["50"]]);
  // Flag every seventh message so the answers differ in content, not only in numbers.
  await M.store("7,14,21,28,35,42,49", "+FLAGS.SILENT", "\\Flagged");
  const first = log.length;
  // Regression (found by this test, fixed): lib/imap4.ts attributes untagged FETCH data to whichever command completes first.
  // Dovecot runs pipelined FETCHes in parallel and interleaves their output, e.g.
  //   S: * 2 FETCH (UID 2 ...)  S: * 3 FETCH (UID 3 ...)  S: A4 OK  S: A5 OK
  // so the UID FETCH of 2 returns the lines of 2 and 3, and that of 3 returns [null]. Each
  // UID FETCH answer names its UID (RFC 3501 §6.4.8), so each call can get its own.
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => M.uid("FETCH", i + 1, "(FLAGS)")),
  );
  results.forEach(([typ, data], i) => {
    const n = i + 1;
    assert.equal(typ, "OK");
    assert.equal(data.length, 1, `message ${n} got ${JSON.stringify(data)}`);
    const flags = n % 7 === 0 ? "\\Flagged \\Recent" : "\\Recent";
    assert.equal(data[0], `${n} (UID ${n} FLAGS (${flags}))`);
  });
  // More than one command was on the wire before the first tagged answer came back.
  const wire = log.slice(first);
  const firstTagged = wire.findIndex((l) => /^S: [A-Z]+\d+ OK/.test(l));
  const sentBefore = wire.slice(0, firstTagged).filter((l) => l.startsWith("C: ")).length;
  assert.ok(sentBefore > 1, `only ${sentBefore} command(s) in flight`);
});

live("xatom ID, noop, check, response and recent", async (s) => {
  await appendRaw(s, "Recent", [message("r1", "1"), message("r2", "2")]);
  await using M = await loggedIn(s);
  const [typ, data] = await M.xatom("ID", "NIL");
  assert.equal(typ, "OK");
  assert.match(String(data[0]), /^ID completed/);
  assert.deepEqual(M.response("ID"), ["ID", ['("name" "Dovecot")']]);
  assert.deepEqual(M.response("ID"), ["ID", [null]], "response() pops what it returns");
  await M.select("Recent");
  assert.deepEqual(await M.recent(), ["OK", ["2"]]);
  // Nothing left: recent() asks with NOOP, which brings no RECENT.
  assert.deepEqual(await M.recent(), ["OK", [null]]);
  const [ntyp, ndata] = await M.noop();
  assert.equal(ntyp, "OK");
  assert.match(String(ndata[0]), /^NOOP completed/);
  assert.equal((await M.check())[0], "OK");
  await appendRaw(s, "Recent", [message("r3", "3")]);
  await M.noop();
  // As imaplib, select() returns EXISTS without removing it: both counts are there.
  assert.deepEqual(M.response("EXISTS"), ["EXISTS", ["2", "3"]]);
  assert.deepEqual(M.response("EXISTS"), ["EXISTS", [null]]);
});

live("low level: open, send, readline, read, socket, shutdown", async (s) => {
  const M = new IMAP4({ timeout: 10_000 });
  assert.equal(M.state, "LOGOUT");
  await M.open(s.host, s.port);
  try {
    assert.equal(M.state, "NONAUTH");
    assert.equal(M.host, s.host);
    assert.equal(M.port, s.port);
    assert.equal(M.socket().kind, "tcp");
    await M.send("raw1 NOOP\r\n");
    assert.match(decoder.decode(await M.readline()), /^raw1 OK NOOP completed.*\r\n$/);
    await M.send(encoder.encode("raw2 CAPABILITY\r\n"));
    assert.equal(decoder.decode(await M.read(12)), "* CAPABILITY");
    assert.match(decoder.decode(await M.readline()), /^ IMAP4rev1 .*\r\n$/);
    assert.match(decoder.decode(await M.readline()), /^raw2 OK /);
    // The command machinery still works after raw traffic.
    assert.equal((await M.noop())[0], "OK");
  } finally {
    await M.shutdown();
  }
  assert.equal(M.state, "LOGOUT");
  await assert.rejects(M.noop(), IMAP4Abort);
  await assert.rejects(M.readline(), IMAP4Abort);
});

stopTest();
