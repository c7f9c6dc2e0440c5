// imapflow (npm, on Node) on the benchmark workloads.
//
// Usage: node scripts/bench/runners/imapflow.mjs WORKLOAD plain|tls
// Settings come from the IMAP_* and BENCH_* environment variables, as for the Deno runners; it
// prints one JSON line. Timing covers the workload only (after connect, login and mailbox open).
// imapflow is installed into scripts/bench/node_modules by run.ts (npm install --prefix).

import { readFileSync } from "node:fs";
import process from "node:process";

// A computed specifier: Deno's checker (deno task check) does not try to resolve it, Node does.
const imapflowPackage = "imapflow";
const { ImapFlow } = await import(imapflowPackage);

const env = process.env;
const [workload, transport] = process.argv.slice(2);
const tls = transport === "tls";
const messages = Number(env.BENCH_MESSAGES);
const expectBytes = Number(env.BENCH_EXPECT_BYTES ?? 0);
const trips = Number(env.BENCH_TRIPS ?? 2000);
const base = { workload, impl: "imapflow", transport };

const META = {
  uid: true,
  flags: true,
  size: true,
  envelope: true,
  bodyStructure: true,
};

async function run() {
  const client = new ImapFlow({
    host: env.IMAP_HOST ?? "127.0.0.1",
    port: Number(tls ? env.IMAP_TLS_PORT : env.IMAP_PORT),
    secure: tls,
    // Plain runs stay plain: by default imapflow upgrades with STARTTLS when offered.
    doSTARTTLS: tls ? undefined : false,
    auth: {
      user: env.IMAP_USER ?? "imaptest",
      pass: env.IMAP_PASS ?? "imaptest",
    },
    tls: tls ? { ca: [readFileSync(env.IMAP_CA)] } : undefined,
    logger: false,
  });
  await client.connect();
  await client.mailboxOpen("INBOX");
  let items = 0;
  let bytes = 0;
  let ok = true;
  // The round trips one after another also report their first half (see halfOf in _common.ts).
  const half = Math.floor(trips / 2);
  let firstHalfMs;
  const start = performance.now();
  switch (workload) {
    case "bulk":
    case "bulk_stream":
      // fetch() is imapflow's async iterator: each message is handed over as it is parsed.
      for await (const msg of client.fetch("1:*", { source: true })) {
        items++;
        bytes += msg.source.length;
      }
      ok = items === messages && (!expectBytes || bytes === expectBytes);
      break;
    case "bulk_fetchall": {
      const all = await client.fetchAll("1:*", { source: true });
      for (const msg of all) {
        items++;
        bytes += msg.source.length;
      }
      ok = items === messages && (!expectBytes || bytes === expectBytes);
      break;
    }
    case "meta":
      for await (const msg of client.fetch("1:*", META)) {
        items++;
        bytes += msg.size;
      }
      ok = items === messages;
      break;
    case "uid":
      for (let i = 0; i < trips; i++) {
        if (i === half) firstHalfMs = performance.now() - start;
        const msg = await client.fetchOne(String((i % messages) + 1), {
          flags: true,
        }, {
          uid: true,
        });
        if (msg) items++;
      }
      ok = items === trips;
      break;
    case "uid_pipelined": {
      // imapflow queues commands and keeps one in flight; this shows what Promise.all gains it.
      const calls = [];
      for (let i = 0; i < trips; i++) {
        calls.push(
          client.fetchOne(String((i % messages) + 1), { flags: true }, {
            uid: true,
          }),
        );
      }
      for (const msg of await Promise.all(calls)) if (msg) items++;
      ok = items === trips;
      break;
    }
    case "noop":
      for (let i = 0; i < trips; i++) {
        if (i === half) firstHalfMs = performance.now() - start;
        await client.noop();
      }
      items = trips;
      break;
    default:
      throw new Error(`Workload "${workload}" is unknown`);
  }
  const ms = performance.now() - start;
  await client.logout();
  return { ms, bytes, items, ok, firstHalfMs };
}

try {
  console.log(JSON.stringify({ ...base, ...(await run()) }));
} catch (error) {
  console.log(
    JSON.stringify({
      ...base,
      ms: null,
      bytes: 0,
      items: 0,
      ok: false,
      error: String(error),
    }),
  );
  process.exitCode = 1;
}
