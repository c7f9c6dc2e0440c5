/**
 * Tests of the Deno transports against loopback servers and real child processes.
 *
 * Run: deno test --allow-net --allow-read --allow-run tests/transports/deno_test.ts
 *
 * @module
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { denoTransports } from "../../transports/deno.ts";
import { getTransports } from "../../transports/mod.ts";
import type { Transport } from "../../transports/transport.ts";

const certs = new URL("../../fixtures/certs/", import.meta.url);
const pem = (name: string) => Deno.readTextFileSync(new URL(name, certs));
const caPem = pem("ca.pem");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A loopback listener whose per-connection handler is awaited by close(). */
interface TestServer {
  port: number;
  close(): Promise<void>;
}

/** Serves every accepted connection with `handle`, which must close it. */
function serve(
  listener: Deno.Listener,
  handle: (conn: Deno.Conn) => Promise<void>,
): TestServer {
  const handlers: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      handlers.push(handle(conn).catch(() => {}).finally(() => closeQuietly(conn)));
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      try {
        listener.close();
      } catch {
        // Closed already.
      }
      await accepting;
      await Promise.all(handlers);
    },
  };
}

function closeQuietly(conn: { close(): void }): void {
  try {
    conn.close();
  } catch {
    // Closed already.
  }
}

/** Copies everything a connection sends back to it, until end of stream. */
async function echo(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) return;
    let offset = 0;
    while (offset < n) offset += await conn.write(buf.subarray(offset, n));
  }
}

function tcpServer(handle: (conn: Deno.Conn) => Promise<void> = echo): TestServer {
  return serve(Deno.listen({ hostname: "127.0.0.1", port: 0 }), handle);
}

function tlsServer(certName: string, handle: (conn: Deno.Conn) => Promise<void> = echo) {
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pem(`${certName}.pem`),
    key: pem(`${certName}.key`),
  });
  return serve(listener, handle);
}

/** Reads until `count` bytes arrived or the stream ended. */
async function readBytes(t: Transport, count: number): Promise<Uint8Array> {
  const out = new Uint8Array(count);
  let got = 0;
  while (got < count) {
    const n = await t.read(out.subarray(got));
    if (n === null) break;
    got += n;
  }
  return out.subarray(0, got);
}

/** Reads everything until end of stream. */
async function readAll(t: Transport): Promise<string> {
  const chunks: string[] = [];
  const buf = new Uint8Array(4096);
  while (true) {
    const n = await t.read(buf);
    if (n === null) return chunks.join("");
    chunks.push(decoder.decode(buf.subarray(0, n)));
  }
}

async function roundTrip(t: Transport, text: string): Promise<string> {
  await t.write(encoder.encode(text));
  return decoder.decode(await readBytes(t, encoder.encode(text).length));
}

/** Deterministic pseudo-random bytes (xorshift32), so the content check is not trivial. */
function fillBlock(block: Uint8Array, seed: number): void {
  let x = seed | 1;
  const words = new Uint32Array(block.buffer, block.byteOffset, block.length >>> 2);
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
}

Deno.test("mod.ts picks the deno transports on Deno", async () => {
  const transports = await getTransports();
  assert.equal(transports, denoTransports);
  assert.equal(transports.runtime, "deno");
  assert.equal(await getTransports(), transports);
});

Deno.test("tcp transport echoes bytes and reports kind", async () => {
  const server = tcpServer();
  const t = await denoTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    assert.equal(t.kind, "tcp");
    assert.equal(typeof t.startTls, "function");
    assert.equal(await roundTrip(t, "a001 NOOP\r\n"), "a001 NOOP\r\n");
    // A small buffer gets a part; the rest stays readable.
    await t.write(encoder.encode("0123456789"));
    const small = new Uint8Array(4);
    const first = await t.read(small);
    assert.ok(first !== null && first >= 1 && first <= 4);
    const rest = await readBytes(t, 10 - first);
    assert.equal(decoder.decode(small.subarray(0, first)) + decoder.decode(rest), "0123456789");
  } finally {
    await t.close();
    await server.close();
  }
});

Deno.test("tcp transport read returns null when the server closes", async () => {
  const server = tcpServer(async (conn) => {
    await conn.write(encoder.encode("* BYE\r\n"));
  });
  const t = await denoTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    assert.equal(await readAll(t), "* BYE\r\n");
    assert.equal(await t.read(new Uint8Array(8)), null);
  } finally {
    await t.close();
    await server.close();
  }
});

Deno.test("tcp transport after close: read is null, write throws, close is idempotent", async () => {
  const server = tcpServer();
  const t = await denoTransports.connect({ hostname: "127.0.0.1", port: server.port });
  const pending = t.read(new Uint8Array(16));
  await t.close();
  assert.equal(await pending, null);
  assert.equal(await t.read(new Uint8Array(16)), null);
  await assert.rejects(t.write(encoder.encode("x")), /closed/);
  await t.close();
  await server.close();
});

Deno.test("tcp connect to a closed port rejects", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  await assert.rejects(denoTransports.connect({ hostname: "127.0.0.1", port }));
});

Deno.test("tcp transport carries 50 MB intact", async () => {
  const total = 50 * 1024 * 1024;
  const blockSize = 1024 * 1024;
  const sent = createHash("sha256");
  const server = tcpServer(async (conn) => {
    const block = new Uint8Array(blockSize);
    for (let i = 0; i < total / blockSize; i++) {
      fillBlock(block, i + 1);
      sent.update(block);
      let offset = 0;
      while (offset < block.length) offset += await conn.write(block.subarray(offset));
    }
  });
  const t = await denoTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const received = createHash("sha256");
    const buf = new Uint8Array(64 * 1024);
    let count = 0;
    while (true) {
      const n = await t.read(buf);
      if (n === null) break;
      received.update(buf.subarray(0, n));
      count += n;
    }
    assert.equal(count, total);
    assert.equal(received.digest("hex"), sent.digest("hex"));
  } finally {
    await t.close();
    await server.close();
  }
});

Deno.test("tcp transport writes 8 MB in one call", async () => {
  const data = new Uint8Array(8 * 1024 * 1024);
  fillBlock(data, 7);
  const server = tcpServer();
  const t = await denoTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const [, back] = await Promise.all([t.write(data), readBytes(t, data.length)]);
    assert.equal(back.length, data.length);
    assert.deepEqual(back, data);
  } finally {
    await t.close();
    await server.close();
  }
});

Deno.test("tls transport verifies a certificate from caCerts", async () => {
  const server = tlsServer("server");
  for (const hostname of ["localhost", "127.0.0.1"]) {
    const t = await denoTransports.connectTls({ hostname, port: server.port, caCerts: [caPem] });
    try {
      assert.equal(t.kind, "tls");
      assert.equal(t.startTls, undefined);
      assert.equal(await roundTrip(t, `hello ${hostname}\r\n`), `hello ${hostname}\r\n`);
    } finally {
      await t.close();
    }
  }
  await server.close();
});

Deno.test("tls transport rejects a certificate from an unknown CA", async () => {
  const server = tlsServer("unknown_server");
  await assert.rejects(
    denoTransports.connectTls({ hostname: "localhost", port: server.port, caCerts: [caPem] }),
    /invalid peer certificate: UnknownIssuer/,
  );
  // Without caCerts the test CA is unknown too.
  const other = tlsServer("server");
  await assert.rejects(
    denoTransports.connectTls({ hostname: "localhost", port: other.port }),
    /invalid peer certificate: UnknownIssuer/,
  );
  await server.close();
  await other.close();
});

Deno.test("tls transport rejects a certificate for another host name", async () => {
  const server = tlsServer("wrong_host");
  await assert.rejects(
    denoTransports.connectTls({ hostname: "localhost", port: server.port, caCerts: [caPem] }),
    /not valid for name/,
  );
  await server.close();
});

Deno.test("tls verify false is refused on Deno with a TypeError", async () => {
  await assert.rejects(
    denoTransports.connectTls({ hostname: "localhost", port: 1, verify: false }),
    (error: unknown) =>
      error instanceof TypeError && /--unsafely-ignore-certificate-errors/.test(error.message),
  );
});

/**
 * A STARTTLS server: answers one line in clear text, then splices the connection to a TLS
 * listener (Deno can only start TLS as a client, so the server side of the upgrade is a
 * `Deno.listenTls` behind a loopback splice).
 */
function startTlsServer(certName: string): TestServer {
  const inner = tlsServer(certName);
  const outer = tcpServer(async (conn) => {
    const line = await readLine(conn);
    if (line !== "a1 STARTTLS\r\n") return;
    await conn.write(encoder.encode("a1 OK Begin TLS negotiation now\r\n"));
    const backend = await Deno.connect({ hostname: "127.0.0.1", port: inner.port });
    await Promise.all([pump(conn, backend), pump(backend, conn)]);
  });
  return {
    port: outer.port,
    async close() {
      await outer.close();
      await inner.close();
    },
  };
}

async function readLine(conn: Deno.Conn): Promise<string> {
  const byte = new Uint8Array(1);
  let line = "";
  while (!line.endsWith("\n")) {
    // One byte at a time: nothing past the line may be consumed before the upgrade.
    if ((await conn.read(byte)) === null) break;
    line += String.fromCharCode(byte[0]);
  }
  return line;
}

async function pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  try {
    while (true) {
      const n = await from.read(buf);
      if (n === null) break;
      let offset = 0;
      while (offset < n) offset += await to.write(buf.subarray(offset, n));
    }
  } catch {
    // The other direction closed first.
  } finally {
    closeQuietly(to);
    closeQuietly(from);
  }
}

async function startTlsHandshake(t: Transport): Promise<void> {
  const answer = "a1 OK Begin TLS negotiation now\r\n";
  await t.write(encoder.encode("a1 STARTTLS\r\n"));
  assert.equal(decoder.decode(await readBytes(t, answer.length)), answer);
}

Deno.test("starttls upgrades a tcp transport in place", async () => {
  const server = startTlsServer("server");
  const t = await denoTransports.connect({ hostname: "localhost", port: server.port });
  try {
    await startTlsHandshake(t);
    const secure = await t.startTls!({ hostname: "localhost", caCerts: [caPem] });
    try {
      assert.equal(secure.kind, "tls");
      assert.equal(secure.startTls, undefined);
      assert.equal(await roundTrip(secure, "a2 CAPABILITY\r\n"), "a2 CAPABILITY\r\n");
      // The plain transport is finished: it reads end of stream and refuses writes.
      assert.equal(await t.read(new Uint8Array(4)), null);
      await assert.rejects(t.write(encoder.encode("x")), /closed/);
    } finally {
      await secure.close();
    }
  } finally {
    await t.close();
    await server.close();
  }
});

Deno.test("starttls rejects a certificate from an unknown CA", async () => {
  const server = startTlsServer("unknown_server");
  const t = await denoTransports.connect({ hostname: "localhost", port: server.port });
  try {
    await startTlsHandshake(t);
    await assert.rejects(
      t.startTls!({ hostname: "localhost", caCerts: [caPem] }),
      /invalid peer certificate: UnknownIssuer/,
    );
  } finally {
    await t.close();
    await server.close();
  }
});

Deno.test("starttls checks the host name it is given", async () => {
  const server = startTlsServer("server");
  const t = await denoTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await startTlsHandshake(t);
    await assert.rejects(
      t.startTls!({ hostname: "wrong.example", caCerts: [caPem] }),
      /not valid for name/,
    );
  } finally {
    await t.close();
    await server.close();
  }
});

Deno.test("starttls is refused while a read is pending", async () => {
  const server = tcpServer();
  const t = await denoTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const pending = t.read(new Uint8Array(4));
    await assert.rejects(t.startTls!({ hostname: "localhost" }), /read is pending/);
    await t.close();
    assert.equal(await pending, null);
  } finally {
    await t.close();
    await server.close();
  }
});

Deno.test("stream transport runs argv without a shell", async () => {
  const t = await denoTransports.spawn({ command: ["cat"] });
  try {
    assert.equal(t.kind, "stream");
    assert.equal(t.startTls, undefined);
    assert.equal(await roundTrip(t, "a1 NOOP\r\n"), "a1 NOOP\r\n");
  } finally {
    await t.close();
  }
  // An argv element is not shell syntax.
  const echoed = await denoTransports.spawn({ command: ["echo", "$HOME;", "x"] });
  try {
    assert.equal(await readAll(echoed), "$HOME; x\n");
  } finally {
    await echoed.close();
  }
});

Deno.test("stream transport runs a string under sh -c", async () => {
  const t = await denoTransports.spawn({ command: "printf '* PREAUTH %s\\r\\n' ready; exec cat" });
  try {
    assert.equal(decoder.decode(await readBytes(t, 17)), "* PREAUTH ready\r\n");
    assert.equal(await roundTrip(t, "a1 LOGOUT\r\n"), "a1 LOGOUT\r\n");
  } finally {
    await t.close();
  }
});

Deno.test("stream transport hands out a chunk larger than the buffer in parts", async () => {
  const t = await denoTransports.spawn({ command: ["printf", "0123456789"] });
  try {
    const buf = new Uint8Array(3);
    const parts: string[] = [];
    while (true) {
      const n = await t.read(buf);
      if (n === null) break;
      assert.ok(n >= 1 && n <= 3);
      parts.push(decoder.decode(buf.subarray(0, n)));
    }
    assert.equal(parts.join(""), "0123456789");
    assert.ok(parts.length >= 4);
  } finally {
    await t.close();
  }
});

Deno.test("stream transport passes env and cwd", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const t = await denoTransports.spawn({
      command: 'printf "%s|" "$IMAPLIB_TEST_VAR"; pwd',
      env: { IMAPLIB_TEST_VAR: "value with spaces" },
      cwd: dir,
    });
    try {
      assert.equal(await readAll(t), `value with spaces|${await Deno.realPath(dir)}\n`);
    } finally {
      await t.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stream transport drains a chatty stderr to onStderr", async () => {
  let stderrBytes = 0;
  // 4 MiB on stderr is far beyond a pipe's buffer: undrained, the child would block before "done".
  const t = await denoTransports.spawn({
    command: "head -c 4194304 /dev/zero >&2; echo done",
    onStderr: (chunk) => stderrBytes += chunk.length,
  });
  try {
    assert.equal(await readAll(t), "done\n");
  } finally {
    await t.close();
  }
  assert.equal(stderrBytes, 4194304);
});

Deno.test("stream transport drains stderr without onStderr", async () => {
  const t = await denoTransports.spawn({ command: "head -c 4194304 /dev/zero >&2; echo done" });
  try {
    assert.equal(await readAll(t), "done\n");
  } finally {
    await t.close();
  }
});

Deno.test("stream transport close ends a child that exits on stdin EOF quickly", async () => {
  const t = await denoTransports.spawn({ command: ["cat"] });
  const started = performance.now();
  await t.close();
  assert.ok(performance.now() - started < 900, "cat should exit on EOF without a signal");
});

/** True while a process with this pid exists (signal 0 is not available, SIGCONT is harmless). */
function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** Reads one line, byte by byte. */
async function readTransportLine(t: Transport): Promise<string> {
  const byte = new Uint8Array(1);
  let line = "";
  while (!line.endsWith("\n")) {
    if ((await t.read(byte)) === null) break;
    line += String.fromCharCode(byte[0]);
  }
  return line;
}

Deno.test("stream transport close kills a child that ignores EOF and SIGTERM", async () => {
  const t = await denoTransports.spawn({
    command: 'trap "" TERM; echo $$; while :; do sleep 1; done',
  });
  const pid = Number((await readTransportLine(t)).trim());
  assert.ok(Number.isInteger(pid) && pid > 1 && alive(pid));
  const pending = t.read(new Uint8Array(16));
  const started = performance.now();
  await t.close();
  const elapsed = performance.now() - started;
  assert.equal(await pending, null);
  // Stdin EOF, ~1 s; SIGTERM (ignored), ~1 s; then SIGKILL.
  assert.ok(elapsed >= 1800 && elapsed < 3500, `close took ${Math.round(elapsed)} ms`);
  assert.equal(alive(pid), false);
  assert.equal(await t.read(new Uint8Array(16)), null);
  await assert.rejects(t.write(encoder.encode("a1 LOGOUT\r\n")), /closed/);
  await t.close();
});

Deno.test("stream transport close sends SIGTERM to a child that ignores EOF", async () => {
  const t = await denoTransports.spawn({ command: ["sleep", "30"] });
  const started = performance.now();
  await t.close();
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 900 && elapsed < 1800, `close took ${Math.round(elapsed)} ms`);
});

Deno.test("stream transport read returns null when the child exits", async () => {
  const t = await denoTransports.spawn({ command: ["echo", "* BYE"] });
  try {
    assert.equal(await readAll(t), "* BYE\n");
    assert.equal(await t.read(new Uint8Array(4)), null);
  } finally {
    await t.close();
  }
});

Deno.test("stream transport spawn of a missing program rejects", async () => {
  await assert.rejects(
    denoTransports.spawn({ command: ["/nonexistent/imaplib-test-program"] }),
    Deno.errors.NotFound,
  );
  await assert.rejects(denoTransports.spawn({ command: [] }), TypeError);
});
