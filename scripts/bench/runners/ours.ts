/**
 * This project's client on the benchmark workloads, through the imaplib layer.
 *
 * Usage: `deno run --allow-all scripts/bench/runners/ours.ts WORKLOAD plain|tls`
 * (or `ours.ts probe` to ask whether the client can be loaded at all).
 *
 * The API used is the one DESIGN.md §4 fixes, imported from the repository's `mod.ts`.
 *
 * @module
 */

import { type CommandResult, type Datum, IMAP4, IMAP4_SSL } from "../../../mod.ts";
import {
  BULK_ITEMS,
  halfOf,
  META_ITEMS,
  readSettings,
  report,
  type RunResult,
  type RunSettings,
  tripUid,
} from "./_common.ts";

/** One item of an imaplib-style `data` array: a line, a (line, literal) pair, or null. */
type DataItem = Datum;

/** The `[typ, data]` every imaplib-layer command resolves to. */
type Response = CommandResult;

/** The client, as the runner uses it. */
type Imap4Like = IMAP4;

/** The client module. */
type OursModule = { IMAP4: typeof IMAP4; IMAP4_SSL: typeof IMAP4_SSL };

/**
 * The client module (kept behind a function so the runner's probe mode stays as it was).
 *
 * @returns The module.
 */
function load(): Promise<OursModule | string> {
  return Promise.resolve({ IMAP4, IMAP4_SSL });
}

// The response line of a data item: the item itself, or the line before a literal.
function lineOf(item: DataItem): string {
  if (item === null) return "";
  return typeof item === "string" ? item : item[0];
}

function countMessages(data: DataItem[]): number {
  let n = 0;
  for (const item of data) if (/^\d+ \(/.test(lineOf(item))) n++;
  return n;
}

/**
 * Streams the bulk FETCH through `fetchStream`: each message is counted and dropped as it arrives.
 *
 * @param M The logged-in client with INBOX selected.
 * @returns The counts.
 */
async function bulkStream(
  M: Imap4Like,
): Promise<{ items: number; bytes: number }> {
  let items = 0;
  let bytes = 0;
  for await (const data of M.fetchStream("1:*", "(BODY.PEEK[])")) {
    items++;
    for (const item of data) if (Array.isArray(item)) bytes += item[1].length;
  }
  return { items, bytes };
}

async function run(mod: OursModule, s: RunSettings): Promise<RunResult> {
  const base = {
    workload: s.workload,
    impl: "ours",
    transport: s.tls ? "tls" : "plain",
  };
  const M = s.tls
    ? await mod.IMAP4_SSL.connect(s.host, s.port, {
      caCerts: [s.caPem],
      hostname: s.host,
    })
    : await mod.IMAP4.connect(s.host, s.port);
  let items = 0;
  let bytes = 0;
  let ok = true;
  let ms: number;
  let firstHalfMs: number | undefined;
  try {
    await M.login(s.user, s.pass);
    await M.select("INBOX");
    const half = halfOf(s);
    const start = performance.now();
    switch (s.workload) {
      case "bulk":
      case "bulk_fetchall": {
        const [typ, data] = await M.fetch("1:*", BULK_ITEMS);
        for (const item of data) {
          if (Array.isArray(item)) {
            items++;
            bytes += item[1].length;
          }
        }
        ok = typ === "OK" && items === s.messages &&
          (s.expectBytes === 0 || bytes === s.expectBytes);
        break;
      }
      case "bulk_stream": {
        ({ items, bytes } = await bulkStream(M));
        ok = items === s.messages &&
          (s.expectBytes === 0 || bytes === s.expectBytes);
        break;
      }
      case "meta": {
        const [typ, data] = await M.fetch("1:*", META_ITEMS);
        items = countMessages(data);
        for (const item of data) {
          bytes += lineOf(item).length +
            (Array.isArray(item) ? item[1].length : 0);
        }
        ok = typ === "OK" && items === s.messages;
        break;
      }
      case "uid":
        for (let i = 0; i < s.trips; i++) {
          if (i === half) firstHalfMs = performance.now() - start;
          const [typ, data] = await M.uid(
            "FETCH",
            String(tripUid(i, s.messages)),
            "(FLAGS)",
          );
          if (typ === "OK" && data[0] != null) items++;
        }
        ok = items === s.trips;
        break;
      case "uid_pipelined": {
        // Every command is issued before any answer is awaited: the client may pipeline them.
        const calls: Promise<Response>[] = [];
        for (let i = 0; i < s.trips; i++) {
          calls.push(M.uid("FETCH", String(tripUid(i, s.messages)), "(FLAGS)"));
        }
        let lines = 0;
        for (const [typ, data] of await Promise.all(calls)) {
          if (typ === "OK" && data[0] != null) items++;
          lines += countMessages(data);
        }
        ok = items === s.trips;
        if (!ok) {
          // Say whether the data was lost or handed to the wrong call.
          const ms = performance.now() - start;
          await M.logout().catch(() => {});
          return {
            ...base,
            ms,
            bytes,
            items,
            ok,
            error: `${s.trips - items} of ${s.trips} concurrent uid() calls got no FETCH data ` +
              `(${lines} FETCH lines returned in all)`,
          };
        }
        break;
      }
      case "noop":
        for (let i = 0; i < s.trips; i++) {
          if (i === half) firstHalfMs = performance.now() - start;
          const [typ] = await M.noop();
          if (typ === "OK") items++;
        }
        ok = items === s.trips;
        break;
    }
    ms = performance.now() - start;
  } finally {
    await M.logout().catch(() => {});
  }
  return { ...base, ms, bytes, items, ok, firstHalfMs };
}

if (import.meta.main) {
  const mod = await load();
  if (Deno.args[0] === "probe") {
    console.log(
      JSON.stringify(
        typeof mod === "string" ? { ok: false, skipped: mod } : { ok: true },
      ),
    );
  } else {
    const settings = readSettings();
    const base = {
      workload: settings.workload,
      impl: "ours",
      transport: Deno.args[1],
    };
    if (typeof mod === "string") {
      report({
        ...base,
        ms: null,
        bytes: 0,
        items: 0,
        ok: false,
        skipped: mod,
      });
    } else {
      try {
        report(await run(mod, settings));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        report({
          ...base,
          ms: null,
          bytes: 0,
          items: 0,
          ok: false,
          error: message,
        });
        Deno.exitCode = 1;
      }
    }
  }
}
