/**
 * Run by retention_test.ts as its own process, with `--expose-gc`: APPENDs a 32 MiB message over
 * a transport that drops what it is sent, then prints the bytes of ArrayBuffers still alive after
 * a full collection, as JSON. Whatever the client keeps after the command (a log, a backlog)
 * shows up there.
 *
 * @module
 */

import { IMAP4 } from "../../lib/imap4.ts";
import type { Transport } from "../../transports/transport.ts";

const enc = new TextEncoder();
let answers: Uint8Array[] = [enc.encode("* OK [CAPABILITY IMAP4rev1 LITERAL+] ready\r\n")];
let wake: (() => void) | null = null;
let pending = "";
const transport: Transport = {
  kind: "tcp",
  async read(buf: Uint8Array): Promise<number | null> {
    while (answers.length === 0) await new Promise<void>((r) => (wake = r));
    const head = answers[0];
    const n = Math.min(head.length, buf.length);
    buf.set(head.subarray(0, n));
    answers = n === head.length ? answers.slice(1) : [head.subarray(n), ...answers.slice(1)];
    return n;
  },
  write(data: Uint8Array): Promise<void> {
    // Only command lines are kept (up to their CRLF): the literal's bytes are dropped.
    if (data.length < 4096) pending += new TextDecoder().decode(data);
    else pending += new TextDecoder().decode(data.subarray(0, data.indexOf(0x0a) + 1));
    let lf;
    while ((lf = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, lf);
      pending = pending.slice(lf + 1);
      const tag = line.split(" ")[0];
      if (/^[A-Z]+\d+$/.test(tag)) {
        const caps = line.includes(" CAPABILITY") ? "* CAPABILITY IMAP4rev1 LITERAL+\r\n" : "";
        answers.push(enc.encode(`${caps}${tag} OK done\r\n`));
      }
    }
    const w = wake;
    wake = null;
    w?.();
    return Promise.resolve();
  },
  close: () => Promise.resolve(),
};

const M = await IMAP4.connect("memory", 143, {
  tagPrefix: "A",
  transports: {
    runtime: "deno",
    connect: () => Promise.resolve(transport),
    connectTls: () => Promise.reject(new Error("no TLS")),
    spawn: () => Promise.reject(new Error("no children")),
  },
});
await M.login("user", "pw");
// In a function of its own: a suspended frame would keep its own reference to the message.
async function appendBig(): Promise<void> {
  const body = new Uint8Array(32 * 1024 * 1024).fill(0x61);
  body.set(enc.encode("Subject: big\r\n\r\n"));
  const [typ] = await M.append("INBOX", null, null, body);
  if (typ !== "OK") throw new Error(`APPEND: ${typ}`);
}
await appendBig();
// A few more commands, fewer than the log keeps.
await M.noop();
await M.noop();
// deno-lint-ignore no-explicit-any
const gc = (globalThis as any).gc as () => void;
gc();
gc();
console.log(JSON.stringify({ external: Deno.memoryUsage().external }));
await M.logout();
