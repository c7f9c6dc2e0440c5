/**
 * Runs the helpers of a loaded module (the npm package on Node, mod.ts on Deno) over the CPython
 * vectors of tests/utils/vectors/ and over a fixed corpus, so that Node's results can be checked
 * against CPython's and against Deno's. Runtime-neutral: only `node:fs` and `node:path`.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const vectorDir = join(dirname(fileURLToPath(import.meta.url)), "..", "utils", "vectors");

/**
 * Reads one vector file.
 *
 * @param {string} name its name without `.json`
 * @returns {any} its content
 */
export function vectors(name) {
  return JSON.parse(readFileSync(join(vectorDir, `${name}.json`), "utf8"));
}

/** The TZ of each internaldate vector file. */
export const ZONE_FILES = {
  "UTC": "internaldate_utc",
  "America/New_York": "internaldate_america_new_york",
  "Asia/Kolkata": "internaldate_asia_kolkata",
  "Europe/Berlin": "internaldate_europe_berlin",
};

// CPython's exception classes and ours (as tests/utils/internaldate_test.ts maps them).
const ERROR_MAP = {
  KeyError: "RangeError",
  ValueError: "RangeError",
  OverflowError: "RangeError",
  IndexError: "RangeError",
};

function outcome(fn) {
  try {
    return { ok: fn() };
  } catch (err) {
    return { error: err?.name ?? String(err) };
  }
}

function timeInput(v) {
  if (v.in.number !== undefined) return v.in.number;
  if (v.in.special !== undefined) {
    return v.in.special === "nan" ? NaN : v.in.special === "inf" ? Infinity : -Infinity;
  }
  if (v.in.string !== undefined) return v.in.string;
  return v.in.tuple;
}

/**
 * Compares Internaldate2tuple and Time2Internaldate, in the process's own TZ, with one vector
 * file written by CPython under that TZ.
 *
 * @param {any} imaplib the module
 * @param {any} file the vector file's content
 * @returns {{ checked: number, mismatches: unknown[] }} the disagreements
 */
export function runZoneVectors(imaplib, file) {
  const mismatches = [];
  let checked = 0;
  for (const v of file.internaldate2tuple) {
    checked++;
    const want = v.error === undefined ? { ok: v.ok } : { error: ERROR_MAP[v.error] };
    const got = outcome(() => imaplib.Internaldate2tuple(v.in));
    const gotBytes = outcome(() => imaplib.Internaldate2tuple(new TextEncoder().encode(v.in)));
    if (
      JSON.stringify(got) !== JSON.stringify(want) ||
      JSON.stringify(gotBytes) !== JSON.stringify(want)
    ) {
      mismatches.push({ input: v.in, want, got });
    }
  }
  for (const v of file.time2internaldate) {
    checked++;
    // A string imaplib rejects is "not of a known type": TypeError here, RangeError otherwise.
    const error = v.in.string !== undefined ? "TypeError" : ERROR_MAP[v.error ?? ""];
    const want = v.error === undefined ? { ok: v.ok } : { error };
    const got = outcome(() => imaplib.Time2Internaldate(timeInput(v)));
    if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push({ input: v.in, want, got });
  }
  return { checked, mismatches };
}

/** Mailbox names: ASCII, ampersands, controls, BMP and astral characters, and bad encodings. */
const MAILBOX_NAMES = [
  "",
  "INBOX",
  "Tom & Jerry",
  "&&",
  "Entw\u00fcrfe",
  "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e",
  "a\u0000b\u007fc",
  "\ud83d\ude00 \u263a!",
  "-&-",
  "\u00e9".repeat(40) + "/x&y",
];
const ENCODED_NAMES = ["&U,BTFw-", "&Jjo-!", "&-", "&", "&AOk", "&AO!-", "&A-", "&2D0-", "&AGE-"];

/**
 * Every helper's result on a fixed corpus, as JSON-ready data (errors by class name), in the
 * process's own TZ. Deno and Node must give the same.
 *
 * @param {any} imaplib the module
 * @returns {Record<string, unknown[]>} the results by helper
 */
export function helperResults(imaplib) {
  const int2ap = vectors("int2ap").map((v) =>
    outcome(() => imaplib.Int2AP(typeof v.in === "string" ? BigInt(v.in) : v.in))
  );
  const flags = vectors("flags").map((v) => outcome(() => imaplib.ParseFlags(v.in)));
  const zoneFiles = Object.values(ZONE_FILES).map(vectors);
  const internaldate = zoneFiles.flatMap((f) =>
    f.internaldate2tuple.map((v) => outcome(() => imaplib.Internaldate2tuple(v.in)))
  );
  const time2 = zoneFiles.flatMap((f) =>
    f.time2internaldate.map((v) => outcome(() => imaplib.Time2Internaldate(timeInput(v))))
  );
  const toDate = zoneFiles[0].internaldate2tuple.map((v) =>
    outcome(() => imaplib.internaldateToDate(v.in)?.toISOString() ?? null)
  );
  const encode = MAILBOX_NAMES.map((n) => outcome(() => imaplib.encodeMailboxName(n)));
  const decode = [
    ...MAILBOX_NAMES.map((n) => imaplib.encodeMailboxName(n)),
    ...ENCODED_NAMES,
  ].map((n) => outcome(() => imaplib.decodeMailboxName(n)));
  return { int2ap, flags, internaldate, time2, toDate, encode, decode };
}
