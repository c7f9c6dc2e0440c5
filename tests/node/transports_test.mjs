/**
 * Tests of the Node transports (transports/node.ts) under `node --test` on Node 20.
 *
 * Run from anywhere (needs `deno` on PATH):
 *
 *   node --test tests/node/transports_test.mjs
 *
 * Node cannot import TypeScript, so the setup first builds the modules under test into a
 * temporary directory with
 *
 *   deno bundle --platform=deno transports/node.ts -o <tmp>/node.mjs
 *   deno bundle --platform=deno transports/mod.ts -o <tmp>/mod.mjs
 *
 * (`--platform=deno` keeps the `node:` imports as they are). `deno test` covers this file through
 * tests/node_transports_test.ts, which runs it under Node; when `deno test` picks this file up
 * itself (its name matches Deno's test pattern), every test is skipped, since on Deno
 * `transports/mod.ts` uses the Deno transports and never loads `transports/node.ts`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, test as nodeTest } from "node:test";
import { createSecureContext, createServer as createTlsServer, TLSSocket } from "node:tls";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const pem = (name) => readFileSync(join(root, "fixtures", "certs", name), "utf8");
const caPem = pem("ca.pem");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const onDeno = "Deno" in globalThis;
const test = onDeno
  ? (name, fn) => nodeTest(name, { skip: "runs under Node (tests/node_transports_test.ts)" }, fn)
  : nodeTest;

/** @type {import("../../transports/transport.ts").TransportFactory} */
let nodeTransports;
/** @type {() => Promise<import("../../transports/transport.ts").TransportFactory>} */
let getTransports;
let buildDir;

before(async () => {
  if (onDeno) return;
  buildDir = mkdtempSync(join(tmpdir(), "imaplib-node-transports-"));
  for (const name of ["node", "mod"]) {
    execFileSync("deno", [
      "bundle",
      "--quiet",
      "--platform=deno",
      join(root, "transports", `${name}.ts`),
      "-o",
      join(buildDir, `${name}.mjs`),
    ], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  }
  ({ nodeTransports } = await import(pathToFileURL(join(buildDir, "node.mjs")).href));
  ({ getTransports } = await import(pathToFileURL(join(buildDir, "mod.mjs")).href));
});

after(() => {
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
});

/** Starts a loopback server; close() destroys its connections and waits for it. */
async function listen(server) {
  const sockets = new Set();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function echo(socket) {
  socket.on("error", () => {});
  socket.pipe(socket);
}

const tcpServer = (handler = echo) => listen(createServer(handler));

function tlsServer(certName, handler = echo) {
  const server = createTlsServer({ cert: pem(`${certName}.pem`), key: pem(`${certName}.key`) });
  server.on("secureConnection", handler);
  server.on("tlsClientError", () => {});
  return listen(server);
}

/** A STARTTLS server: answers one clear-text line, then upgrades the socket and echoes. */
function startTlsServer(certName) {
  const secureContext = createSecureContext({
    cert: pem(`${certName}.pem`),
    key: pem(`${certName}.key`),
  });
  return tcpServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", (line) => {
      if (decoder.decode(line) !== "a1 STARTTLS\r\n") return socket.destroy();
      socket.pause();
      socket.write("a1 OK Begin TLS negotiation now\r\n", () => {
        const secure = new TLSSocket(socket, { isServer: true, secureContext });
        secure.on("error", () => socket.destroy());
        secure.pipe(secure);
      });
    });
  });
}

async function readBytes(t, count) {
  const out = new Uint8Array(count);
  let got = 0;
  while (got < count) {
    const n = await t.read(out.subarray(got));
    if (n === null) break;
    got += n;
  }
  return out.subarray(0, got);
}

async function readAll(t) {
  const chunks = [];
  const buf = new Uint8Array(4096);
  while (true) {
    const n = await t.read(buf);
    if (n === null) return chunks.join("");
    chunks.push(decoder.decode(buf.subarray(0, n)));
  }
}

async function readLine(t) {
  const byte = new Uint8Array(1);
  let line = "";
  while (!line.endsWith("\n")) {
    if ((await t.read(byte)) === null) break;
    line += String.fromCharCode(byte[0]);
  }
  return line;
}

async function roundTrip(t, text) {
  await t.write(encoder.encode(text));
  return decoder.decode(await readBytes(t, encoder.encode(text).length));
}

/** Deterministic pseudo-random bytes (xorshift32), so the content check is not trivial. */
function fillBlock(block, seed) {
  let x = seed | 1;
  const words = new Uint32Array(block.buffer, block.byteOffset, block.length >>> 2);
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
}

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes `total` bytes in 1 MiB blocks, hashing them and counting what the kernel took. */
function blockSender(total) {
  const state = { hash: createHash("sha256"), flushed: 0, done: null };
  state.handler = (socket) => {
    socket.on("error", () => {});
    state.done = (async () => {
      const block = new Uint8Array(1024 * 1024);
      for (let i = 0; i < total / block.length; i++) {
        fillBlock(block, i + 1);
        state.hash.update(block);
        await new Promise((resolve, reject) =>
          socket.write(Buffer.from(block), (error) => error ? reject(error) : resolve())
        );
        state.flushed += block.length;
      }
      socket.end();
    })().catch(() => {});
  };
  return state;
}

async function readAndHash(t, first = new Uint8Array(0)) {
  const hash = createHash("sha256").update(first);
  const buf = new Uint8Array(64 * 1024);
  let count = first.length;
  while (true) {
    const n = await t.read(buf);
    if (n === null) break;
    hash.update(buf.subarray(0, n));
    count += n;
  }
  return { count, digest: hash.digest("hex") };
}

test("mod.ts picks the node transports on Node", async () => {
  const transports = await getTransports();
  assert.equal(transports.runtime, "node");
  assert.equal(await getTransports(), transports);
});

test("tcp transport echoes bytes and reports kind", async () => {
  const server = await tcpServer();
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    assert.equal(t.kind, "tcp");
    assert.equal(typeof t.startTls, "function");
    assert.equal(await roundTrip(t, "a001 NOOP\r\n"), "a001 NOOP\r\n");
    await t.write(encoder.encode("0123456789"));
    const small = new Uint8Array(4);
    const first = await t.read(small);
    assert.ok(first >= 1 && first <= 4);
    const rest = await readBytes(t, 10 - first);
    assert.equal(decoder.decode(small.subarray(0, first)) + decoder.decode(rest), "0123456789");
  } finally {
    await t.close();
    await server.close();
  }
});

test("tcp transport read returns null when the server closes", async () => {
  const server = await tcpServer((socket) => socket.end("* BYE\r\n"));
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    assert.equal(await readAll(t), "* BYE\r\n");
    assert.equal(await t.read(new Uint8Array(8)), null);
  } finally {
    await t.close();
    await server.close();
  }
});

test("tcp transport after close: read is null, write throws, close is idempotent", async () => {
  const server = await tcpServer();
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  const pending = t.read(new Uint8Array(16));
  await t.close();
  assert.equal(await pending, null);
  assert.equal(await t.read(new Uint8Array(16)), null);
  await assert.rejects(t.write(encoder.encode("x")), /closed/);
  await t.close();
  await server.close();
});

test("tcp transport read rejects when the connection is reset", async () => {
  const server = await tcpServer((socket) => socket.once("data", () => socket.resetAndDestroy()));
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await t.write(encoder.encode("a1 NOOP\r\n"));
    await assert.rejects(t.read(new Uint8Array(8)), /ECONNRESET/);
  } finally {
    await t.close();
    await server.close();
  }
});

test("tcp connect to a closed port rejects", async () => {
  const server = await tcpServer();
  const port = server.port;
  await server.close();
  await assert.rejects(nodeTransports.connect({ hostname: "127.0.0.1", port }), /ECONNREFUSED/);
});

test("tcp transport carries 50 MB intact", async () => {
  const total = 50 * 1024 * 1024;
  const sender = blockSender(total);
  const server = await tcpServer(sender.handler);
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const { count, digest } = await readAndHash(t);
    assert.equal(count, total);
    assert.equal(digest, sender.hash.digest("hex"));
  } finally {
    await t.close();
    await server.close();
  }
});

test("tcp transport stops taking data while nobody reads", async () => {
  const total = 64 * 1024 * 1024;
  const sender = blockSender(total);
  const server = await tcpServer(sender.handler);
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const first = new Uint8Array(1);
    assert.equal(await t.read(first), 1);
    // Wait until the sender is stuck: unpaused, the client would swallow all 64 MiB; paused,
    // only its queue (~256 KiB) and the kernel's socket buffers fill.
    let last = -1;
    for (let stable = 0, polls = 0; stable < 4 && polls < 100; polls++) {
      await delay(50);
      stable = sender.flushed === last ? stable + 1 : 0;
      last = sender.flushed;
    }
    assert.ok(sender.flushed < 16 * 1024 * 1024, `server flushed ${sender.flushed} bytes`);
    const { count, digest } = await readAndHash(t, first);
    await sender.done;
    assert.equal(sender.flushed, total);
    assert.equal(count, total);
    assert.equal(digest, sender.hash.digest("hex"));
  } finally {
    await t.close();
    await server.close();
  }
});

test("tcp transport writes 8 MB in one call", async () => {
  const data = new Uint8Array(8 * 1024 * 1024);
  fillBlock(data, 7);
  const server = await tcpServer();
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const [, back] = await Promise.all([t.write(data), readBytes(t, data.length)]);
    assert.equal(back.length, data.length);
    assert.deepEqual(back, data);
  } finally {
    await t.close();
    await server.close();
  }
});

test("tls transport verifies a certificate from caCerts", async () => {
  const server = await tlsServer("server");
  try {
    for (const hostname of ["localhost", "127.0.0.1"]) {
      const t = await nodeTransports.connectTls({ hostname, port: server.port, caCerts: [caPem] });
      try {
        assert.equal(t.kind, "tls");
        assert.equal(t.startTls, undefined);
        assert.equal(await roundTrip(t, `hello ${hostname}\r\n`), `hello ${hostname}\r\n`);
      } finally {
        await t.close();
      }
    }
  } finally {
    await server.close();
  }
});

test("tls transport rejects a certificate from an unknown CA", async () => {
  const server = await tlsServer("unknown_server");
  const other = await tlsServer("server");
  try {
    await assert.rejects(
      nodeTransports.connectTls({ hostname: "localhost", port: server.port, caCerts: [caPem] }),
      /unable to (get local issuer|verify the first) certificate/,
    );
    // Without caCerts the test CA is unknown too: the system roots are the default.
    await assert.rejects(
      nodeTransports.connectTls({ hostname: "localhost", port: other.port }),
      /unable to (get local issuer|verify the first) certificate/,
    );
  } finally {
    await server.close();
    await other.close();
  }
});

test("tls transport rejects a certificate for another host name", async () => {
  const server = await tlsServer("wrong_host");
  try {
    await assert.rejects(
      nodeTransports.connectTls({ hostname: "localhost", port: server.port, caCerts: [caPem] }),
      /Host: localhost\. is not in the cert's altnames/,
    );
  } finally {
    await server.close();
  }
});

test("tls verify false skips certificate checks on Node", async () => {
  const server = await tlsServer("unknown_server");
  try {
    const t = await nodeTransports.connectTls({
      hostname: "localhost",
      port: server.port,
      verify: false,
    });
    try {
      assert.equal(await roundTrip(t, "a1 NOOP\r\n"), "a1 NOOP\r\n");
    } finally {
      await t.close();
    }
  } finally {
    await server.close();
  }
});

async function startTlsHandshake(t) {
  const answer = "a1 OK Begin TLS negotiation now\r\n";
  await t.write(encoder.encode("a1 STARTTLS\r\n"));
  assert.equal(decoder.decode(await readBytes(t, answer.length)), answer);
}

test("starttls upgrades a tcp transport in place", async () => {
  const server = await startTlsServer("server");
  const t = await nodeTransports.connect({ hostname: "localhost", port: server.port });
  try {
    await startTlsHandshake(t);
    const secure = await t.startTls({ hostname: "localhost", caCerts: [caPem] });
    try {
      assert.equal(secure.kind, "tls");
      assert.equal(secure.startTls, undefined);
      assert.equal(await roundTrip(secure, "a2 CAPABILITY\r\n"), "a2 CAPABILITY\r\n");
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

test("starttls rejects a certificate from an unknown CA", async () => {
  const server = await startTlsServer("unknown_server");
  const t = await nodeTransports.connect({ hostname: "localhost", port: server.port });
  try {
    await startTlsHandshake(t);
    await assert.rejects(
      t.startTls({ hostname: "localhost", caCerts: [caPem] }),
      /unable to (get local issuer|verify the first) certificate/,
    );
  } finally {
    await t.close();
    await server.close();
  }
});

test("starttls checks the host name it is given", async () => {
  const server = await startTlsServer("server");
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await startTlsHandshake(t);
    await assert.rejects(
      t.startTls({ hostname: "wrong.example", caCerts: [caPem] }),
      /Host: wrong\.example\. is not in the cert's altnames/,
    );
  } finally {
    await t.close();
    await server.close();
  }
});

test("starttls checks an IP address against the certificate's IP names", async () => {
  const server = await startTlsServer("server");
  const wrong = await startTlsServer("wrong_host");
  try {
    const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      await startTlsHandshake(t);
      const secure = await t.startTls({ hostname: "127.0.0.1", caCerts: [caPem] });
      assert.equal(await roundTrip(secure, "a2 NOOP\r\n"), "a2 NOOP\r\n");
      await secure.close();
    } finally {
      await t.close();
    }
    const w = await nodeTransports.connect({ hostname: "127.0.0.1", port: wrong.port });
    try {
      await startTlsHandshake(w);
      await assert.rejects(
        w.startTls({ hostname: "127.0.0.1", caCerts: [caPem] }),
        /IP: 127\.0\.0\.1 is not in the cert's list/,
      );
    } finally {
      await w.close();
    }
  } finally {
    await server.close();
    await wrong.close();
  }
});

test("starttls is refused while a read is pending", async () => {
  const server = await tcpServer();
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const pending = t.read(new Uint8Array(4));
    await assert.rejects(t.startTls({ hostname: "localhost" }), /read is pending/);
    await t.close();
    assert.equal(await pending, null);
  } finally {
    await t.close();
    await server.close();
  }
});

test("starttls is refused when clear-text data arrived ahead of the handshake", async () => {
  const server = await tcpServer((socket) => {
    socket.on("error", () => {});
    socket.once("data", () => socket.write("a1 OK Begin TLS\r\n* injected\r\n"));
  });
  const t = await nodeTransports.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await t.write(encoder.encode("a1 STARTTLS\r\n"));
    assert.equal(await readLine(t), "a1 OK Begin TLS\r\n");
    await assert.rejects(t.startTls({ hostname: "localhost" }), /sent data before the TLS/);
  } finally {
    await t.close();
    await server.close();
  }
});

test("stream transport runs argv without a shell", async () => {
  const t = await nodeTransports.spawn({ command: ["cat"] });
  try {
    assert.equal(t.kind, "stream");
    assert.equal(t.startTls, undefined);
    assert.equal(await roundTrip(t, "a1 NOOP\r\n"), "a1 NOOP\r\n");
  } finally {
    await t.close();
  }
  const echoed = await nodeTransports.spawn({ command: ["echo", "$HOME;", "x"] });
  try {
    assert.equal(await readAll(echoed), "$HOME; x\n");
  } finally {
    await echoed.close();
  }
});

test("stream transport runs a string under sh -c", async () => {
  const t = await nodeTransports.spawn({ command: "printf '* PREAUTH %s\\r\\n' ready; exec cat" });
  try {
    assert.equal(decoder.decode(await readBytes(t, 17)), "* PREAUTH ready\r\n");
    assert.equal(await roundTrip(t, "a1 LOGOUT\r\n"), "a1 LOGOUT\r\n");
  } finally {
    await t.close();
  }
});

test("stream transport hands out a chunk larger than the buffer in parts", async () => {
  const t = await nodeTransports.spawn({ command: ["printf", "0123456789"] });
  try {
    const buf = new Uint8Array(3);
    const parts = [];
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

test("stream transport passes env and cwd", async () => {
  const dir = mkdtempSync(join(tmpdir(), "imaplib-cwd-"));
  try {
    const t = await nodeTransports.spawn({
      command: 'printf "%s|" "$IMAPLIB_TEST_VAR"; pwd',
      env: { IMAPLIB_TEST_VAR: "value with spaces" },
      cwd: dir,
    });
    try {
      assert.equal(await readAll(t), `value with spaces|${realpathSync(dir)}\n`);
    } finally {
      await t.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("stream transport drains a chatty stderr to onStderr", async () => {
  let stderrBytes = 0;
  const t = await nodeTransports.spawn({
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

test("stream transport drains stderr without onStderr", async () => {
  const t = await nodeTransports.spawn({ command: "head -c 4194304 /dev/zero >&2; echo done" });
  try {
    assert.equal(await readAll(t), "done\n");
  } finally {
    await t.close();
  }
});

test("stream transport close ends a child that exits on stdin EOF quickly", async () => {
  const t = await nodeTransports.spawn({ command: ["cat"] });
  const started = performance.now();
  await t.close();
  assert.ok(performance.now() - started < 900, "cat should exit on EOF without a signal");
});

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("stream transport close kills a child that ignores EOF and SIGTERM", async () => {
  const t = await nodeTransports.spawn({
    command: 'trap "" TERM; echo $$; while :; do sleep 1; done',
  });
  const pid = Number((await readLine(t)).trim());
  assert.ok(Number.isInteger(pid) && pid > 1 && alive(pid));
  const pending = t.read(new Uint8Array(16));
  const started = performance.now();
  await t.close();
  const elapsed = performance.now() - started;
  assert.equal(await pending, null);
  assert.ok(elapsed >= 1800 && elapsed < 3500, `close took ${Math.round(elapsed)} ms`);
  assert.equal(alive(pid), false);
  assert.equal(await t.read(new Uint8Array(16)), null);
  await assert.rejects(t.write(encoder.encode("a1 LOGOUT\r\n")), /closed/);
  await t.close();
});

test("stream transport close sends SIGTERM to a child that ignores EOF", async () => {
  const t = await nodeTransports.spawn({ command: ["sleep", "30"] });
  const started = performance.now();
  await t.close();
  const elapsed = performance.now() - started;
  assert.ok(elapsed >= 900 && elapsed < 1800, `close took ${Math.round(elapsed)} ms`);
});

test("stream transport read returns null when the child exits", async () => {
  const t = await nodeTransports.spawn({ command: ["echo", "* BYE"] });
  try {
    assert.equal(await readAll(t), "* BYE\n");
    assert.equal(await t.read(new Uint8Array(4)), null);
  } finally {
    await t.close();
  }
});

test("stream transport spawn of a missing program rejects", async () => {
  await assert.rejects(
    nodeTransports.spawn({ command: ["/nonexistent/imaplib-test-program"] }),
    /ENOENT/,
  );
  await assert.rejects(nodeTransports.spawn({ command: [] }), TypeError);
});
