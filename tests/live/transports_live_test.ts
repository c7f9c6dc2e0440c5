// Live tests of the three connection kinds against one private Dovecot: plain TCP with STARTTLS,
// implicit TLS (certificates verified: an unknown CA or a wrong name is refused), and a
// pre-authenticated child process (argv and `sh -c` command line, and a child that dies).
import assert from "node:assert/strict";
import { IMAP4, IMAP4_SSL, IMAP4_stream, IMAP4Abort } from "../../mod.ts";
import { appendRaw, sharedServer } from "./_servers.ts";

const { live, stopTest } = sharedServer("dovecot");

/** Quotes one word for a POSIX shell. */
function shellQuote(word: string): string {
  return /^[A-Za-z0-9_\/.,:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

const options = { timeout: 10_000 };

live("IMAP4: plain TCP, then STARTTLS verified against the instance's CA", async (s) => {
  const M = await IMAP4.connect(s.host, s.port, options);
  try {
    assert.equal(M.socket().kind, "tcp");
    assert.ok(M.capabilities.includes("STARTTLS"));
    assert.equal((await M.starttls({ caCerts: [s.caPem], hostname: "localhost" }))[0], "OK");
    assert.equal(M.socket().kind, "tls");
    assert.ok(!M.capabilities.includes("STARTTLS"));
    assert.equal((await M.login(s.user, s.pass))[0], "OK");
    assert.equal((await M.select("INBOX"))[0], "OK");
    assert.equal((await M.logout())[0], "BYE");
  } finally {
    await M.shutdown();
  }
});

live("IMAP4: STARTTLS with an unknown CA or a wrong name aborts the connection", async (s) => {
  for (
    const tls of [{ hostname: "localhost" }, { caCerts: [s.caPem], hostname: "wrong.example" }]
  ) {
    const M = await IMAP4.connect(s.host, s.port, options);
    try {
      await assert.rejects(M.starttls(tls), (e) => {
        assert.ok(e instanceof IMAP4Abort);
        assert.match(e.message, /TLS handshake failed: .*certificate/);
        return true;
      });
      assert.equal(M.state, "LOGOUT");
      await assert.rejects(M.login(s.user, s.pass), IMAP4Abort);
    } finally {
      await M.shutdown();
    }
  }
});

live("IMAP4_SSL: implicit TLS verified against the instance's CA", async (s) => {
  await appendRaw(s, "INBOX", [new TextEncoder().encode("Subject: tls\r\n\r\nover tls\r\n")]);
  const M = await IMAP4_SSL.connect(s.host, s.tlsPort, {
    ...options,
    caCerts: [s.caPem],
    hostname: "localhost",
  });
  try {
    assert.equal(M.ssl().kind, "tls");
    assert.equal(M.state, "NONAUTH");
    assert.ok(!M.capabilities.includes("STARTTLS"), "no STARTTLS over TLS");
    assert.equal((await M.login(s.user, s.pass))[0], "OK");
    const [typ, data] = await M.select("INBOX");
    assert.equal(typ, "OK");
    assert.ok(Number(data[0]) >= 1);
    const [, fetched] = await M.fetch("1", "(BODY.PEEK[TEXT])");
    assert.ok(Array.isArray(fetched[0]));
    assert.equal((await M.logout())[0], "BYE");
  } finally {
    await M.shutdown();
  }
});

live("IMAP4_SSL: the name verified defaults to the host connected to", async (s) => {
  const M = await IMAP4_SSL.connect("localhost", s.tlsPort, { ...options, caCerts: [s.caPem] });
  try {
    assert.equal(M.host, "localhost");
    assert.equal(M.state, "NONAUTH");
  } finally {
    await M.logout();
  }
});

live("IMAP4_SSL: without the CA the certificate is refused", async (s) => {
  await assert.rejects(
    IMAP4_SSL.connect(s.host, s.tlsPort, { ...options, hostname: "localhost" }),
    (e) => {
      assert.ok(e instanceof IMAP4Abort);
      assert.match(e.message, /certificate/i);
      return true;
    },
  );
});

live("IMAP4_SSL: with the CA but another host name the certificate is refused", async (s) => {
  // Regression (found by this test, fixed): IMAP4_SSL.open passes `hostname` to transports.connectTls as the address to connect to
  // (TcpOptions and TlsOptions share the one `hostname` field), so this tries to resolve
  // "wrong.example" and fails with "failed to lookup address information" instead of connecting
  // to 127.0.0.1 and refusing the certificate. With a name that resolves, the client would
  // connect to another machine than the one asked for. Expected: connect to `host`, verify
  // against `hostname` (as starttls() already does).
  await assert.rejects(
    IMAP4_SSL.connect(s.host, s.tlsPort, {
      ...options,
      caCerts: [s.caPem],
      hostname: "wrong.example",
    }),
    (e) => {
      assert.ok(e instanceof IMAP4Abort);
      assert.match(e.message, /certificate not valid for name "wrong\.example"/);
      return true;
    },
  );
});

live("IMAP4_stream: the preauth argv starts in AUTH", async (s) => {
  assert.ok(s.preauth, "Dovecot has a preauth command");
  const stderr: Uint8Array[] = [];
  const M = await IMAP4_stream.connect(s.preauth, { ...options, onStderr: (c) => stderr.push(c) });
  try {
    assert.equal(M.socket().kind, "stream");
    assert.match(M.welcome, /^\* PREAUTH /);
    assert.equal(M.state, "AUTH");
    assert.ok(M.capabilities.includes("SORT"), "post-login capabilities");
    const [typ, data] = await M.select("INBOX");
    assert.equal(typ, "OK");
    assert.match(String(data[0]), /^\d+$/);
    assert.equal(M.state, "SELECTED");
    assert.deepEqual(await M.logout(), ["BYE", ["Logging out"]]);
    assert.equal(M.state, "LOGOUT");
  } finally {
    await M.shutdown();
  }
  // Dovecot's standalone imap logs to stderr, which is kept apart from the protocol.
  const log = stderr.map((c) => new TextDecoder().decode(c)).join("");
  assert.match(log, /Disconnected: Logged out/);
});

live("IMAP4_stream: a command line runs under sh -c", async (s) => {
  const line = s.preauth!.map(shellQuote).join(" ") + " 2>/dev/null";
  const M = await IMAP4_stream.connect(line, options);
  try {
    assert.equal(M.command, line);
    assert.equal(M.state, "AUTH");
    const [typ, data] = await M.status("INBOX", "(MESSAGES)");
    assert.equal(typ, "OK");
    assert.match(String(data[0]), /^INBOX \(MESSAGES \d+\)$/);
    assert.equal((await M.logout())[0], "BYE");
  } finally {
    await M.shutdown();
  }
});

live("IMAP4_stream: a child that is killed aborts the connection", async (s) => {
  const pidFile = await Deno.makeTempFile({ prefix: "imap-stream-pid-" });
  try {
    // `exec` keeps the shell's pid through setpriv and env down to the imap process.
    const line = `echo $$ > ${shellQuote(pidFile)}; exec ` +
      s.preauth!.map(shellQuote).join(" ") + " 2>/dev/null";
    const M = await IMAP4_stream.connect(line, options);
    try {
      assert.equal(M.state, "AUTH");
      const pid = Number((await Deno.readTextFile(pidFile)).trim());
      assert.ok(pid > 1);
      Deno.kill(pid, "SIGKILL");
      await assert.rejects(M.noop(), IMAP4Abort);
      assert.equal(M.state, "LOGOUT");
      await assert.rejects(M.select("INBOX"), IMAP4Abort);
    } finally {
      await M.shutdown();
    }
  } finally {
    await Deno.remove(pidFile);
  }
});

stopTest();
