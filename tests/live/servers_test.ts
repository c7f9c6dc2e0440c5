// Checks the private server scripts themselves with raw sockets and processes (not the client
// under test): plain LOGIN, implicit TLS, the preauth command, appendRaw, parallel starts, stop.
import assert from "node:assert/strict";
import {
  appendRaw,
  type LiveServer,
  liveTest,
  serverAvailable,
  type ServerName,
  skipLive,
  startServer,
} from "./_servers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Reads CRLF-terminated lines from a byte source, keeping what follows a line for later. */
class Lines {
  #buffer = new Uint8Array(0);
  #read: (into: Uint8Array) => Promise<number | null>;

  constructor(read: (into: Uint8Array) => Promise<number | null>) {
    this.#read = read;
  }

  /** Returns the next line without its CRLF, or null at end of stream. */
  async next(): Promise<string | null> {
    while (true) {
      const end = this.#buffer.indexOf(0x0a);
      if (end >= 0) {
        const line = decoder.decode(this.#buffer.subarray(0, end)).replace(/\r$/, "");
        this.#buffer = this.#buffer.slice(end + 1);
        return line;
      }
      const chunk = new Uint8Array(4096);
      const n = await this.#read(chunk);
      if (n === null) return null;
      const joined = new Uint8Array(this.#buffer.length + n);
      joined.set(this.#buffer);
      joined.set(chunk.subarray(0, n), this.#buffer.length);
      this.#buffer = joined;
    }
  }

  /** Returns every line up to and including the one tagged `tag`. */
  async untilTagged(tag: string): Promise<string[]> {
    const lines: string[] = [];
    while (true) {
      const line = await this.next();
      if (line === null) throw new Error(`Stream ended before "${tag}" completed: ${lines}`);
      lines.push(line);
      if (line.startsWith(`${tag} `)) return lines;
    }
  }
}

async function assertGreeting(lines: Lines, server: LiveServer): Promise<void> {
  const greeting = await lines.next();
  assert.ok(greeting?.startsWith("* OK"), `${server.name} greeting was ${greeting}`);
}

async function checkPlainLogin(server: LiveServer): Promise<void> {
  const conn = await Deno.connect({ hostname: server.host, port: server.port });
  try {
    const lines = new Lines((into) => conn.read(into));
    await assertGreeting(lines, server);
    await conn.write(encoder.encode(`a LOGIN ${server.user} ${server.pass}\r\n`));
    const login = await lines.untilTagged("a");
    assert.match(login.at(-1)!, /^a OK/);
    await conn.write(encoder.encode("b LOGOUT\r\n"));
    assert.match((await lines.untilTagged("b")).at(-1)!, /^b OK/);
  } finally {
    conn.close();
  }
}

async function checkWrongPassword(server: LiveServer): Promise<void> {
  const conn = await Deno.connect({ hostname: server.host, port: server.port });
  try {
    const lines = new Lines((into) => conn.read(into));
    await assertGreeting(lines, server);
    await conn.write(encoder.encode(`a LOGIN ${server.user} not-${server.pass}\r\n`));
    assert.match((await lines.untilTagged("a")).at(-1)!, /^a NO/);
  } finally {
    conn.close();
  }
}

async function checkImplicitTls(server: LiveServer): Promise<void> {
  const conn = await Deno.connectTls({
    hostname: "localhost",
    port: server.tlsPort,
    caCerts: [server.caPem],
  });
  try {
    await assertGreeting(new Lines((into) => conn.read(into)), server);
  } finally {
    conn.close();
  }
}

async function checkUntrustedTlsFails(server: LiveServer): Promise<void> {
  // Without the instance's CA the handshake must fail: the certificate really is checked.
  const conn = await Deno.connectTls({ hostname: "localhost", port: server.tlsPort });
  try {
    await assert.rejects(conn.handshake());
  } finally {
    conn.close();
  }
}

async function checkPreauth(server: LiveServer): Promise<void> {
  assert.ok(server.preauth !== null && server.preauth.length > 0, "preauth argv is missing");
  const [command, ...args] = server.preauth;
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let pending = new Uint8Array(0);
  const lines = new Lines(async (into) => {
    if (pending.length === 0) {
      const { value, done } = await reader.read();
      if (done) return null;
      pending = value;
    }
    const n = Math.min(into.length, pending.length);
    into.set(pending.subarray(0, n));
    pending = pending.subarray(n);
    return n;
  });
  const writer = child.stdin.getWriter();
  try {
    const greeting = await lines.next();
    assert.match(greeting ?? "", /^\* PREAUTH/);
    await writer.write(encoder.encode("a SELECT INBOX\r\n"));
    assert.match((await lines.untilTagged("a")).at(-1)!, /^a OK/);
    await writer.write(encoder.encode("b LOGOUT\r\n"));
    const logout = await lines.untilTagged("b");
    assert.ok(logout.some((line) => line.startsWith("* BYE")), `no BYE in ${logout}`);
    assert.match(logout.at(-1)!, /^b OK/);
    assert.equal(await lines.next(), null);
    await writer.close();
    assert.equal((await child.status).code, 0);
  } finally {
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await writer.abort().catch(() => {});
    try {
      child.kill();
    } catch {
      // Already ended.
    }
    await child.status;
  }
}

async function selectExists(server: LiveServer, mailbox: string): Promise<number> {
  const conn = await Deno.connect({ hostname: server.host, port: server.port });
  try {
    const lines = new Lines((into) => conn.read(into));
    await assertGreeting(lines, server);
    await conn.write(encoder.encode(`a LOGIN ${server.user} ${server.pass}\r\n`));
    assert.match((await lines.untilTagged("a")).at(-1)!, /^a OK/);
    await conn.write(encoder.encode(`b SELECT "${mailbox}"\r\n`));
    const select = await lines.untilTagged("b");
    assert.match(select.at(-1)!, /^b OK/);
    const exists = select.map((line) => line.match(/^\* (\d+) EXISTS$/)).find((m) => m !== null);
    assert.ok(exists, `no EXISTS in ${select}`);
    await conn.write(encoder.encode("c LOGOUT\r\n"));
    await lines.untilTagged("c");
    return Number(exists[1]);
  } finally {
    conn.close();
  }
}

async function assertPortClosed(port: number): Promise<void> {
  await assert.rejects(
    Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
}

function message(subject: string): Uint8Array {
  return encoder.encode(
    `From: a@example.org\r\nTo: b@example.org\r\nSubject: ${subject}\r\n` +
      `Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <${subject}@example.org>\r\n\r\nBody\r\n`,
  );
}

for (const name of ["dovecot", "mailutils"] as const) {
  liveTest(`${name} script: login, TLS, preauth, appendRaw, stop`, name, async (server) => {
    assert.equal(server.name, name);
    assert.equal(server.host, "127.0.0.1");
    assert.notEqual(server.port, server.tlsPort);
    assert.match(server.version, /^\d+\.\d+/);
    assert.match(server.caPem, /^-----BEGIN CERTIFICATE-----/);
    await checkPlainLogin(server);
    await checkWrongPassword(server);
    await checkImplicitTls(server);
    await checkUntrustedTlsFails(server);
    await checkPreauth(server);

    assert.equal(await selectExists(server, "INBOX"), 0);
    const written = await appendRaw(server, "INBOX", [message("one"), message("two")]);
    assert.equal(written.length, 2);
    assert.equal(await selectExists(server, "INBOX"), 2);
    await appendRaw(server, "Seeded/Deeper", [message("three")]);
    assert.equal(await selectExists(server, "Seeded/Deeper"), 1);

    await server.stop();
    await assertPortClosed(server.port);
    await assertPortClosed(server.tlsPort);
    await assert.rejects(Deno.stat(server.dir), Deno.errors.NotFound);
    await server.stop(); // idempotent
  });
}

Deno.test({
  name: "two dovecot instances run side by side on distinct ports",
  ignore: skipLive("dovecot"),
}, async () => {
  const servers = await Promise.all([startServer("dovecot"), startServer("dovecot")]);
  try {
    const [a, b] = servers;
    if (a === null || b === null) throw new Error("Dovecot is not available");
    assert.equal(new Set([a.port, a.tlsPort, b.port, b.tlsPort]).size, 4);
    await Promise.all([checkPlainLogin(a), checkPlainLogin(b)]);
    await a.stop();
    await assertPortClosed(a.port);
    await checkPlainLogin(b);
  } finally {
    await Promise.all(servers.map((server) => server?.stop()));
  }
});

// Pick a server that is not installed here (Cyrus and Courier conflict with Dovecot, so usually
// one is missing) to check how startServer reports it.
const missing: ServerName | undefined = await (async () => {
  for (const name of ["cyrus", "courier", "mailutils", "dovecot"] as const) {
    if (!(await serverAvailable(name))) return name;
  }
  return undefined;
})();

Deno.test({
  name: "startServer throws in CI and returns null elsewhere for a missing server",
  ignore: missing === undefined,
  async fn() {
    const saved = Deno.env.get("CI");
    try {
      Deno.env.set("CI", "true");
      await assert.rejects(startServer(missing!), /not installed/);
      Deno.env.delete("CI");
      assert.equal(await startServer(missing!), null);
    } finally {
      if (saved === undefined) Deno.env.delete("CI");
      else Deno.env.set("CI", saved);
    }
  },
});
