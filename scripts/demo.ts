/**
 * `deno task demo [URL]`: imaplib's classic example session (login, list, select, search, fetch,
 * store, expunge, logout), printing every call and its `[typ, data]`.
 *
 * - `deno task demo imap://user:pass@host:port` (or `imaps://...`) runs it against that server.
 * - With no URL it replays a recorded Dovecot session through the built-in replay server when
 *   that transcript is present, and otherwise starts a private Dovecot when one is installed.
 *
 * @module
 */

import { type CommandResult, type Datum, IMAP4, IMAP4_SSL } from "../mod.ts";

const decoder = new TextDecoder();

/** Formats one data item readably: literals shown by size and a short excerpt. */
export function formatDatum(d: Datum): string {
  if (d === null) return "null";
  if (typeof d === "string") return JSON.stringify(d);
  const text = decoder.decode(d[1].subarray(0, 60)).replace(/\r\n/g, "⏎");
  return `[${JSON.stringify(d[0])}, <${d[1].length} bytes: ${JSON.stringify(text)}${
    d[1].length > 60 ? "…" : ""
  }>]`;
}

/** Formats a `[typ, data]` result on one or more lines. */
export function formatResult([typ, data]: CommandResult): string {
  const items = data.map(formatDatum);
  const oneLine = `[${JSON.stringify(typ)}, [${items.join(", ")}]]`;
  if (oneLine.length <= 100) return oneLine;
  return `[${JSON.stringify(typ)}, [\n${items.map((i) => "    " + i).join(",\n")}\n  ]]`;
}

/** The demo messages appended before the classic session, so that it has something to show. */
export const DEMO_MESSAGES: readonly string[] = [
  "From: Ada <ada@example.org>\r\nTo: demo@example.org\r\nSubject: Hello from imaplib-ts\r\n" +
  "Date: Thu, 26 Nov 2026 06:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\n" +
  "First message.\r\n",
  "From: Grace <grace@example.org>\r\nTo: demo@example.org\r\nSubject: Second\r\n" +
  "Date: Thu, 26 Nov 2026 06:01:00 +0000\r\nMessage-ID: <2@example.org>\r\n\r\n" +
  "Second message.\r\n",
];

/**
 * Runs imaplib's example session on a connected client, printing each call.
 *
 * @param M a connected client, not logged in unless PREAUTH
 * @param user the login name
 * @param pass the password
 * @param print where lines go
 */
export async function runDemo(
  M: IMAP4,
  user: string,
  pass: string,
  print: (line: string) => void = console.log,
): Promise<void> {
  const step = async (call: string, p: Promise<CommandResult>) => {
    const r = await p;
    print(`M.${call}\n  → ${formatResult(r)}`);
    return r;
  };
  print(`# connected: ${M.welcome}`);
  print(`# state ${M.state}, ${M.capabilities.length} capabilities`);
  if (M.state === "NONAUTH") {
    await step(`login(${JSON.stringify(user)}, "***")`, M.login(user, pass));
  }
  for (const [i, msg] of DEMO_MESSAGES.entries()) {
    await step(
      `append("INBOX", null, null, <message ${i + 1}>)`,
      M.append("INBOX", null, null, msg),
    );
  }
  await step(`list()`, M.list());
  await step(`select()`, M.select());
  const [, data] = await step(`search(null, "ALL")`, M.search(null, "ALL"));
  const nums = String(data[0] ?? "").split(" ").filter((s) => s !== "");
  for (const num of nums) {
    const [, msg] = await step(
      `fetch(${JSON.stringify(num)}, "(RFC822)")`,
      M.fetch(num, "(RFC822)"),
    );
    const item = msg[0];
    if (Array.isArray(item)) print(`Message ${num}\n${decoder.decode(item[1]).trimEnd()}\n`);
  }
  for (const num of nums) {
    await step(
      `store(${JSON.stringify(num)}, "+FLAGS", "\\\\Deleted")`,
      M.store(num, "+FLAGS", "\\Deleted"),
    );
  }
  await step(`expunge()`, M.expunge());
  await step(`close()`, M.close());
  await step(`logout()`, M.logout());
}

/** Connects to `imap://user:pass@host:port` or `imaps://...`. */
async function connectUrl(url: URL): Promise<{ M: IMAP4; user: string; pass: string }> {
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  const host = url.hostname.replace(/^\[|\]$/g, "");
  const ca = Deno.env.get("IMAP_CA");
  const caCerts = ca ? [await Deno.readTextFile(ca)] : undefined;
  if (url.protocol === "imaps:") {
    const M = await IMAP4_SSL.connect(host, Number(url.port || 993), { caCerts });
    return { M, user, pass };
  }
  if (url.protocol !== "imap:") throw new TypeError(`URL must be imap:// or imaps://: ${url}`);
  const M = await IMAP4.connect(host, Number(url.port || 143));
  if (M.capabilities.includes("STARTTLS") && url.searchParams.get("starttls") !== "no") {
    await M.starttls({ caCerts });
  }
  return { M, user, pass };
}

async function main(): Promise<void> {
  const arg = Deno.args[0];
  if (arg) {
    const { M, user, pass } = await connectUrl(new URL(arg));
    await runDemo(M, user, pass);
    return;
  }
  const replay = new URL("./demo_replay.ts", import.meta.url);
  try {
    await Deno.stat(replay);
    const mod = await import(replay.href);
    await mod.replayDemo(runDemo);
    return;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  // No recorded session: a private Dovecot, when installed.
  const script = new URL("./servers/dovecot.sh", import.meta.url).pathname;
  const dir = await Deno.makeTempDir({ prefix: "imaplib-demo-" });
  const start = await new Deno.Command("bash", { args: [script, "start", dir], stderr: "inherit" })
    .output();
  if (!start.success) {
    console.error(
      "No private Dovecot could be started; run: deno task demo imap://user:pass@host:port",
    );
    Deno.exit(1);
  }
  try {
    const env = Object.fromEntries(
      decoder.decode(start.stdout).split("\n").filter((l) => l.includes("=")).map((l) => {
        const i = l.indexOf("=");
        return [l.slice(0, i), l.slice(i + 1)];
      }),
    );
    const M = await IMAP4.connect(env.IMAP_HOST, Number(env.IMAP_PORT));
    await M.starttls({ caCerts: [await Deno.readTextFile(env.IMAP_CA)], hostname: "localhost" });
    await runDemo(M, env.IMAP_USER, env.IMAP_PASS);
  } finally {
    await new Deno.Command("bash", { args: [script, "stop", dir] }).output();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main();
