/**
 * Hostile greetings: truncated, BYE, silent, not IMAP, too long, PREAUTH where TLS is required.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IMAP4 } from "../../lib/imap4.ts";
import { denoTransports } from "../../transports/deno.ts";
import {
  assertDead,
  connect,
  expect,
  failsWith,
  greet,
  hangUp,
  hostile,
  send,
  timed,
  wait,
} from "./_hostile.ts";

Deno.test("greeting truncated, then EOF: abort at once, nothing written", async () => {
  await using srv = hostile([send("* OK half a gree"), hangUp()]);
  await failsWith(connect(srv), IMAP4.abort, 1000, /closed by the server in the middle/);
  assert.equal(srv.text(), "");
});

Deno.test("greeting truncated, then silence: abort after about the timeout", async () => {
  await using srv = hostile([send("* OK half a gree"), wait(10_000)]);
  const out = await timed(connect(srv));
  assert.ok(out.error instanceof IMAP4.abort);
  assert.match((out.error as Error).message, /Timed out waiting for the rest/);
  assert.ok(out.ms >= 250 && out.ms < 1300, `${out.ms} ms`);
  assert.equal(srv.text(), "");
});

Deno.test("BYE greeting: abort with the server's text, nothing written", async () => {
  await using srv = hostile([send("* BYE too many connections\r\n")]);
  await failsWith(connect(srv), IMAP4.abort, 1000, /refused the connection.*too many/);
  assert.equal(srv.text(), "");
});

Deno.test("silent server: the greeting wait ends after about the timeout", async () => {
  await using srv = hostile([wait(10_000)]);
  const out = await timed(connect(srv));
  assert.ok(out.error instanceof IMAP4.abort);
  assert.match((out.error as Error).message, /Timed out waiting for the server/);
  assert.ok(out.ms >= 250 && out.ms < 1300, `${out.ms} ms`);
  assert.equal(srv.text(), "");
});

Deno.test("a greeting that is not IMAP (an HTTP answer): abort, nothing written", async () => {
  await using srv = hostile([send("HTTP/1.1 400 Bad Request\r\n\r\n")]);
  await failsWith(connect(srv), IMAP4.abort, 1000, /Cannot parse greeting/);
  assert.equal(srv.text(), "");
});

Deno.test("a greeting longer than maxLineLength: abort before the line ends", async () => {
  await using srv = hostile([send("* OK " + "x".repeat(50_000), { chunk: 1000 }), wait(10_000)]);
  await failsWith(
    connect(srv, { maxLineLength: 2000 }),
    IMAP4.abort,
    1000,
    /exceeds the limit of 2000 bytes/,
  );
  assert.equal(srv.text(), "");
});

Deno.test("slowloris greeting, one byte every 40 ms: cut off after about the timeout", async () => {
  await using srv = hostile([
    send("* OK " + "z".repeat(200) + "\r\n", { bytewise: true, delay: 40 }),
  ]);
  const out = await timed(connect(srv));
  assert.ok(out.error instanceof IMAP4.abort);
  assert.ok(out.ms >= 250 && out.ms < 1300, `${out.ms} ms`);
});

Deno.test("a greeting trickled within the timeout is accepted", async () => {
  await using srv = hostile([
    send("* OK slow but fine\r\n", { bytewise: true, delay: 5 }),
    expect("A0 CAPABILITY"),
    send("* CAPABILITY IMAP4rev1\r\nA0 OK\r\n"),
  ]);
  const M = await connect(srv);
  assert.equal(M.welcome, "* OK slow but fine");
  await M.shutdown();
  assert.deepEqual(srv.failures, []);
});

Deno.test("PREAUTH without TLS when requireTls is set: abort at the greeting", async () => {
  await using srv = hostile([send("* PREAUTH logged in as you already\r\n")]);
  await failsWith(connect(srv, { requireTls: true }), IMAP4.abort, 1000, /PREAUTH without TLS/);
  assert.equal(srv.text(), "", "nothing, not even CAPABILITY, was sent");
});

Deno.test("PREAUTH without requireTls is accepted (state AUTH)", async () => {
  await using srv = hostile(greet("IMAP4rev1", "* PREAUTH welcome\r\n"));
  const M = await connect(srv);
  assert.equal(M.state, "AUTH");
  await M.shutdown();
});

Deno.test("requireTls: login before STARTTLS throws without sending the password", async () => {
  await using srv = hostile(greet("IMAP4rev1 STARTTLS"));
  const M = await connect(srv, { requireTls: true });
  await failsWith(M.login("user", "pa55word"), IMAP4.error, 200, /requireTls/);
  await failsWith(
    M.authenticate("PLAIN", () => "\0user\0pa55word"),
    IMAP4.error,
    200,
    /requireTls/,
  );
  await M.shutdown();
  assert.deepEqual(srv.lines(), ["A0 CAPABILITY"]);
});

Deno.test("a server without IMAP4rev1: abort after the capability exchange", async () => {
  await using srv = hostile(greet("POP3 SMTP"));
  await failsWith(connect(srv), IMAP4.abort, 1000, /not IMAP4 compliant/);
  assert.deepEqual(srv.lines(), ["A0 CAPABILITY"]);
});

Deno.test("EOF right after the greeting: abort, and the client is dead", async () => {
  await using srv = hostile([
    ...greet(),
    hangUp(),
  ]);
  const M = await connect(srv);
  await failsWith(M.noop(), IMAP4.abort, 1000, /closed by the server/);
  await assertDead(M, srv);
});

Deno.test("timeout: Infinity waits for a slow connect (no timer fires early)", async () => {
  await using srv = hostile([...greet(), expect("A1 NOOP"), send("A1 OK done\r\n")]);
  const slow = {
    ...denoTransports,
    connect: async (o: Parameters<typeof denoTransports.connect>[0]) => {
      await new Promise((r) => setTimeout(r, 30));
      return denoTransports.connect(o);
    },
  };
  const M = await connect(srv, { timeout: Infinity, transports: slow });
  assert.deepEqual(await M.noop(), ["OK", ["done"]]);
  await M.shutdown();
});
