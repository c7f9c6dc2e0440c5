/**
 * Secrets never leave: LOGIN passwords (quoted or literal) and AUTHENTICATE answers are masked at
 * every debug level, in the logger, in the ring buffer of recent lines and in error messages,
 * even when a hostile server echoes them back.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IMAP4 } from "../../lib/imap4.ts";
import { connect, expect, greet, hostile, send, type Step } from "./_hostile.ts";

const QUOTED = "Tr0ub4dor&3-quoted";
const LITERAL = "p\u00e4ssw\u00f6rd-literal-\u65e5";
const PLAIN_B64 = btoa("\0user\0sasl-secret-42");

/** Runs `fn` with console.error and console.log captured. */
async function captureConsole(fn: () => Promise<void>): Promise<string> {
  const out: string[] = [];
  const { error, log, warn } = console;
  console.error = (...a: unknown[]) => void out.push(a.map(String).join(" "));
  console.log = console.error;
  console.warn = console.error;
  try {
    await fn();
  } finally {
    Object.assign(console, { error, log, warn });
  }
  return out.join("\n");
}

/** A session where the server echoes each secret back, in a NO, a BAD and an abort. */
function echoingSession(): Step[] {
  return [
    ...greet("IMAP4rev1 AUTH=PLAIN"),
    expect(`A1 LOGIN user "${QUOTED}"`),
    send(`A1 NO [AUTHENTICATIONFAILED] bad password "${QUOTED}" for user\r\n`),
    expect(/^A2 LOGIN user \{\d+\}$/),
    send("+ go\r\n"),
    expect(LITERAL),
    send(`A2 BAD Invalid password ${LITERAL}\r\n`),
    expect("A3 AUTHENTICATE PLAIN"),
    send("+ \r\n"),
    expect(PLAIN_B64),
    send(`A3 NO answer ${PLAIN_B64} rejected\r\n`),
    expect(`A4 LOGIN user "${QUOTED}"`),
    send(`A4 WHAT ${QUOTED}\r\n`),
  ];
}

for (const debug of [0, 1, 2, 3, 4, 5]) {
  Deno.test(`debug level ${debug}: no secret in stderr, logs, errors or the ring buffer`, async () => {
    const seen: string[] = [];
    const printed = await captureConsole(async () => {
      await using srv = hostile(echoingSession());
      const M = await connect(srv, {
        debug,
        ...(debug === 5 ? { logger: (l: string) => void seen.push(l) } : {}),
      });
      const errors: unknown[] = [];
      for (
        const call of [
          () => M.login("user", QUOTED),
          () => M.login("user", LITERAL),
          () => M.authenticate("PLAIN", () => "\0user\0sasl-secret-42"),
          () => M.login("user", QUOTED),
        ]
      ) {
        try {
          await call();
          assert.fail("expected an error");
        } catch (e) {
          errors.push(e);
        }
      }
      assert.ok(errors[0] instanceof IMAP4.error && !(errors[0] instanceof IMAP4.abort));
      assert.ok(errors[1] instanceof IMAP4.error && !(errors[1] instanceof IMAP4.abort));
      assert.ok(errors[2] instanceof IMAP4.error && !(errors[2] instanceof IMAP4.abort));
      assert.ok(errors[3] instanceof IMAP4.abort);
      M.print_log();
      // The secrets did reach the server (the echo proves they were sent, where they belong).
      assert.ok(srv.text().includes(QUOTED) && srv.text().includes(PLAIN_B64));
      assert.deepEqual(srv.failures, []);
      // The client as printed or serialised: the server's echoes are in its buffers.
      const shown = Deno.inspect(M, { depth: Infinity, showHidden: true, iterableLimit: Infinity });
      assert.match(shown, /^IMAP4 \{/);
      assert.match(shown, /state: "LOGOUT"/);
      const texts = [
        ...errors.map((e) => `${(e as Error).message} ${String(e)} ${(e as Error).stack}`),
        ...seen,
        shown,
        JSON.stringify(M),
      ].join("\n");
      for (const secret of [QUOTED, LITERAL, PLAIN_B64, "sasl-secret-42"]) {
        assert.ok(!texts.includes(secret), `secret in errors, logger or inspection: ${secret}`);
      }
      assert.ok(texts.includes("***"), "the echoes were masked, not dropped");
      await M.shutdown();
    });
    for (const secret of [QUOTED, LITERAL, PLAIN_B64, "sasl-secret-42"]) {
      assert.ok(!printed.includes(secret), `secret printed at debug ${debug}: ${secret}`);
    }
    if (debug === 4) assert.match(printed, /C: A1 LOGIN user "\*\*\*"/);
    if (debug === 5) assert.ok(seen.includes('C: A1 LOGIN user "***"'), "the logger got lines");
    else assert.match(printed, /LOGIN user/, "print_log shows the masked lines");
  });
}

Deno.test("the logger sees every wire line, secrets masked, the rest intact", async () => {
  const seen: string[] = [];
  await using srv = hostile([
    ...greet(),
    expect(`A1 LOGIN user "${QUOTED}"`),
    send("A1 OK [CAPABILITY IMAP4rev1] welcome\r\n"),
  ]);
  const M = await connect(srv, { logger: (l) => void seen.push(l) });
  await M.login("user", QUOTED);
  assert.deepEqual(seen.slice(-2), [
    'C: A1 LOGIN user "***"',
    "S: A1 OK [CAPABILITY IMAP4rev1] welcome",
  ]);
  await M.shutdown();
});

Deno.test("login_cram_md5 answers the RFC 2195 challenge and masks the answer", async () => {
  // RFC 2195 §2's example: user "tim", password "tanstaaftanstaaf".
  const challenge = btoa("<1896.697170952@postoffice.reston.mci.net>");
  const answer = btoa("tim b913a602c7eda7a495b4e6e7334d3890");
  await using srv = hostile([
    ...greet("IMAP4rev1 AUTH=CRAM-MD5"),
    expect("A1 AUTHENTICATE CRAM-MD5"),
    send(`+ ${challenge}\r\n`),
    expect(answer),
    send("A1 OK [CAPABILITY IMAP4rev1] CRAM-MD5 authentication successful\r\n"),
  ]);
  const lines: string[] = [];
  const M = await connect(srv, { logger: (line) => lines.push(line) });
  assert.deepEqual(await M.login_cram_md5("tim", "tanstaaftanstaaf"), [
    "OK",
    ["[CAPABILITY IMAP4rev1] CRAM-MD5 authentication successful"],
  ]);
  assert.equal(M.state, "AUTH");
  await M.shutdown();
  // The server's script ran to its end: it saw exactly the expected answer.
  await srv.done;
  const log = lines.join("\n");
  assert.ok(!log.includes(answer) && !log.includes("tanstaaftanstaaf"), log);
});

Deno.test("print_log prints the last ten lines in order, each with its side", async () => {
  await using srv = hostile([
    ...greet(),
    expect(`A1 LOGIN user "${QUOTED}"`),
    send("A1 OK [CAPABILITY IMAP4rev1] welcome\r\n"),
    ...Array.from({ length: 6 }, (_, i) => [
      expect(`A${i + 2} NOOP`),
      send(`* ${i} EXISTS\r\nA${i + 2} OK NOOP done\r\n`),
    ]).flat(),
  ]);
  const M = await connect(srv);
  await M.login("user", QUOTED);
  for (let i = 0; i < 6; i++) await M.noop();
  const printed = await captureConsole(() => Promise.resolve(M.print_log()));
  // 1 greeting + 2 for LOGIN + 3 per NOOP: the ring holds the last ten, oldest first.
  const lines = [
    "C: A1 LOGIN user ***",
    "S: A1 OK [CAPABILITY IMAP4rev1] welcome",
    ...Array.from({ length: 6 }, (_, i) => [
      `C: A${i + 2} NOOP`,
      `S: * ${i} EXISTS`,
      `S: A${i + 2} OK NOOP done`,
    ]).flat(),
  ].slice(-10);
  assert.deepEqual(printed.split("\n"), lines);
  await M.shutdown();
});
