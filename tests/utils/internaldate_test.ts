import assert from "node:assert/strict";
import {
  fixedOffsetZone,
  Internaldate2tuple,
  internaldateToDate,
  localZone,
  Time2Internaldate,
  type TimeTuple,
  type Zone,
} from "../../utils/internaldate.ts";
import utcVectors from "./vectors/internaldate_utc.json" with { type: "json" };
import newYorkVectors from "./vectors/internaldate_america_new_york.json" with { type: "json" };
import kolkataVectors from "./vectors/internaldate_asia_kolkata.json" with { type: "json" };
import berlinVectors from "./vectors/internaldate_europe_berlin.json" with { type: "json" };

/** One vector file written by scripts/gen_vectors.py for one TZ. */
interface ZoneVectors {
  tz: string;
  internaldate2tuple: { in: string; ok?: number[] | null; error?: string }[];
  time2internaldate: {
    in: { number?: number; special?: string; string?: string; tuple?: number[] };
    ok?: string;
    error?: string;
  }[];
}

/** A vector that disagreed with CPython. */
interface Mismatch {
  input: unknown;
  want: unknown;
  got: unknown;
}

/** The CPython vectors by TZ, imported so that the in-process tests need no permission. */
export const VECTORS: Record<string, ZoneVectors> = {
  "UTC": utcVectors,
  "America/New_York": newYorkVectors,
  "Asia/Kolkata": kolkataVectors,
  "Europe/Berlin": berlinVectors,
};

function outcome(fn: () => unknown): { ok: unknown } | { error: string } {
  try {
    return { ok: fn() };
  } catch (err) {
    return { error: (err as Error).name };
  }
}

// CPython's exception classes and ours: which raise maps to which throw.
const ERROR_MAP: Record<string, string> = {
  KeyError: "RangeError",
  ValueError: "RangeError",
  OverflowError: "RangeError",
  IndexError: "RangeError",
};

function special(name: string): number {
  return name === "nan" ? NaN : name === "inf" ? Infinity : -Infinity;
}

/**
 * Runs every vector of a file against our code in `zone` and returns the disagreements.
 * `include` filters vectors by the UTC instant they concern (undefined when none).
 * Exported so that a child `deno eval` under another TZ can run the same comparison.
 */
export function runZoneVectors(
  vectors: ZoneVectors,
  zone: Zone = localZone,
  include: (instant: number | undefined) => boolean = () => true,
): { checked: number; mismatches: Mismatch[] } {
  const mismatches: Mismatch[] = [];
  let checked = 0;
  for (const v of vectors.internaldate2tuple) {
    const instant = internaldateToDate(v.in)?.getTime();
    if (!include(instant === undefined ? undefined : instant / 1000)) continue;
    checked++;
    const got = outcome(() => Internaldate2tuple(v.in, zone));
    const want = v.error === undefined ? { ok: v.ok } : { error: ERROR_MAP[v.error] };
    // Bytes must give the same answer as text.
    const gotBytes = outcome(() => Internaldate2tuple(new TextEncoder().encode(v.in), zone));
    if (
      JSON.stringify(got) !== JSON.stringify(want) ||
      JSON.stringify(gotBytes) !== JSON.stringify(want)
    ) {
      mismatches.push({ input: v.in, want, got });
    }
  }
  for (const v of vectors.time2internaldate) {
    let input: number | string | TimeTuple;
    let instant: number | undefined;
    if (v.in.number !== undefined) {
      input = v.in.number;
      instant = Number.isFinite(v.in.number) ? Math.floor(v.in.number) : undefined;
    } else if (v.in.special !== undefined) input = special(v.in.special);
    else if (v.in.string !== undefined) input = v.in.string;
    else input = v.in.tuple as unknown as TimeTuple;
    if (!include(instant)) continue;
    checked++;
    const got = outcome(() => Time2Internaldate(input, zone));
    // A string imaplib rejects is "not of a known type": TypeError here, RangeError otherwise.
    const error = v.in.string !== undefined ? "TypeError" : ERROR_MAP[v.error ?? ""];
    const want = v.error === undefined ? { ok: v.ok } : { error };
    if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push({ input: v.in, want, got });
  }
  return { checked, mismatches };
}

const DAY = 86_400;

function utcSeconds(y: number, m: number, d: number, h = 0): number {
  return Date.UTC(y, m - 1, d, h) / 1000;
}

/** The day of the month of the n-th (1-based) Sunday, or of the last one when n is 0. */
function sunday(year: number, month: number, n: number): number {
  if (n === 0) {
    const last = new Date(Date.UTC(year, month, 0));
    return last.getUTCDate() - last.getUTCDay();
  }
  const first = new Date(Date.UTC(year, month - 1, 1)).getUTCDay();
  return 1 + ((7 - first) % 7) + 7 * (n - 1);
}

/** A zone with a standard offset and a yearly DST interval [start, end) given in UTC seconds. */
function ruleZone(standard: number, dst: (year: number) => [number, number]): Zone {
  const isDstAt = (t: number): boolean => {
    const [start, end] = dst(new Date(t * 1000).getUTCFullYear());
    return t >= start && t < end;
  };
  return { offsetAt: (t) => standard + (isDstAt(t) ? 3600 : 0), isDstAt };
}

// The rules of tzdata, written out for the years they hold; the vectors outside them are left
// to the test that runs under the real TZ.
const NEW_YORK = ruleZone(
  -5 * 3600,
  (y) =>
    y >= 2007
      ? [utcSeconds(y, 3, sunday(y, 3, 2), 7), utcSeconds(y, 11, sunday(y, 11, 1), 6)]
      : [utcSeconds(y, 4, sunday(y, 4, 1), 7), utcSeconds(y, 10, sunday(y, 10, 0), 6)],
);
const BERLIN = ruleZone(3600, (y) => [
  utcSeconds(y, 3, sunday(y, 3, 0), 1),
  utcSeconds(y, 10, sunday(y, 10, 0), 1),
]);
const RULE_ZONES: Record<string, { zone: Zone; from: number }> = {
  "UTC": { zone: fixedOffsetZone(0), from: -Infinity },
  "America/New_York": { zone: NEW_YORK, from: utcSeconds(1987, 1, 1) },
  "Asia/Kolkata": { zone: fixedOffsetZone(19_800), from: utcSeconds(1946, 1, 1) },
  "Europe/Berlin": { zone: BERLIN, from: utcSeconds(1996, 1, 1) },
};

for (const [tz, { zone, from }] of Object.entries(RULE_ZONES)) {
  Deno.test(`internaldate helpers match CPython in ${tz} through an explicit zone`, () => {
    const { checked, mismatches } = runZoneVectors(
      VECTORS[tz],
      zone,
      (t) => t === undefined || t >= from + DAY,
    );
    assert.deepEqual(mismatches, []);
    assert.ok(checked >= 100, `only ${checked} vectors checked`);
  });
}

const canRun = (await Deno.permissions.query({ name: "run" })).state === "granted" &&
  (await Deno.permissions.query({ name: "read" })).state === "granted";

Deno.test({
  name: "internaldate helpers match CPython under the real TZ of a child deno",
  permissions: { run: true, read: true },
  ignore: !canRun,
  async fn(t) {
    for (const tz of Object.keys(VECTORS)) {
      await t.step(tz, async () => {
        const code = `import { runZoneVectors, VECTORS } from ${JSON.stringify(import.meta.url)};
          console.log(JSON.stringify(runZoneVectors(VECTORS[${JSON.stringify(tz)}])));`;
        const child = new Deno.Command(Deno.execPath(), {
          args: ["eval", "--quiet", code],
          env: { TZ: tz },
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        });
        const { code: exit, stdout, stderr } = await child.output();
        assert.equal(exit, 0, new TextDecoder().decode(stderr));
        const { checked, mismatches } = JSON.parse(new TextDecoder().decode(stdout));
        assert.deepEqual(mismatches, []);
        const v = VECTORS[tz];
        assert.equal(checked, v.internaldate2tuple.length + v.time2internaldate.length);
      });
    }
  },
});

Deno.test("Internaldate2tuple reads bytes with non-ASCII data before the date", () => {
  const prefix = new Uint8Array([0x2a, 0x20, 0xc3, 0xa9, 0xff, 0x20]);
  const date = new TextEncoder().encode('(INTERNALDATE "01-Feb-2001 10:20:30 +0100")');
  const resp = new Uint8Array([...prefix, ...date]);
  assert.deepEqual(Internaldate2tuple(resp, fixedOffsetZone(0)), [2001, 2, 1, 9, 20, 30, 3, 32, 0]);
});

Deno.test("internaldateToDate gives the instant of the UTC vectors", () => {
  let compared = 0;
  for (const v of VECTORS.UTC.internaldate2tuple) {
    const date = internaldateToDate(v.in);
    if (v.ok === undefined || v.ok === null) {
      assert.equal(date, null, v.in);
      continue;
    }
    assert.ok(date !== null, v.in);
    const fields = [
      date.getUTCFullYear(),
      date.getUTCMonth() + 1,
      date.getUTCDate(),
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
    ];
    assert.deepEqual(fields, v.ok.slice(0, 6), v.in);
    compared++;
  }
  assert.ok(compared >= 20);
});

Deno.test("Time2Internaldate gives a Date the same text as its seconds", () => {
  for (const zone of [NEW_YORK, BERLIN, fixedOffsetZone(19_800), fixedOffsetZone(-17_762)]) {
    for (const seconds of [0, 1_710_054_000, 1_730_613_599, 1_711_846_800, -5_364_662_400]) {
      const fromDate = Time2Internaldate(new Date(seconds * 1000 + 999), zone);
      assert.equal(fromDate, Time2Internaldate(seconds, zone));
    }
  }
  assert.equal(Time2Internaldate(0, fixedOffsetZone(-17_762)), '"31-Dec-1969 19:03:58 -045602"');
  assert.equal(Time2Internaldate(0, fixedOffsetZone(3_600 + 61)), '"01-Jan-1970 01:01:01 +010101"');
});

Deno.test("Time2Internaldate rejects unusable input with the documented errors", () => {
  const utc = fixedOffsetZone(0);
  assert.throws(() => Time2Internaldate(new Date(NaN), utc), RangeError);
  assert.throws(() => Time2Internaldate(NaN, utc), RangeError);
  assert.throws(() => Time2Internaldate("", utc), TypeError);
  assert.throws(() => Time2Internaldate({} as unknown as number, utc), TypeError);
  assert.throws(() => Time2Internaldate([2024, 1, 1] as unknown as TimeTuple, utc), TypeError);
  const fractional = [2024, 1, 1.5, 0, 0, 0, 0, 1, 0] as unknown as TimeTuple;
  assert.throws(() => Time2Internaldate(fractional, utc), TypeError);
  assert.throws(() => fixedOffsetZone(86_400), RangeError);
});

Deno.test("Time2Internaldate shows a tuple with a DST flag of -1 as the zone says", () => {
  // A zone whose offsets now differ, so the flag matters; 2024 rules as in New York.
  const cases: [TimeTuple, string][] = [
    [[2024, 7, 15, 12, 0, 0, 0, 0, -1], '"15-Jul-2024 12:00:00 -0400"'],
    [[2024, 1, 15, 12, 0, 0, 0, 0, -1], '"15-Jan-2024 12:00:00 -0500"'],
    [[2024, 3, 10, 2, 30, 0, 0, 0, -1], '"10-Mar-2024 02:30:00 -0400"'], // skipped hour
    [[2024, 11, 3, 1, 30, 0, 0, 0, -1], '"03-Nov-2024 01:30:00 -0400"'], // repeated: the earlier
    [[2024, 13, 1, 0, 0, 0, 0, 0, 0], ""],
  ];
  for (const [tuple, want] of cases) {
    if (want === "") assert.throws(() => Time2Internaldate(tuple, NEW_YORK), RangeError);
    else assert.equal(Time2Internaldate(tuple, NEW_YORK), want);
  }
});

Deno.test("Internaldate2tuple stays linear on many date prefixes", () => {
  const resp = 'INTERNALDATE "'.repeat(200_000) + "01-Jan-2000 00:00:00 +0000";
  const started = performance.now();
  assert.equal(Internaldate2tuple(resp, fixedOffsetZone(0)), null);
  assert.deepEqual(Internaldate2tuple(resp + '"', fixedOffsetZone(0))?.slice(0, 3), [2000, 1, 1]);
  assert.ok(performance.now() - started < 2000);
});
