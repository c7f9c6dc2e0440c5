/**
 * The npm build on Node against a real private Dovecot, over each connection kind: plain TCP,
 * STARTTLS and implicit TLS (certificates verified: an unknown CA or a wrong name is refused) and
 * the stream transport (a pre-authenticated child process); then the README's Node example, run
 * as a user would run it.
 *
 * The server comes from tests/node_build_test.ts, which starts one and passes it in the
 * environment: IMAP_HOST, IMAP_PORT, IMAP_TLS_PORT, IMAP_USER, IMAP_PASS, IMAP_CA_FILE and
 * IMAP_PREAUTH (a JSON argv). Without IMAP_HOST every test here is skipped, and says so.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test as nodeTest } from "node:test";
import { loadPackage, onDeno, packageName, root } from "./_package.mjs";

const env = process.env;
const skip = onDeno
  ? "runs under Node (tests/node_build_test.ts)"
  : env.IMAP_HOST
  ? false
  : "no server: IMAP_HOST is not set (tests/node_build_test.ts starts one)";
const test = (name, fn) => nodeTest(name, { skip }, fn);

const encoder = new TextEncoder();
const MAILBOX = "NodeBuild";
const MESSAGES = [
  "From: Ada <ada@example.org>\r\nTo: test@example.org\r\nSubject: node build one\r\n\r\n" +
  "First message, over plain TCP.\r\n",
  "From: Ada <ada@example.org>\r\nTo: test@example.org\r\nSubject: node build two\r\n" +
  "Content-Type: text/plain; charset=utf-8\r\n\r\nna\u00efve caf\u00e9 \u65e5\u672c\u8a9e\r\n" +
  "x".repeat(5000) + "\r\n",
].map((m) => encoder.encode(m));

function server() {
  return {
    host: env.IMAP_HOST,
    port: Number(env.IMAP_PORT),
    tlsPort: Number(env.IMAP_TLS_PORT),
    user: env.IMAP_USER,
    pass: env.IMAP_PASS,
    caPem: readFileSync(env.IMAP_CA_FILE, "utf8"),
    preauth: JSON.parse(env.IMAP_PREAUTH || "null"),
  };
}

/** The literals of a FETCH result, in order. */
function literals(data) {
  return data.filter((d) => Array.isArray(d)).map((d) => d[1]);
}

const options = { timeout: 10_000 };

/** Asserts that a connection is refused for its certificate (closing it if it was not). */
async function refuses(connecting, imaplib) {
  let error;
  try {
    const M = await connecting;
    await M.shutdown();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof imaplib.IMAP4Error, `refused with an IMAP4Error, got ${error}`);
  assert.match(error.message, /certificate|altnames|self.signed/i);
}

test("plain TCP: login, APPEND, SEARCH and FETCH give the messages back byte-exact", async () => {
  const { imaplib } = await loadPackage();
  const s = server();
  const M = await imaplib.IMAP4.connect(s.host, s.port, options);
  try {
    assert.equal(M.socket().kind, "tcp");
    assert.equal((await M.login(s.user, s.pass))[0], "OK");
    assert.equal((await M.create(MAILBOX))[0], "OK");
    for (const msg of MESSAGES) {
      const [typ] = await M.append(MAILBOX, "(\\Seen)", '"26-Nov-2026 06:00:00 +0000"', msg);
      assert.equal(typ, "OK");
    }
    assert.deepEqual(await M.select(MAILBOX), ["OK", ["2"]]);
    assert.deepEqual(await M.search(null, "ALL"), ["OK", ["1 2"]]);
    const [typ, data] = await M.fetch("1:2", "(RFC822)");
    assert.equal(typ, "OK");
    assert.deepEqual(literals(data), MESSAGES);
    const [, flags] = await M.fetch("1", "(FLAGS INTERNALDATE)");
    // \Recent too: the messages are new to this session.
    assert.deepEqual(imaplib.ParseFlags(flags[0]).filter((f) => f !== "\\Recent"), ["\\Seen"]);
    assert.deepEqual(imaplib.Internaldate2tuple(flags[0])?.slice(0, 6), [2026, 11, 26, 6, 0, 0]);
    assert.equal((await M.logout())[0], "BYE");
  } finally {
    await M.shutdown();
  }
});

test("STARTTLS upgrades the connection and verifies the certificate", async () => {
  const { imaplib } = await loadPackage();
  const s = server();
  const M = await imaplib.IMAP4.connect(s.host, s.port, options);
  try {
    assert.ok(M.capabilities.includes("STARTTLS"));
    assert.equal((await M.starttls({ caCerts: [s.caPem], hostname: "localhost" }))[0], "OK");
    assert.equal(M.socket().kind, "tls");
    assert.ok(!M.capabilities.includes("STARTTLS"));
    assert.equal((await M.login(s.user, s.pass))[0], "OK");
    assert.equal((await M.select(MAILBOX, true))[0], "OK");
    const [, data] = await M.fetch("2", "(BODY.PEEK[])");
    assert.deepEqual(literals(data), [MESSAGES[1]]);
    assert.equal((await M.logout())[0], "BYE");
  } finally {
    await M.shutdown();
  }
});

test("STARTTLS with an unknown CA or a wrong name aborts the connection", async () => {
  const { imaplib } = await loadPackage();
  const s = server();
  for (
    const tls of [{ hostname: "localhost" }, { caCerts: [s.caPem], hostname: "wrong.example" }]
  ) {
    const M = await imaplib.IMAP4.connect(s.host, s.port, options);
    try {
      await assert.rejects(M.starttls(tls), (e) => {
        assert.ok(e instanceof imaplib.IMAP4Abort, `${e?.name}: ${e?.message}`);
        assert.match(e.message, /certificate|altnames|self.signed/i);
        return true;
      });
      await assert.rejects(M.login(s.user, s.pass), imaplib.IMAP4Abort);
    } finally {
      await M.shutdown();
    }
  }
});

test("implicit TLS: IMAP4_SSL verifies the certificate, and refuses an unknown CA or name", async () => {
  const { imaplib } = await loadPackage();
  const s = server();
  const M = await imaplib.IMAP4_SSL.connect(s.host, s.tlsPort, {
    ...options,
    caCerts: [s.caPem],
    hostname: "localhost",
  });
  try {
    assert.equal(M.socket().kind, "tls");
    assert.equal((await M.login(s.user, s.pass))[0], "OK");
    const [typ, data] = await M.status(MAILBOX, "(MESSAGES)");
    assert.equal(typ, "OK");
    assert.match(String(data[0]), /\(MESSAGES 2\)/);
    assert.equal((await M.logout())[0], "BYE");
  } finally {
    await M.shutdown();
  }
  // No CA given (only the system roots), then the right CA but a name it does not hold.
  for (
    const tls of [{ hostname: "localhost" }, { caCerts: [s.caPem], hostname: "wrong.example" }]
  ) {
    await refuses(imaplib.IMAP4_SSL.connect(s.host, s.tlsPort, { ...options, ...tls }), imaplib);
  }
});

test("stream: IMAP4_stream talks to a pre-authenticated child process", async () => {
  const { imaplib } = await loadPackage();
  const s = server();
  assert.ok(s.preauth, "the server has a pre-authenticated command");
  const M = await imaplib.IMAP4_stream.connect(s.preauth, options);
  try {
    assert.equal(M.socket().kind, "stream");
    assert.equal(M.state, "AUTH");
    assert.deepEqual(await M.select(MAILBOX, true), ["OK", ["2"]]);
    const [, data] = await M.fetch("1:2", "(BODY.PEEK[])");
    assert.deepEqual(literals(data), MESSAGES);
    assert.equal((await M.logout())[0], "BYE");
  } finally {
    await M.shutdown();
  }
});

/** The first ```js block of the README's "Node and npm" section. */
function readmeNodeExample() {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const section = /^## Node and npm\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1];
  assert.ok(section, 'README.md has a "## Node and npm" section');
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, "that section has a ```js example");
  return code;
}

test("the README's Node example runs against the server, with TLS verified", async () => {
  const { project } = await loadPackage();
  const s = server();
  const code = readmeNodeExample();
  assert.ok(code.includes(`from "${packageName}"`), "the example imports the package by name");
  const file = join(project, "readme_example.mjs");
  writeFileSync(file, code);
  const run = (extra) =>
    execFileSync(process.execPath, [file], {
      cwd: project,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...env,
        IMAP_HOST: s.host,
        IMAP_PORT: String(s.tlsPort),
        IMAP_USER: s.user,
        IMAP_PASS: s.pass,
        IMAP_MAILBOX: MAILBOX,
        ...extra,
      },
    });
  const out = run({ IMAP_CA_FILE: env.IMAP_CA_FILE, IMAP_TLS_NAME: "localhost" });
  assert.match(out, new RegExp(`${MAILBOX} holds 2 messages`));
  assert.match(out, /Subject: node build one/);
  assert.match(out, /Subject: node build two/);
  // Without the private CA the same example must fail: verification is on.
  assert.throws(() => run({ IMAP_CA_FILE: "", IMAP_TLS_NAME: "localhost" }), (e) => {
    assert.match(String(e.stderr), /certificate/i);
    return true;
  });
});
