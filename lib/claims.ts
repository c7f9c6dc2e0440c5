/**
 * Which pending command the data of a pipelined answer belongs to.
 *
 * Servers may run pipelined commands in parallel and send their data before their completions
 * (Dovecot does), so untagged data cannot be given to "the command that completes next". Data
 * that names its message (FETCH) goes to the command whose message set holds it; commands whose
 * data could not be told apart (same kind, no sets or overlapping sets) are not pipelined with
 * each other. Lookups are O(1) for the common single-message sets, so 2,000 pipelined commands
 * cost 2,000 lookups, not 2,000².
 *
 * @module
 */

import type { Datum } from "./datum.ts";
import type { Arg } from "./wire/encoder.ts";
import { MAX_SEQ_NUMBER, parseSequenceSet, type SequenceRange } from "../utils/sequence_set.ts";
import { isDigit } from "../utils/bytes.ts";

/** The messages a pipelined FETCH or STORE asked for, and the data that came for them. */
export interface Claim {
  /** The message set, as ranges (never expanded); null for one message (see `single`). */
  ranges: SequenceRange[] | null;
  /** Whether the set holds UIDs (UID FETCH / UID STORE) rather than sequence numbers. */
  byUid: boolean;
  /** The one message of a one-number set, else -1 (worked out once: every lookup asks). */
  single: number;
  /** The data that came for these messages; null until some does. */
  items: Datum[] | null;
}

/**
 * The claim of a FETCH or STORE (`name` "FETCH"/"STORE") or a UID FETCH/STORE (`name`
 * "UID FETCH"/"UID STORE"): the message set is the first argument.
 *
 * @param name the command as sent
 * @param args its arguments
 * @returns the claim, or null when the set cannot be read (e.g. `$`, RFC 5182)
 */
export function claimOf(name: string, args: readonly Arg[]): Claim | null {
  const byUid = name.startsWith("UID ");
  const set = args[0];
  if (typeof set === "number") {
    return Number.isInteger(set) && set > 0 && set <= MAX_SEQ_NUMBER
      ? { ranges: null, byUid, single: set, items: null }
      : null;
  }
  if (typeof set !== "string") return null;
  // One message, the common case: no parser, and no objects but the claim (thousands of
  // pipelined commands each hold one until they complete). A number without leading zeros,
  // signs, exponent or spaces reads back as the same text.
  const n = Number(set);
  return Number.isInteger(n) && n > 0 && n <= MAX_SEQ_NUMBER && String(n) === set
    ? { ranges: null, byUid, single: n, items: null }
    : claimOfSet(set, byUid);
}

/** {@link claimOf} for any other set: parsed. */
function claimOfSet(set: string, byUid: boolean): Claim | null {
  try {
    const ranges = parseSequenceSet(set);
    const r = ranges[0];
    const one = ranges.length === 1 && r.end === undefined && r.start !== "*" ? r.start : -1;
    return { ranges, byUid, single: one, items: null };
  } catch {
    return null;
  }
}

/**
 * A range as [low, high]. "*" is the highest number in use, unknown here: a range with it holds
 * everything past its other end, and a lone "*" everything.
 */
function bounds(r: SequenceRange): [number, number] {
  const a = r.start === "*" ? Infinity : r.start;
  const b = r.end === undefined ? a : r.end === "*" ? Infinity : r.end;
  if (a === Infinity && b === Infinity) return [0, Infinity];
  return [Math.min(a, b), Math.max(a, b)];
}

/**
 * The claim's ranges: its own, or its one message as a range.
 *
 * @param claim the claim
 * @returns the ranges
 */
export function rangesOf(claim: Claim): SequenceRange[] {
  return claim.ranges ?? [{ start: claim.single }];
}

function has(claim: Claim, n: number): boolean {
  if (claim.ranges === null) return n === claim.single;
  for (const r of claim.ranges) {
    const [lo, hi] = bounds(r);
    if (n >= lo && n <= hi) return true;
  }
  return false;
}

function overlap(a: Claim, b: Claim): boolean {
  if (a.byUid !== b.byUid) return true;
  for (const ra of rangesOf(a)) {
    const [alo, ahi] = bounds(ra);
    for (const rb of rangesOf(b)) {
      const [blo, bhi] = bounds(rb);
      if (alo <= bhi && blo <= ahi) return true;
    }
  }
  return false;
}

/** The pending commands by the kind of data they return and the messages they claim. */
export class ClaimIndex<P> {
  /** Pending commands without a claim, by result type. */
  private _unclaimed = new Map<string, number>();
  /** One-message claims: [by sequence number, by UID]. */
  private _singles: [Map<number, P>, Map<number, P>] = [new Map(), new Map()];
  /** Claims of more than one message, in registration order. */
  private _multi = new Map<P, Claim>();
  /**
   * The claim of the only claimer, kept out of the maps until a second one comes: commands sent
   * one after another then touch no map at all.
   */
  private _solo: P | null = null;
  private _soloClaim: Claim | null = null;
  /**
   * How many pending commands hold a claim (counted, not a getter: asked about every untagged
   * FETCH; not to be set from outside).
   */
  claimers = 0;

  /**
   * Records a pending command.
   *
   * @param p the command
   * @param resultType the untagged type it returns, or null
   * @param claim its claim, or null
   */
  add(p: P, resultType: string | null, claim: Claim | null): void {
    if (resultType === null) return;
    if (claim === null) {
      this._unclaimed.set(resultType, (this._unclaimed.get(resultType) ?? 0) + 1);
      return;
    }
    if (this.claimers === 0) {
      this._solo = p;
      this._soloClaim = claim;
    } else {
      this.#index();
      this.#put(p, claim);
    }
    this.claimers++;
  }

  /** Moves the only claim into the maps, where the next ones go. */
  #index(): void {
    if (this._solo === null) return;
    this.#put(this._solo, this._soloClaim!);
    this._solo = this._soloClaim = null;
  }

  #put(p: P, claim: Claim): void {
    const n = claim.single;
    if (n >= 0) this._singles[claim.byUid ? 1 : 0].set(n, p);
    else this._multi.set(p, claim);
    // Always a new entry (claims that overlap never pend together, see conflicts()): the count
    // of claimers is the caller's to keep.
  }

  /**
   * Forgets a completed command.
   *
   * @param p the command
   * @param resultType the untagged type it returns, or null
   * @param claim its claim, or null
   */
  remove(p: P, resultType: string | null, claim: Claim | null): void {
    // One exit at the end (V8 optimises a function sooner when its calls run to its end).
    if (resultType === null) {
      // Nothing was recorded.
    } else if (claim === null) {
      const c = (this._unclaimed.get(resultType) ?? 1) - 1;
      if (c === 0) this._unclaimed.delete(resultType);
      else this._unclaimed.set(resultType, c);
    } else if (this._solo === p) {
      this._solo = this._soloClaim = null;
      this.claimers--;
    } else if (claim.single >= 0) {
      const m = this._singles[claim.byUid ? 1 : 0];
      if (m.get(claim.single) === p && m.delete(claim.single)) this.claimers--;
    } else if (this._multi.delete(p)) this.claimers--;
  }

  /** Forgets everything. */
  clear(): void {
    this._unclaimed.clear();
    this._singles[0].clear();
    this._singles[1].clear();
    this._multi.clear();
    this.claimers = 0;
    this._solo = this._soloClaim = null;
  }

  /**
   * Whether a command returning `resultType` with `claim` must wait for a pending one.
   *
   * @param resultType the untagged type it returns, or null
   * @param claim its claim, or null
   * @returns true when its data could be mistaken for a pending command's
   */
  conflicts(resultType: string | null, claim: Claim | null): boolean {
    if (resultType === null) return false;
    if (this._unclaimed.has(resultType)) return true;
    if (resultType !== "FETCH" || this.claimers === 0) return false;
    if (claim === null) return true;
    this.#index();
    const mine = this._singles[claim.byUid ? 1 : 0];
    const other = this._singles[claim.byUid ? 0 : 1];
    if (other.size > 0) return true;
    // Guarded: an iterator is garbage for every one of thousands of commands issued at once.
    if (this._multi.size > 0) {
      for (const c of this._multi.values()) if (overlap(claim, c)) return true;
    }
    const n = claim.single;
    if (n >= 0) return mine.has(n);
    for (const k of mine.keys()) if (has(claim, k)) return true;
    return false;
  }

  /**
   * The pending command that claims a message, if any.
   *
   * @param byUid whether `n` is a UID
   * @param n the message's number or UID
   * @returns the command and its claim
   */
  owner(byUid: boolean, n: number): P | undefined {
    this.#index();
    const p = this._singles[byUid ? 1 : 0].get(n);
    if (p !== undefined) return p;
    for (const [q, c] of this._multi) if (c.byUid === byUid && has(c, n)) return q;
    return undefined;
  }

  /**
   * Whether any claim is by UID (then a FETCH answer's UID must be read to route it).
   *
   * @returns true when some pending command claims UIDs
   */
  anyByUid(): boolean {
    this.#index();
    if (this._singles[1].size > 0) return true;
    for (const c of this._multi.values()) if (c.byUid) return true;
    return false;
  }

  /**
   * Whether any claim is by sequence number.
   *
   * @returns true when some pending command claims sequence numbers
   */
  anyBySeq(): boolean {
    this.#index();
    if (this._singles[0].size > 0) return true;
    for (const c of this._multi.values()) if (!c.byUid) return true;
    return false;
  }
}

/**
 * The UID a FETCH response reports: the first `UID n` (any case) after `(` or a space, as the
 * regular expression `/[( ]UID (\d+)/i` would find it, or -1. Asked of every answer to
 * pipelined UID FETCHes.
 */
export function uidOf(text: string): number {
  // As servers write it, UID first: `* n FETCH (UID u ...`. No match can start earlier: before
  // the "(" there are only "* ", one word without a space, and "FETCH".
  const m = UID_FIRST.exec(text);
  return m === null ? uidAnywhere(text) : Number(m[1]);
}

/** {@link uidOf}'s common case, checked once at the start of the line, case-sensitive. */
const UID_FIRST = /^(?:\* )?[^ ]+ FETCH \(UID (\d+)/;

/**
 * {@link uidOf} for any line: a loop over the characters (the case-insensitive expression cost
 * more). Kept off the common path: a loop run on every answer is soon compiled by V8's top tier,
 * which takes a core for 10 ms beside a server that needs it.
 */
function uidAnywhere(text: string): number {
  const n = text.length;
  let uid = -1;
  for (let i = 1; i + 4 < n && uid < 0; i++) {
    if ((text.charCodeAt(i) | 0x20) !== 0x75) continue;
    const before = text.charCodeAt(i - 1);
    if (
      (before !== 0x28 && before !== 0x20) || (text.charCodeAt(i + 1) | 0x20) !== 0x69 ||
      (text.charCodeAt(i + 2) | 0x20) !== 0x64 || text.charCodeAt(i + 3) !== 0x20
    ) continue;
    let end = i + 4;
    while (end < n && isDigit(text.charCodeAt(end))) end++;
    if (end > i + 4) uid = Number(text.slice(i + 4, end));
  }
  return uid;
}
