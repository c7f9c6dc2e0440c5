/**
 * Grammar-named decoding of response data (RFC 3501 §9) for the typed layer: FETCH attributes,
 * envelopes, body structures, LIST and STATUS lines, and UID response codes. Nesting depth is
 * bounded and sequence sets are kept as ranges, never expanded.
 *
 * @module
 */

import { IMAP4Error } from "../errors.ts";
import type { Datum } from "../datum.ts";
import { parseSequenceSet, type SequenceRange } from "../../utils/sequence_set.ts";
import { decodeMailboxName } from "../../utils/utf7.ts";

/** A decoded value: an atom or string, a number (kept as text), NIL, a literal, or a list. */
export type Value = string | null | Uint8Array | Value[];

/** The deepest nesting accepted in any structure (body structures nest a few levels). */
export const MAX_DEPTH = 64;

/** An address of an envelope (RFC 3501 §7.4.2). */
export interface Address {
  /** Display name. */
  name: string | null;
  /** Source route (obsolete). */
  adl: string | null;
  /** Mailbox (local part), or the group name. */
  mailbox: string | null;
  /** Host, or null for group syntax. */
  host: string | null;
}

/** A message envelope (RFC 3501 §7.4.2). */
export interface Envelope {
  /** The Date header. */
  date: string | null;
  /** The Subject header, undecoded. */
  subject: string | null;
  /** From addresses. */
  from: Address[];
  /** Sender addresses. */
  sender: Address[];
  /** Reply-To addresses. */
  replyTo: Address[];
  /** To addresses. */
  to: Address[];
  /** Cc addresses. */
  cc: Address[];
  /** Bcc addresses. */
  bcc: Address[];
  /** In-Reply-To. */
  inReplyTo: string | null;
  /** Message-ID. */
  messageId: string | null;
}

/** One message's FETCH data, typed. */
export interface FetchResult {
  /** The message sequence number. */
  seq: number;
  /** UID. */
  uid?: number;
  /** FLAGS. */
  flags?: string[];
  /** RFC822.SIZE. */
  size?: number;
  /** INTERNALDATE as sent. */
  internalDate?: string;
  /** MODSEQ (RFC 7162). */
  modseq?: bigint;
  /** ENVELOPE. */
  envelope?: Envelope;
  /** BODYSTRUCTURE or BODY, as nested values. */
  bodyStructure?: Value[];
  /** Body sections by their name as sent, e.g. `BODY[]`, `BODY[HEADER]`, `RFC822`. */
  sections: Record<string, Uint8Array | null>;
  /** Every attribute as decoded, by upper-cased name. */
  raw: Record<string, Value>;
}

/** A LIST or LSUB line, typed. */
export interface ListResult {
  /** Attributes such as `\HasNoChildren`, `\Sent`. */
  attributes: string[];
  /** The hierarchy delimiter, or null. */
  delimiter: string | null;
  /** The name as sent (modified UTF-7 unless UTF-8 is enabled). */
  name: string;
  /** The name decoded from modified UTF-7 (equal to `name` when it is not valid UTF-7). */
  decodedName: string;
}

/** COPYUID / APPENDUID data (RFC 4315), as ranges. */
export interface UidCode {
  /** The destination's UIDVALIDITY. */
  uidValidity: number;
  /** The source UIDs (COPYUID only). */
  source: SequenceRange[];
  /** The destination UIDs. */
  dest: SequenceRange[];
}

/**
 * A decoder over one response's text and literals with a sticky first error, in the style of
 * go-imap's: each method reads a grammar production at the current position.
 */
export class Decoder {
  #segments: string[];
  #literals: Uint8Array[];
  #seg = 0;
  #pos = 0;
  #context: string;

  /**
   * Creates a decoder over line parts and the literals between them.
   *
   * @param segments line parts (`segments[i]` ends with `{n}` when `literals[i]` follows it)
   * @param literals the literal bytes
   * @param context what is being parsed, for error messages
   */
  constructor(segments: string[], literals: Uint8Array[], context = "response") {
    this.#segments = segments;
    this.#literals = literals;
    this.#context = context;
  }

  /**
   * Creates a decoder over imaplib data items of one response.
   *
   * @param items the items (strings and `[line, literal]` pairs)
   * @param context what is being parsed
   * @returns the decoder
   */
  static fromData(items: Datum[], context?: string): Decoder {
    const segments: string[] = [];
    const literals: Uint8Array[] = [];
    for (const it of items) {
      if (it === null) continue;
      if (typeof it === "string") segments.push(it);
      else {
        segments.push(it[0]);
        literals.push(it[1]);
      }
    }
    if (segments.length === literals.length) segments.push("");
    return new Decoder(segments, literals, context);
  }

  get #text(): string {
    return this.#segments[this.#seg] ?? "";
  }

  /** Throws a parse error at the current position. */
  fail(expected: string): never {
    const text = this.#text;
    throw new IMAP4Error(
      `Cannot parse ${this.#context}: expected ${expected} at offset ${this.#pos}: ${
        JSON.stringify(text.slice(Math.max(0, this.#pos - 20), this.#pos + 40))
      }`,
    );
  }

  /** Whether all input was read. */
  get atEnd(): boolean {
    return this.#seg >= this.#segments.length - 1 && this.#pos >= this.#text.length;
  }

  /** The next character, or "" at the end of a segment. */
  peek(): string {
    return this.#text[this.#pos] ?? "";
  }

  /** Skips one space if there is one. */
  sp(): boolean {
    if (this.peek() === " ") {
      this.#pos++;
      return true;
    }
    return false;
  }

  /** Reads `ch` or fails. */
  expect(ch: string): void {
    if (this.peek() !== ch) this.fail(JSON.stringify(ch));
    this.#pos++;
  }

  /** Reads a number (digits), as text. */
  number(): string {
    const text = this.#text;
    const start = this.#pos;
    while (
      this.#pos < text.length && text.charCodeAt(this.#pos) >= 48 &&
      text.charCodeAt(this.#pos) <= 57
    ) {
      this.#pos++;
    }
    if (this.#pos === start) this.fail("a number");
    return text.slice(start, this.#pos);
  }

  /** Reads a 32-bit unsigned number (nz-number or number). */
  number32(): number {
    const s = this.number();
    const n = s.length > 10 ? Infinity : Number(s);
    if (n > 0xffffffff) this.fail("a number below 2^32");
    return n;
  }

  /** Reads an atom (and, for FETCH names, a bracketed section and a `<partial>`). */
  atom(withSection = false): string {
    const text = this.#text;
    const start = this.#pos;
    for (;;) {
      const c = text[this.#pos];
      if (c === undefined || c === " " || c === "(" || c === ")" || c === '"' || c === "{") break;
      if (c === "[" && withSection) {
        // A section: read to its matching "]" (it may hold a parenthesised field list).
        const close = text.indexOf("]", this.#pos);
        if (close === -1) this.fail('"]"');
        this.#pos = close + 1;
        continue;
      }
      if (c === "]" && !withSection) break;
      this.#pos++;
    }
    if (this.#pos === start) this.fail("an atom");
    return text.slice(start, this.#pos);
  }

  /** Reads a quoted string. */
  quoted(): string {
    this.expect('"');
    const text = this.#text;
    let out = "";
    let from = this.#pos;
    for (;;) {
      const c = text[this.#pos];
      if (c === undefined) this.fail("a closing '\"'");
      if (c === '"') break;
      if (c === "\\") {
        out += text.slice(from, this.#pos);
        this.#pos++;
        from = this.#pos;
      }
      this.#pos++;
    }
    out += text.slice(from, this.#pos);
    this.#pos++;
    return out;
  }

  /** Reads a literal: `{n}` at the end of this segment, then its bytes. */
  literal(): Uint8Array {
    const text = this.#text;
    const m = /^~?\{(\d+)\}$/.exec(text.slice(this.#pos));
    if (!m || this.#seg >= this.#literals.length) this.fail("a literal");
    const lit = this.#literals[this.#seg];
    this.#seg++;
    this.#pos = 0;
    return lit;
  }

  /** Reads an nstring: NIL, a quoted string or a literal (decoded as UTF-8). */
  nstring(): string | null {
    const v = this.value(0);
    if (v === null || typeof v === "string") return v;
    if (v instanceof Uint8Array) return new TextDecoder().decode(v);
    return this.fail("an nstring");
  }

  /**
   * Reads any value: NIL, a number or atom, a quoted string, a literal, or a list.
   *
   * @param depth the current nesting depth
   * @returns the value
   */
  value(depth: number): Value {
    const c = this.peek();
    if (c === "(") return this.list(depth + 1);
    if (c === '"') return this.quoted();
    if (c === "{" || c === "~") return this.literal();
    const a = this.atom(true);
    return a.toUpperCase() === "NIL" ? null : a;
  }

  /**
   * Reads a parenthesised list of values.
   *
   * @param depth the nesting depth of this list
   * @returns the values
   */
  list(depth: number): Value[] {
    if (depth > MAX_DEPTH) this.fail(`nesting no deeper than ${MAX_DEPTH}`);
    this.expect("(");
    const out: Value[] = [];
    while (this.peek() !== ")") {
      // Address lists put their elements side by side, "((...)(...))": the space is optional.
      if (out.length > 0) this.sp();
      if (this.peek() === ")") break;
      out.push(this.value(depth));
    }
    this.expect(")");
    return out;
  }
}

function str(v: Value | undefined): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return null;
}

function addresses(v: Value | undefined): Address[] {
  if (!Array.isArray(v)) return [];
  return v.filter(Array.isArray).map((a) => {
    const f = a as Value[];
    return { name: str(f[0]), adl: str(f[1]), mailbox: str(f[2]), host: str(f[3]) };
  });
}

/**
 * Decodes an ENVELOPE value.
 *
 * @param v the decoded list
 * @returns the envelope
 */
export function toEnvelope(v: Value): Envelope {
  const f = Array.isArray(v) ? v : [];
  return {
    date: str(f[0]),
    subject: str(f[1]),
    from: addresses(f[2]),
    sender: addresses(f[3]),
    replyTo: addresses(f[4]),
    to: addresses(f[5]),
    cc: addresses(f[6]),
    bcc: addresses(f[7]),
    inReplyTo: str(f[8]),
    messageId: str(f[9]),
  };
}

/**
 * Decodes one message's FETCH data as `fetch()` or `fetchStream()` return it
 * (`"12 (UID 7 FLAGS (\\Seen) BODY[] {342}"`, literal, `")"`).
 *
 * @param items the data items of one FETCH response
 * @returns the typed result
 * @throws IMAP4Error when the data does not follow the FETCH grammar
 * @example
 * ```ts
 * import { parseFetch } from "./decoder.ts";
 * const r = parseFetch(["3 (UID 17 FLAGS (\\Seen) RFC822.SIZE 420)"]);
 * console.assert(r.uid === 17 && r.flags?.[0] === "\\Seen");
 * ```
 */
export function parseFetch(items: Datum[]): FetchResult {
  const d = Decoder.fromData(items, "FETCH response");
  const seq = d.number32();
  d.expect(" ");
  d.expect("(");
  const result: FetchResult = { seq, sections: {}, raw: {} };
  let first = true;
  while (d.peek() !== ")") {
    if (!first) d.expect(" ");
    first = false;
    const name = d.atom(true);
    d.expect(" ");
    const upper = name.toUpperCase();
    switch (upper) {
      case "UID":
        result.uid = d.number32();
        result.raw[upper] = String(result.uid);
        continue;
      case "RFC822.SIZE":
        result.size = Number(d.number());
        result.raw[upper] = String(result.size);
        continue;
      case "MODSEQ": {
        d.expect("(");
        result.modseq = BigInt(d.number());
        d.expect(")");
        result.raw[upper] = String(result.modseq);
        continue;
      }
    }
    const v = d.value(0);
    result.raw[upper] = v;
    if (upper === "FLAGS") {
      result.flags = Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
    } else if (upper === "INTERNALDATE") result.internalDate = str(v) ?? undefined;
    else if (upper === "ENVELOPE") result.envelope = toEnvelope(v);
    else if (upper === "BODYSTRUCTURE" || upper === "BODY") {
      if (Array.isArray(v)) result.bodyStructure = v;
    } else if (/^(BODY|BINARY)(\.PEEK)?\[|^RFC822(\.HEADER|\.TEXT)?$/.test(upper)) {
      result.sections[name] = v === null
        ? null
        : v instanceof Uint8Array
        ? v
        : new TextEncoder().encode(typeof v === "string" ? v : "");
    }
  }
  d.expect(")");
  return result;
}

/**
 * Decodes a LIST or LSUB line as `list()` returns it (`(\HasNoChildren) "/" INBOX`).
 *
 * @param item one data item of `list()`
 * @returns the typed result
 * @throws IMAP4Error when the line does not follow the grammar
 */
export function parseList(item: Datum): ListResult {
  const d = Decoder.fromData([item], "LIST response");
  const attrs = d.list(1);
  d.expect(" ");
  const delim = d.peek() === '"' ? d.quoted() : (d.atom(), null);
  d.expect(" ");
  const v = d.value(0);
  const name = str(v) ?? "";
  let decodedName = name;
  try {
    decodedName = decodeMailboxName(name);
  } catch {
    // Not valid modified UTF-7 (e.g. UTF-8 names after ENABLE UTF8=ACCEPT): keep it as sent.
  }
  return {
    attributes: attrs.filter((a): a is string => typeof a === "string"),
    delimiter: delim,
    name,
    decodedName,
  };
}

/**
 * Decodes a STATUS line as `status()` returns it (`INBOX (MESSAGES 3 UNSEEN 1)`).
 *
 * @param item one data item of `status()`
 * @returns the mailbox and its counters
 * @throws IMAP4Error when the line does not follow the grammar
 */
export function parseStatus(item: Datum): { mailbox: string; counts: Record<string, bigint> } {
  const d = Decoder.fromData([item], "STATUS response");
  const mailbox = str(d.value(0)) ?? "";
  d.expect(" ");
  const list = d.list(1);
  const counts: Record<string, bigint> = {};
  for (let i = 0; i + 1 < list.length; i += 2) {
    const k = list[i];
    const v = list[i + 1];
    if (typeof k !== "string" || typeof v !== "string" || !/^\d+$/.test(v)) {
      return d.fail("a STATUS attribute and number");
    }
    counts[k.toUpperCase()] = BigInt(v);
  }
  return { mailbox, counts };
}

/**
 * Decodes COPYUID (`38505 304,319:320 3956:3958`) or APPENDUID (`38505 3955`) data, keeping the
 * UID sets as ranges (a range bomb like `1:4294967295` costs nothing).
 *
 * @param data the code's data, as `response("COPYUID")` gives it
 * @returns the typed code
 * @throws IMAP4Error when it does not follow RFC 4315
 */
export function parseUidCode(data: string): UidCode {
  const parts = data.trim().split(" ");
  const fail = () => {
    throw new IMAP4Error(`Cannot parse UIDPLUS code: ${JSON.stringify(data.slice(0, 200))}`);
  };
  if (parts.length < 2 || parts.length > 3 || !/^\d{1,10}$/.test(parts[0])) fail();
  const uidValidity = Number(parts[0]);
  if (uidValidity > 0xffffffff) fail();
  try {
    if (parts.length === 2) return { uidValidity, source: [], dest: parseSequenceSet(parts[1]) };
    return { uidValidity, source: parseSequenceSet(parts[1]), dest: parseSequenceSet(parts[2]) };
  } catch {
    return fail();
  }
}
