/**
 * imaplib's INTERNALDATE helpers: {@link Internaldate2tuple} and {@link Time2Internaldate}, with
 * our own small calendar code (no libraries, no locale: month names are always English).
 *
 * Local time comes from a {@link Zone}; the default, {@link localZone}, is the process's time zone
 * (the `TZ` environment variable) as the JavaScript `Date` sees it.
 *
 * @module
 */

/**
 * imaplib's 9-field local time tuple, the fields of Python's `time.struct_time`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Internaldate2tuple, type TimeTuple } from "./internaldate.ts";
 * const tt: TimeTuple | null = Internaldate2tuple('1 (INTERNALDATE "17-Jul-1996 02:44:25 -0700")');
 * assert.equal(tt?.length, 9);
 * ```
 */
export type TimeTuple = readonly [
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  weekday: number,
  yearday: number,
  isdst: number,
];

/**
 * A time zone as the date helpers need it: the offset from UTC and the DST flag at an instant.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Internaldate2tuple, type Zone } from "./internaldate.ts";
 * const kolkata: Zone = { offsetAt: () => 19_800, isDstAt: () => false };
 * const tt = Internaldate2tuple('INTERNALDATE "01-Jan-2024 00:00:00 +0000"', kolkata);
 * assert.deepEqual(tt, [2024, 1, 1, 5, 30, 0, 0, 1, 0]);
 * ```
 */
export interface Zone {
  /** Seconds east of UTC in effect at `epochSeconds` (an integer number of seconds). */
  offsetAt(epochSeconds: number): number;
  /** Whether daylight saving time is in effect at `epochSeconds`. */
  isDstAt(epochSeconds: number): boolean;
}

const SECONDS_PER_DAY = 86_400;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
// The UTC epoch seconds of 0001-01-01 and of 10000-01-01: CPython's datetime range.
const MIN_SECONDS = -62_135_596_800;
const END_SECONDS = 253_402_300_800;

/** Days from 1970-01-01 to the given proleptic Gregorian date; `day` may be out of range. */
function daysFromCivil(year: number, month: number, day: number): number {
  // Count from March so the leap day is the last day of the counting year.
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const monthFromMarch = (month + 9) % 12;
  const dayOfYear = Math.floor((153 * monthFromMarch + 2) / 5);
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) +
    dayOfYear;
  return era * 146_097 + dayOfEra - 719_468 + (day - 1);
}

/** The proleptic Gregorian [year, month, day] of a count of days since 1970-01-01. */
function civilFromDays(days: number): [number, number, number] {
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra -
    (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return [year, month, day];
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** UTC epoch milliseconds of a date and time, valid for every year (Date.UTC maps 0..99 to 19xx). */
function utcMillis(y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  return (daysFromCivil(y, mo, d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + s) * 1000;
}

function localOffset(epochSeconds: number): number {
  const date = new Date(epochSeconds * 1000);
  // getTimezoneOffset() rounds to minutes, but the local fields keep the seconds of offsets such
  // as New York's local mean time (-4:56:02), which CPython prints.
  const local = utcMillis(
    date.getFullYear(),
    date.getMonth() + 1,
    date.getDate(),
    date.getHours(),
    date.getMinutes(),
    date.getSeconds(),
  );
  return Math.round(local / 1000 - epochSeconds);
}

/**
 * The process's time zone (the `TZ` environment variable), as the JavaScript `Date` sees it.
 *
 * JavaScript has no DST flag, so `isDstAt` reports DST when the offset is larger than the smaller
 * of the offsets on 1 January and 1 July of that year. That matches the C library for zones with
 * one standard offset a year; it differs from CPython in years a zone spent wholly in DST (such as
 * Kolkata's +0630 of 1943).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { localZone } from "./internaldate.ts";
 * // 0 with TZ=UTC, -18000 with TZ=America/New_York
 * assert.ok(localZone.offsetAt(0) === -new Date(0).getTimezoneOffset() * 60);
 * ```
 */
export const localZone: Zone = {
  offsetAt: localOffset,
  isDstAt(epochSeconds: number): boolean {
    const offset = localOffset(epochSeconds);
    const year = new Date(epochSeconds * 1000).getFullYear();
    const jan = localOffset(daysFromCivil(year, 1, 1) * SECONDS_PER_DAY);
    const jul = localOffset(daysFromCivil(year, 7, 1) * SECONDS_PER_DAY);
    return offset > Math.min(jan, jul);
  },
};

/**
 * A zone with one offset and no DST, for callers that want a fixed zone instead of the process's.
 *
 * @param offsetSeconds seconds east of UTC, e.g. `19800` for +0530
 * @returns the zone
 * @throws {RangeError} if `offsetSeconds` is not an integer within a day
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fixedOffsetZone, Time2Internaldate } from "./internaldate.ts";
 * assert.equal(Time2Internaldate(0, fixedOffsetZone(-28_800)), '"31-Dec-1969 16:00:00 -0800"');
 * ```
 */
export function fixedOffsetZone(offsetSeconds: number): Zone {
  if (!Number.isInteger(offsetSeconds) || Math.abs(offsetSeconds) >= SECONDS_PER_DAY) {
    throw new RangeError(
      `Zone offset "${offsetSeconds}" is not a whole number of seconds in a day`,
    );
  }
  return { offsetAt: () => offsetSeconds, isDstAt: () => false };
}

/** `time.localtime(epochSeconds)` in `zone`. */
function localtime(epochSeconds: number, zone: Zone): TimeTuple {
  const local = epochSeconds + zone.offsetAt(epochSeconds);
  const days = Math.floor(local / SECONDS_PER_DAY);
  const secondOfDay = local - days * SECONDS_PER_DAY;
  const [year, month, day] = civilFromDays(days);
  const weekday = (((days + 3) % 7) + 7) % 7; // 1970-01-01 was a Thursday; Monday is 0
  const yearday = days - daysFromCivil(year, 1, 1) + 1;
  return [
    year,
    month,
    day,
    Math.floor(secondOfDay / 3600),
    Math.floor(secondOfDay / 60) % 60,
    secondOfDay % 60,
    weekday,
    yearday,
    zone.isDstAt(epochSeconds) ? 1 : 0,
  ];
}

// INTERNALDATE "DD-Mmm-YYYY HH:MM:SS +HHMM": 14 characters of prefix, then 27 of fixed shape.
const DATE_PREFIX = 'INTERNALDATE "';
const DATE_SHAPE = 'D9-Aaa-9999 99:99:99 S9999"';

function matchesShape(text: string, at: number): boolean {
  if (at + DATE_SHAPE.length > text.length) return false;
  for (let i = 0; i < DATE_SHAPE.length; i++) {
    const c = text.charCodeAt(at + i);
    const want = DATE_SHAPE[i];
    let ok: boolean;
    if (want === "9") ok = c >= 0x30 && c <= 0x39;
    else if (want === "D") ok = c === 0x20 || (c >= 0x30 && c <= 0x33);
    else if (want === "A") ok = c >= 0x41 && c <= 0x5a;
    else if (want === "a") ok = c >= 0x61 && c <= 0x7a;
    else if (want === "S") ok = c === 0x2b || c === 0x2d;
    else ok = c === want.charCodeAt(0);
    if (!ok) return false;
  }
  return true;
}

function asText(resp: string | Uint8Array): string {
  if (typeof resp === "string") return resp;
  // One character per byte keeps positions; only ASCII characters are ever compared.
  let text = "";
  for (let i = 0; i < resp.length; i += 8192) {
    text += String.fromCharCode(...resp.subarray(i, i + 8192));
  }
  return text;
}

interface ParsedDate {
  /** The UTC instant, in seconds since the epoch. */
  utc: number;
}

/**
 * Finds the date the way imaplib's `InternalDate` regular expression does: `re.match` with a
 * leading greedy `.*`, so the last well-shaped date whose prefix starts on the first line.
 */
function parseInternaldate(resp: string | Uint8Array): ParsedDate | "month" | "year" | null {
  const text = asText(resp);
  const newline = text.indexOf("\n");
  let at = text.lastIndexOf(DATE_PREFIX, newline === -1 ? text.length : newline);
  while (at >= 0 && !matchesShape(text, at + DATE_PREFIX.length)) {
    at = at === 0 ? -1 : text.lastIndexOf(DATE_PREFIX, at - 1);
  }
  if (at < 0) return null;
  const s = text.slice(at + DATE_PREFIX.length, at + DATE_PREFIX.length + DATE_SHAPE.length);
  const month = MONTHS.indexOf(s.slice(3, 6)) + 1;
  if (month === 0) return "month";
  const year = Number(s.slice(7, 11));
  if (year === 0) return "year";
  const zone = (Number(s.slice(22, 24)) * 60 + Number(s.slice(24, 26))) * 60;
  // calendar.timegm arithmetic: out-of-range days, hours, minutes and seconds simply carry.
  const days = daysFromCivil(year, month, 1) + Number(s.slice(0, 2)) - 1;
  const seconds = Number(s.slice(12, 14)) * 3600 + Number(s.slice(15, 17)) * 60 +
    Number(s.slice(18, 20));
  const utc = days * SECONDS_PER_DAY + seconds - (s[21] === "-" ? -zone : zone);
  return { utc };
}

/**
 * Parses the INTERNALDATE of a FETCH response into imaplib's local time tuple (`time.localtime`).
 *
 * As imaplib, it takes the last well-formed `INTERNALDATE "DD-Mmm-YYYY HH:MM:SS +HHMM"` whose
 * start lies on the first line; out-of-range days and times carry over as in `calendar.timegm`.
 *
 * @param resp a FETCH response line, as text or bytes
 * @param zone the time zone of the result; the process's time zone by default
 * @returns the local time tuple, or `null` when no INTERNALDATE is found
 * @throws {RangeError} where imaplib raises: an unknown month name such as `"Foo"` (KeyError) or
 *   the year 0000 (ValueError)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fixedOffsetZone, Internaldate2tuple } from "./internaldate.ts";
 * const utc = fixedOffsetZone(0);
 * const tt = Internaldate2tuple('1 (INTERNALDATE "17-Jul-1996 02:44:25 -0700")', utc);
 * assert.deepEqual(tt, [1996, 7, 17, 9, 44, 25, 2, 199, 0]);
 * assert.equal(Internaldate2tuple("1 (UID 4)"), null);
 * ```
 */
export function Internaldate2tuple(
  resp: string | Uint8Array,
  zone: Zone = localZone,
): TimeTuple | null {
  const parsed = parseInternaldate(resp);
  if (parsed === "month") throw new RangeError("INTERNALDATE month is not an English month name");
  if (parsed === "year") throw new RangeError('INTERNALDATE year "0000" is out of range');
  return parsed === null ? null : localtime(parsed.utc, zone);
}

/**
 * Parses the INTERNALDATE of a FETCH response into a `Date`: the idiomatic form of
 * {@link Internaldate2tuple}, which needs no time zone.
 *
 * @param resp a FETCH response line, as text or bytes
 * @returns the instant, or `null` when no valid INTERNALDATE is found (including the cases where
 *   {@link Internaldate2tuple} throws)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { internaldateToDate } from "./internaldate.ts";
 * const date = internaldateToDate('1 (INTERNALDATE "17-Jul-1996 02:44:25 -0700")');
 * assert.equal(date?.toISOString(), "1996-07-17T09:44:25.000Z");
 * ```
 */
export function internaldateToDate(resp: string | Uint8Array): Date | null {
  const parsed = parseInternaldate(resp);
  return parsed === null || typeof parsed === "string" ? null : new Date(parsed.utc * 1000);
}

function two(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** strftime's `%z`: `+HHMM`, with `SS` appended when the offset has seconds. */
function formatOffset(offsetSeconds: number): string {
  const sign = offsetSeconds < 0 ? "-" : "+";
  const abs = Math.abs(offsetSeconds);
  const seconds = abs % 60;
  const text = `${sign}${two(Math.floor(abs / 3600))}${two(Math.floor(abs / 60) % 60)}`;
  return seconds === 0 ? text : text + two(seconds);
}

/** The quoted INTERNALDATE text; the year is not padded, like CPython's `%Y` on glibc. */
function formatInternaldate(
  y: number,
  mo: number,
  d: number,
  h: number,
  mi: number,
  s: number,
  offsetSeconds: number,
): string {
  return `"${two(d)}-${MONTHS[mo - 1]}-${y} ${two(h)}:${two(mi)}:${two(s)} ${
    formatOffset(offsetSeconds)
  }"`;
}

/** Whole seconds of a timestamp as `datetime.fromtimestamp` takes them (microsecond rounding). */
function wholeSeconds(timestamp: number): number {
  const floor = Math.floor(timestamp);
  return Math.round((timestamp - floor) * 1e6) >= 1e6 ? floor + 1 : floor;
}

function fromEpochSeconds(timestamp: number, zone: Zone): string {
  if (!Number.isFinite(timestamp)) {
    throw new RangeError(`Time "${timestamp}" is not a finite number of seconds`);
  }
  const t = wholeSeconds(timestamp);
  if (t < MIN_SECONDS || t >= END_SECONDS) {
    throw new RangeError(`Time "${timestamp}" is outside the years 1 to 9999`);
  }
  const offset = zone.offsetAt(t);
  const local = t + offset;
  if (local < MIN_SECONDS || local >= END_SECONDS) {
    throw new RangeError(`Time "${timestamp}" is outside the years 1 to 9999 in local time`);
  }
  const [y, mo, d, h, mi, s] = localtime(t, zone);
  return formatInternaldate(y, mo, d, h, mi, s, offset);
}

/**
 * CPython's `time.timezone` and `time.altzone` as seconds east (negated), and `time.daylight`:
 * on glibc it reads the offsets near the start and the middle of the current year.
 */
function pythonZoneConstants(zone: Zone): { standard: number; summer: number; daylight: boolean } {
  const year = (365 * 24 + 6) * 3600;
  const t = Math.floor(Date.now() / 1000 / year) * year;
  const jan = zone.offsetAt(t);
  const jul = zone.offsetAt(t + year / 2);
  return { standard: Math.min(jan, jul), summer: Math.max(jan, jul), daylight: jan !== jul };
}

/**
 * `time.mktime(tuple)[isdst]` for `isdst == -1`: whether DST is in effect at the local time.
 * An ambiguous local time takes the earlier instant and a skipped one the offset before the gap
 * (JavaScript `Date` rules); glibc's answer to the ambiguous case depends on its earlier calls.
 */
function dstOfLocalTime(fields: readonly number[], zone: Zone): boolean {
  const [y, mo, d, h, mi, s] = fields;
  const months = y * 12 + (mo - 1);
  const local = utcMillis(Math.floor(months / 12), (months % 12 + 12) % 12 + 1, d, h, mi, s) /
    1000;
  const before = zone.offsetAt(local - 2 * SECONDS_PER_DAY);
  const candidates = [before, zone.offsetAt(local), zone.offsetAt(local + 2 * SECONDS_PER_DAY)];
  let best: number | undefined;
  for (const offset of candidates) {
    const t = local - offset;
    if (zone.offsetAt(t) === offset && (best === undefined || t < best)) best = t;
  }
  return zone.isDstAt(best ?? local - before);
}

function fromTimeTuple(tuple: readonly unknown[], zone: Zone): string {
  if (tuple.length < 9) {
    throw new TypeError(`Time tuple of length "${tuple.length}" has fewer than 9 fields`);
  }
  const fields = tuple.slice(0, 9);
  if (!fields.every((v) => Number.isInteger(v))) {
    throw new TypeError("Time tuple fields must be integers");
  }
  const [y, mo, d, h, mi, s, , , dstField] = fields as number[];
  const { standard, summer, daylight } = pythonZoneConstants(zone);
  let offset = standard;
  if (daylight) {
    const dst = dstField === -1 ? (dstOfLocalTime(fields as number[], zone) ? 1 : 0) : dstField;
    // imaplib indexes the pair (timezone, altzone) with it, so -2 also picks the standard one.
    if (dst === 1) offset = summer;
    else if (dst !== 0 && dst !== -2) {
      throw new RangeError(`Time tuple DST flag "${dstField}" is not -1, 0 or 1`);
    }
  }
  if (y < 1 || y > 9999) throw new RangeError(`Time tuple year "${y}" is outside 1 to 9999`);
  if (mo < 1 || mo > 12) throw new RangeError(`Time tuple month "${mo}" is outside 1 to 12`);
  if (d < 1 || d > daysInMonth(y, mo)) {
    throw new RangeError(`Time tuple day "${d}" is outside the month`);
  }
  if (h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) {
    throw new RangeError(`Time tuple time "${h}:${mi}:${s}" is not a valid time of day`);
  }
  return formatInternaldate(y, mo, d, h, mi, s, offset);
}

/**
 * Converts a time to imaplib's INTERNALDATE text, `"DD-Mmm-YYYY HH:MM:SS +HHMM"` with the quotes.
 *
 * - a number is seconds since the epoch, shown in the local time zone with its offset then;
 * - a `Date` likewise (it carries no zone, so the local one is used; milliseconds are dropped);
 * - a string that starts and ends with `"` is returned as it is;
 * - a 9-field {@link TimeTuple} is local time, shown with CPython's `time.timezone` or
 *   `time.altzone` offset chosen by its DST field (-1 asks which applies, like `time.mktime`).
 *
 * Differences from CPython, all from JavaScript having less than C's `struct tm`: a tuple from
 * {@link Internaldate2tuple} carries no `tm_gmtoff`, so it is shown like any plain tuple; for a DST
 * field of -1 on a local time that occurs twice, the earlier instant decides (glibc's answer
 * depends on its earlier calls); and DST is judged as {@link localZone} describes.
 *
 * @param dateTime the time to convert
 * @param zone the local time zone; the process's time zone by default
 * @returns the quoted INTERNALDATE text
 * @throws {TypeError} where imaplib raises for an input not of a known type: an unquoted or empty
 *   string, a tuple shorter than 9 fields or with non-integer fields, anything else
 * @throws {RangeError} where imaplib raises for an unusable value: a non-finite number, an invalid
 *   `Date`, a time outside the years 1 to 9999, a tuple field out of range
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fixedOffsetZone, Time2Internaldate } from "./internaldate.ts";
 * const zone = fixedOffsetZone(19_800);
 * assert.equal(Time2Internaldate(0, zone), '"01-Jan-1970 05:30:00 +0530"');
 * assert.equal(Time2Internaldate(new Date(0), zone), '"01-Jan-1970 05:30:00 +0530"');
 * assert.equal(Time2Internaldate([2024, 1, 15, 12, 0, 0, 0, 15, 0], zone), '"15-Jan-2024 12:00:00 +0530"');
 * assert.equal(Time2Internaldate('"17-Jul-1996 02:44:25 -0700"'), '"17-Jul-1996 02:44:25 -0700"');
 * assert.throws(() => Time2Internaldate("17-Jul-1996"), TypeError);
 * ```
 */
export function Time2Internaldate(
  dateTime: Date | number | string | TimeTuple,
  zone: Zone = localZone,
): string {
  if (typeof dateTime === "number") return fromEpochSeconds(dateTime, zone);
  if (dateTime instanceof Date) {
    const ms = dateTime.getTime();
    if (Number.isNaN(ms)) throw new RangeError("Date is invalid");
    return fromEpochSeconds(Math.floor(ms / 1000), zone);
  }
  if (typeof dateTime === "string") {
    if (dateTime.length > 0 && dateTime[0] === '"' && dateTime[dateTime.length - 1] === '"') {
      return dateTime;
    }
    throw new TypeError(
      `Date string "${dateTime.slice(0, 40)}" is not an already quoted INTERNALDATE`,
    );
  }
  if (Array.isArray(dateTime)) return fromTimeTuple(dateTime, zone);
  throw new TypeError(`Date and time of type "${typeof dateTime}" is not of a known type`);
}
