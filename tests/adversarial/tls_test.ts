/**
 * STARTTLS all or nothing, and certificates verified by default, with real TLS handshakes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IMAP4, IMAP4_SSL } from "../../lib/imap4.ts";
import {
  assertDead,
  CA,
  connect,
  expect,
  failsWith,
  greet,
  hostile,
  OPTS,
  send,
  starttls,
  wait,
} from "./_hostile.ts";

const TLS = { caCerts: [CA], hostname: "localhost" };

Deno.test("STARTTLS not advertised: IMAP4.error, nothing sent", async () => {
  await using srv = hostile(greet("IMAP4rev1"));
  const M = await connect(srv);
  await failsWith(M.starttls(TLS), IMAP4.error, 200, /TLS not supported/);
  await M.shutdown();
  assert.deepEqual(srv.lines(), ["A0 CAPABILITY"]);
});

for (const answer of ["NO not now", "BAD what"]) {
  Deno.test(`STARTTLS answered ${answer.split(" ")[0]}: IMAP4.error, nothing else sent`, async () => {
    await using srv = hostile([
      ...greet("IMAP4rev1 STARTTLS"),
      expect("A1 STARTTLS"),
      send(`A1 ${answer}\r\n`),
    ]);
    const M = await connect(srv);
    const e = await failsWith(M.starttls(TLS), IMAP4.error, 500);
    assert.ok(!(e instanceof IMAP4.abort));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(srv.lines(), ["A0 CAPABILITY", "A1 STARTTLS"]);
    await M.shutdown();
  });
}

Deno.test("STARTTLS answered '+': abort, nothing else sent", async () => {
  await using srv = hostile([
    ...greet("IMAP4rev1 STARTTLS"),
    expect("A1 STARTTLS"),
    send("+ go on\r\n"),
  ]);
  const M = await connect(srv);
  await failsWith(M.starttls(TLS), IMAP4.abort, 500, /Unexpected continuation/);
  await assertDead(M, srv);
  assert.deepEqual(srv.lines(), ["A0 CAPABILITY", "A1 STARTTLS"]);
});

Deno.test("bytes after the STARTTLS OK, in the same segment: abort, no handshake started", async () => {
  await using srv = hostile([
    ...greet("IMAP4rev1 STARTTLS"),
    expect("A1 STARTTLS"),
    send("A1 OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"),
  ]);
  const M = await connect(srv);
  await failsWith(M.starttls(TLS), IMAP4.abort, 500, /data after its STARTTLS OK/);
  await assertDead(M, srv);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(srv.text(), "A0 CAPABILITY\r\nA1 STARTTLS\r\n", "not even a ClientHello");
});

Deno.test("bytes after the STARTTLS OK, in a later segment: the handshake fails, abort", async () => {
  await using srv = hostile([
    ...greet("IMAP4rev1 STARTTLS"),
    expect("A1 STARTTLS"),
    send("A1 OK begin TLS\r\n"),
    wait(30),
    send("* CAPABILITY IMAP4rev1 AUTH=PLAIN planted\r\n"),
  ]);
  const M = await connect(srv);
  await failsWith(M.starttls(TLS), IMAP4.abort, 1000, /TLS handshake failed|data after/);
  await assertDead(M, srv);
});

Deno.test("STARTTLS OK, then no handshake at all: abort after about the timeout", async () => {
  await using srv = hostile([
    ...greet("IMAP4rev1 STARTTLS"),
    expect("A1 STARTTLS"),
    send("A1 OK begin TLS\r\n"),
    wait(10_000),
  ]);
  const M = await connect(srv);
  const e = await failsWith(M.starttls(TLS), IMAP4.abort, 1300, /TLS/);
  assert.ok(e);
  await assertDead(M, srv);
});

Deno.test("STARTTLS: everything learnt in plaintext is discarded, CAPABILITY asked again", async () => {
  await using srv = hostile([
    send("* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] plain\r\n"),
    expect("A0 CAPABILITY"),
    send(
      "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED X-PLANTED\r\n" +
        "* 5 EXISTS\r\n* OK [ALERT] planted alert\r\n* OK [READ-ONLY] planted\r\nA0 OK\r\n",
    ),
    expect("A1 STARTTLS"),
    send("A1 OK begin TLS\r\n"),
    starttls("server"),
    expect("A2 CAPABILITY"),
    send("* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nA2 OK\r\n"),
    expect('A3 LOGIN user "s3cret-over-tls"'),
    send("A3 OK [CAPABILITY IMAP4rev1] in\r\n"),
    expect(/^A4 SELECT/),
    send("* 2 EXISTS\r\nA4 OK [READ-WRITE] sel\r\n"),
    expect("A5 NOOP"),
    send("A5 OK\r\n"),
  ]);
  const M = await connect(srv);
  assert.ok(M.capabilities.includes("LOGINDISABLED"));
  assert.deepEqual(await M.starttls(TLS), ["OK", [null]]);
  assert.deepEqual(M.capabilities, ["IMAP4REV1", "AUTH=PLAIN"]);
  for (const planted of ["EXISTS", "ALERT", "READ-ONLY", "OK"]) {
    assert.ok(!(planted in M.untagged_responses), `${planted} survived STARTTLS`);
  }
  assert.equal((await M.login("user", "s3cret-over-tls"))[0], "OK");
  assert.deepEqual(await M.select(), ["OK", ["2"]]);
  assert.equal((await M.noop())[0], "OK", "no planted READ-ONLY");
  await failsWith(M.starttls(TLS), IMAP4.error, 100, /already/);
  assert.deepEqual(srv.failures, []);
  await M.shutdown();
});

for (
  const [label, cert, hostname, message] of [
    [
      "a certificate from an unknown CA",
      "unknown_server",
      "localhost",
      /certificate|UnknownIssuer/i,
    ],
    [
      "a certificate for the wrong host",
      "wrong_host",
      "localhost",
      /certificate|name|NotValidForName/i,
    ],
  ] as const
) {
  Deno.test(`STARTTLS with ${label}: abort, the password is never sent`, async () => {
    await using srv = hostile([
      ...greet("IMAP4rev1 STARTTLS"),
      expect("A1 STARTTLS"),
      send("A1 OK begin TLS\r\n"),
      starttls(cert),
    ]);
    const M = await connect(srv);
    await failsWith(M.starttls({ caCerts: [CA], hostname }), IMAP4.abort, 1500, message);
    await assertDead(M, srv);
    await failsWith(M.login("user", "never-sent"), IMAP4.abort, 100);
    assert.ok(!srv.text().includes("never-sent"));
  });

  Deno.test(`IMAP4_SSL with ${label}: abort at connect`, async () => {
    await using srv = hostile(greet(), cert);
    await failsWith(
      IMAP4_SSL.connect("127.0.0.1", srv.port, { ...OPTS, caCerts: [CA], hostname }),
      IMAP4.abort,
      1500,
      message,
    );
  });
}

Deno.test("IMAP4_SSL verifies by default: a private CA not given is refused", async () => {
  await using srv = hostile(greet(), "server");
  await failsWith(
    IMAP4_SSL.connect("127.0.0.1", srv.port, { ...OPTS, hostname: "localhost" }),
    IMAP4.abort,
    1500,
    /certificate|UnknownIssuer/i,
  );
});

Deno.test("IMAP4_SSL checks the host name connected to when none is given", async () => {
  await using srv = hostile(greet(), "wrong_host");
  await failsWith(
    IMAP4_SSL.connect("localhost", srv.port, { ...OPTS, caCerts: [CA] }),
    IMAP4.abort,
    1500,
  );
});

Deno.test("IMAP4_SSL with the right CA and name works (control)", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), send("A1 OK over tls\r\n")], "server");
  const S = await IMAP4_SSL.connect("127.0.0.1", srv.port, { ...OPTS, ...TLS });
  assert.deepEqual(await S.noop(), ["OK", ["over tls"]]);
  await S.shutdown();
});

Deno.test("turning verification off is explicit, and refused on Deno", async () => {
  await using srv = hostile(greet(), "unknown_server");
  const e = await failsWith(
    IMAP4_SSL.connect("127.0.0.1", srv.port, { ...OPTS, verify: false }),
    IMAP4.abort,
    1000,
    /unsafely-ignore-certificate-errors/,
  );
  assert.ok(e.cause instanceof TypeError);
});

Deno.test("LOGINDISABLED: login() raises and the password never leaves", async () => {
  await using srv = hostile(greet("IMAP4rev1 STARTTLS LOGINDISABLED"));
  const M = await connect(srv);
  await failsWith(M.login("user", "hunter2"), IMAP4.error, 100, /LOGINDISABLED/);
  await M.shutdown();
  assert.deepEqual(srv.lines(), ["A0 CAPABILITY"]);
});
