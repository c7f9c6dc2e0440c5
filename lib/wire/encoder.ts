/**
 * Encoding of command arguments: each one goes as an atom, a quoted string or a literal, chosen by
 * its content, so that nothing a caller passes can change the shape of the command. NUL, CR and LF
 * never travel outside a literal.
 *
 * @module
 */

import { concatBytes, latin1, POOLED_BYTES_MAX, pooledBytes } from "../../utils/bytes.ts";
import { encodeMailboxName } from "../../utils/utf7.ts";

/** A mailbox name: encoded in modified UTF-7 when it is not ASCII (unless UTF-8 is enabled). */
export interface MailboxArg {
  /** Discriminator. */
  readonly type: "mailbox";
  /** The name as the user gave it. */
  readonly value: string;
}

/** A secret (a LOGIN password): always quoted or sent as a literal, and masked in logs. */
export interface SecretArg {
  /** Discriminator. */
  readonly type: "secret";
  /** The secret. */
  readonly value: string;
}

/**
 * Bytes that always travel as a synchronising literal (an APPEND message), so that a server
 * that refuses them with NO before `+` never receives them.
 */
export interface MessageArg {
  /** Discriminator. */
  readonly type: "message";
  /** The bytes. */
  readonly value: Uint8Array;
  /** Text placed right before the literal marker, e.g. `UTF8 (` (RFC 6855). */
  readonly prefix?: string;
  /** Text placed right after the literal, e.g. `)`. */
  readonly suffix?: string;
  /** Use `~{n}` (literal8, RFC 3516 / RFC 6855). */
  readonly binary?: boolean;
}

/**
 * One command argument. A string is sent as an atom when it can be, quoted when it must be, and as
 * a literal when it holds non-ASCII text; a string already in `()` or `""` is sent as it is. A
 * `Uint8Array` is always a literal. `null` and `undefined` are skipped, as imaplib skips `None`.
 */
export type Arg =
  | string
  | number
  | Uint8Array
  | null
  | undefined
  | MailboxArg
  | SecretArg
  | MessageArg;

/** What the encoder may use, from the server's capabilities and the session's state. */
export interface EncodeOptions {
  /** UTF8=ACCEPT is enabled: UTF-8 may travel in quoted strings (RFC 6855). */
  utf8?: boolean;
  /** LITERAL+ is advertised: literals need not wait for `+` (RFC 7888). */
  literalPlus?: boolean;
  /** LITERAL- is advertised: literals up to 4096 bytes need not wait for `+` (RFC 7888). */
  literalMinus?: boolean;
}

/** A piece of a command to write; when `waitAfter`, the server's `+` must come before the next. */
export interface CommandChunk {
  /** The bytes to write. */
  bytes: Uint8Array;
  /** Whether to wait for a continuation request after writing these bytes. */
  waitAfter: boolean;
}

/** An encoded command, ready to write, plus a log form with secrets masked. */
export interface EncodedCommand {
  /** The chunks, to be written in order. */
  readonly chunks: CommandChunk[];
  /** The command as text for logs: literals summarised, secrets replaced by `***`. */
  readonly log: string;
  /** The whole command when it is one chunk (nothing to wait for), else null. */
  readonly line: Uint8Array | null;
}

/**
 * A command of one line sent as it reads, whose log is that text: it is made only if asked for.
 * (Built along, it was a chain of strings per command, garbage by the thousand for commands
 * issued at once.) It holds nothing but its line, so a log may keep it instead of its text.
 */
export class OneLine implements EncodedCommand {
  readonly line: Uint8Array;

  constructor(line: Uint8Array) {
    this.line = line;
  }

  get chunks(): CommandChunk[] {
    return [{ bytes: this.line, waitAfter: false }];
  }

  get log(): string {
    return latin1(this.line.subarray(0, this.line.length - 2));
  }
}

const textEncoder = new TextEncoder();
/**
 * A command line's bytes with its CRLF. Command lines are short and almost always ASCII: copying
 * the characters beats a call into the runtime's encoder and a second array for the CRLF.
 */
function lineBytes(text: string): Uint8Array {
  const n = text.length;
  const out = pooledBytes(n + 2);
  // A loop, not the runtime's encodeInto: between a server's answer and the next command the
  // caches are cold, and a short loop touches far less code than the encoder's argument checks
  // and runtime call (measured: 3 µs against 4-7 µs in a fresh process).
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) return textEncoder.encode(text + "\r\n");
    out[i] = c;
  }
  out[n] = 0x0d;
  out[n + 1] = 0x0a;
  return out;
}

/** Bytes that may appear in an atom sent as it is (see {@link isAtomSafe}). */
const ATOM_SAFE = (() => {
  const t = new Uint8Array(128);
  for (let c = 0x21; c < 0x7f; c++) t[c] = 1;
  for (const ch of '(){"\\') t[ch.charCodeAt(0)] = 0;
  return t;
})();

/**
 * Whether `s` can be sent without quoting: printable ASCII without space, `(`, `)`, `{`, `"`
 * and `\`, except that a flag's leading `\` is allowed (`\Seen`).
 *
 * @param s the argument
 * @returns true when it may travel as an atom
 */
export function isAtomSafe(s: string): boolean {
  if (s.length === 0) return false;
  let i = s.charCodeAt(0) === 0x5c && s.length > 1 ? 1 : 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || ATOM_SAFE[c] === 0) return false;
  }
  return true;
}

/**
 * Quotes `s` as an IMAP quoted string: `\` and `"` escaped. (imaplib's `_quote`.)
 *
 * @param s printable text without CR, LF or NUL
 * @returns the quoted string
 */
export function quoteString(s: string): string {
  return '"' + s.replace(/[\\"]/g, "\\$&") + '"';
}

/** {@link scanText}: every character is ASCII. */
const ASCII = 1;
/** {@link scanText}: the text may travel as an atom (see {@link isAtomSafe}). */
const ATOM = 2;

/**
 * Refuses what must never travel outside a literal (CR, LF, NUL) and lone surrogates (not
 * Unicode: TextEncoder would silently send U+FFFD instead), and says in the same pass whether the
 * text is ASCII and whether it is atom-safe: one loop over the characters, not three. (No
 * regular expression first: the loop over a few characters touches less code, which counts more
 * than instructions between a server's answer and the next command.)
 *
 * @returns {@link ASCII} and {@link ATOM} flags
 */
function scanText(s: string, index: number, name: string): number {
  const n = s.length;
  let ascii = true;
  // A flag's leading backslash is allowed in an atom (`\Seen`).
  let atom = n > 0;
  for (let i = n > 1 && s.charCodeAt(0) === 0x5c ? 1 : 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (ATOM_SAFE[c] === 1) continue;
      if (c === 0x0d || c === 0x0a || c === 0) throw forbidden(index, name);
      atom = false;
      continue;
    }
    ascii = atom = false;
    if (c < 0xd800 || c > 0xdfff) continue;
    // A high surrogate followed by a low one is a pair; anything else is a lone surrogate.
    if (c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    throw new TypeError(`${describe(index, name)} contains a lone surrogate (not Unicode)`);
  }
  return (ascii ? ASCII : 0) | (atom ? ATOM : 0);
}

/**
 * Refuses CR, LF, NUL and lone surrogates (see {@link scanText}).
 *
 * @returns whether `s` is all ASCII
 */
function checkText(s: string, index: number, name: string): boolean {
  return (scanText(s, index, name) & ASCII) !== 0;
}
const LITERAL_MARKER_AT_END = /~?\{\d+\+?\}$/;

function describe(index: number, name: string): string {
  return `${name} argument ${index + 1}`;
}

/** The error for CR, LF or NUL in a string argument. */
function forbidden(index: number, name: string): TypeError {
  return new TypeError(
    `${describe(index, name)} contains a CR, LF or NUL character; ` +
      "pass a Uint8Array to send it as a literal",
  );
}

/**
 * Encodes a command: its tag, name and arguments.
 *
 * @param tag the tag
 * @param name the command name (one or more atoms, e.g. `UID FETCH`)
 * @param args the arguments
 * @param options what the session allows
 * @returns the chunks to write and a masked log line
 * @throws TypeError when an argument cannot be sent safely (nothing is written then)
 */
export function encodeCommand(
  tag: string,
  name: string,
  args: readonly Arg[],
  options: EncodeOptions = {},
): EncodedCommand {
  // Most commands are a tag, a name and strings that go as they are (atoms, lists, quoted
  // strings): their bytes are written in the pass that checks them, into a buffer of the exact
  // size. Anything else takes the general path below.
  let size = tag.length + name.length + 3;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    size = typeof arg === "string" ? size + arg.length + 1 : -1;
    if (size < 0) break;
  }
  if (size > 0 && size <= POOLED_BYTES_MAX) {
    const out = pooledBytes(size);
    let at = copyAscii(tag, out, 0);
    if (at >= 0) {
      out[at++] = 0x20;
      at = copyName(name, out, at);
    }
    for (let i = 0; i < args.length && at >= 0; i++) {
      out[at++] = 0x20;
      const arg = args[i] as string;
      // A parenthesised list (`(FLAGS)`, `(\\Seen)`) comes back as it was, command after command.
      const list = arg.charCodeAt(0) === 0x28;
      const known = list ? LIST_BYTES.get(arg) : undefined;
      if (known === undefined) {
        const from = at;
        at = copyArgument(arg, out, at, i, name);
        if (list && at >= 0 && LIST_KNOWN.test(arg)) remember(LIST_BYTES, arg, out.slice(from, at));
      } else {
        out.set(known, at);
        at += known.length;
      }
    }
    if (at >= 0) {
      out[at] = 0x0d;
      out[at + 1] = 0x0a;
      return new OneLine(out);
    }
  }
  return encodeGeneral(tag, name, args, options);
}

/**
 * Copies `s` into `out` at `at` when it is all ASCII; returns where it ends, or -1 (nothing
 * else may be assumed written) when it is not.
 */
/**
 * The bytes of the command names seen (`UID FETCH`), and of the parenthesised lists of atoms
 * (`(FLAGS)`, `(\\Seen)`): the same few come back command after command, and copying their bytes
 * by one call, rather than by a loop over the characters, counts until V8 has optimised that loop
 * (thousands of instructions a command in the first few hundred).
 */
const NAME_BYTES = new Map<string, Uint8Array>();
const LIST_BYTES = new Map<string, Uint8Array>();
/** Lists kept in {@link LIST_BYTES}: short, and no quoted string (text a caller may not want kept). */
const LIST_KNOWN = /^\([^"]{0,62}\)$/;
/** A bound on each of those: the library's own names and lists are fewer; xatom's are the caller's. */
const KNOWN_MAX = 128;

function remember(known: Map<string, Uint8Array>, text: string, bytes: Uint8Array): void {
  if (known.size < KNOWN_MAX) known.set(text, bytes);
}

/** {@link copyAscii} for a command name, by {@link NAME_BYTES}. */
function copyName(name: string, out: Uint8Array, at: number): number {
  const bytes = NAME_BYTES.get(name);
  if (bytes === undefined) {
    const end = copyAscii(name, out, at);
    if (end >= 0) remember(NAME_BYTES, name, out.slice(at, end));
    return end;
  }
  out.set(bytes, at);
  return at + bytes.length;
}

function copyAscii(s: string, out: Uint8Array, at: number): number {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    out[at + i] = c;
  }
  return at + n;
}

/**
 * Copies a string argument into `out` at `at` when it goes as it is (an atom, or a list or
 * quoted string passed whole), checking it in the same pass as {@link encodeString} would;
 * returns where it ends, or -1 when it needs quoting or a literal (the general path).
 *
 * @throws TypeError as {@link encodeString} does
 */
function copyArgument(s: string, out: Uint8Array, at: number, index: number, name: string): number {
  const n = s.length;
  // A flag's leading backslash is allowed in an atom (`\Seen`).
  let atom = n > 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    out[at + i] = c;
    if (ATOM_SAFE[c] === 1 || (i === 0 && c === 0x5c && n > 1)) continue;
    if (c === 0x0d || c === 0x0a || c === 0) throw forbidden(index, name);
    atom = false;
  }
  return atom || isRawForm(s, index, name) ? at + n : -1;
}

/**
 * Whether `s` is already a list or a quoted string, sent as it is (as the imaplib 2.4
 * documentation says).
 *
 * @throws TypeError when it hides a literal marker: it ends in `)` or `"`, so the marker could
 *   only sit right before that
 */
function isRawForm(s: string, index: number, name: string): boolean {
  const n = s.length;
  if (n < 2) return false;
  const first = s.charCodeAt(0);
  const last = s.charCodeAt(n - 1);
  if ((first !== 0x28 || last !== 0x29) && (first !== 0x22 || last !== 0x22)) return false;
  if (s.charCodeAt(n - 2) === 0x7d && LITERAL_MARKER_AT_END.test(s.slice(0, -1))) {
    throw new TypeError(`${describe(index, name)} hides a literal marker: ${JSON.stringify(s)}`);
  }
  return true;
}

/** {@link encodeCommand} for any arguments. */
function encodeGeneral(
  tag: string,
  name: string,
  args: readonly Arg[],
  options: EncodeOptions,
): EncodedCommand {
  let text = tag + " " + name;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === null || arg === undefined) continue;
    const out = typeof arg === "string"
      ? encodeString(arg, i, name, options)
      : typeof arg === "number"
      ? encodeNumber(arg, i, name)
      : null;
    if (out === null) return encodeFrom(text, i, name, args, options);
    text += " " + out;
  }
  const bytes = lineBytes(text);
  return { chunks: [{ bytes, waitAfter: false }], log: text, line: bytes };
}

/** A number argument as text. */
function encodeNumber(arg: number, index: number, name: string): string {
  if (!Number.isSafeInteger(arg) || arg < 0) {
    throw new TypeError(`${describe(index, name)} is not a non-negative integer: ${arg}`);
  }
  return String(arg);
}

/**
 * {@link encodeCommand} from argument `from` on, `head` being the line so far: literals (each
 * ending a chunk), secrets (masked in the log) and mailbox names.
 */
function encodeFrom(
  head: string,
  from: number,
  name: string,
  args: readonly Arg[],
  options: EncodeOptions,
): EncodedCommand {
  const chunks: CommandChunk[] = [];
  let pieces: Uint8Array[] = [];
  let text = head;
  let log = head;

  const flush = (waitAfter: boolean) => {
    pieces.push(lineBytes(text));
    chunks.push({ bytes: concatBytes(pieces), waitAfter });
    pieces = [];
    text = "";
  };
  const literal = (bytes: Uint8Array, sync: boolean, binary = false, secret = false) => {
    const nonSync = !sync &&
      (options.literalPlus === true || (options.literalMinus === true && bytes.length <= 4096));
    const marker = `${binary ? "~" : ""}{${bytes.length}${nonSync ? "+" : ""}}`;
    text += marker;
    log += marker + (secret ? "\r\n***" : `\r\n<${bytes.length} bytes>`);
    flush(!nonSync);
    pieces.push(bytes);
  };

  for (let i = from; i < args.length; i++) {
    const arg = args[i];
    if (arg === null || arg === undefined) continue;
    text += " ";
    log += " ";
    if (arg instanceof Uint8Array) {
      literal(arg, false);
      continue;
    }
    if (typeof arg === "number") {
      const out = encodeNumber(arg, i, name);
      text += out;
      log += out;
      continue;
    }
    if (typeof arg === "string") {
      const out = encodeString(arg, i, name, options);
      if (out === null) literal(textEncoder.encode(arg), false);
      else {
        text += out;
        log += out;
      }
      continue;
    }
    switch (arg.type) {
      case "message": {
        // Internal fields, but nothing may reach the wire unchecked.
        checkText((arg.prefix ?? "") + (arg.suffix ?? ""), i, name);
        if (arg.prefix) {
          text += arg.prefix;
          log += arg.prefix;
        }
        literal(arg.value, true, arg.binary === true);
        if (arg.suffix) {
          text += arg.suffix;
          log += arg.suffix;
        }
        break;
      }
      case "secret": {
        checkText(arg.value, i, name);
        if (/^[\x20-\x7e]*$/.test(arg.value) || options.utf8) {
          text += quoteString(arg.value);
          log += '"***"';
        } else {
          literal(textEncoder.encode(arg.value), false, false, true);
        }
        break;
      }
      case "mailbox": {
        let value = arg.value;
        // Checked before UTF-7, which would hide CR, LF and NUL inside its base64.
        const ascii = checkText(value, i, name);
        if (!options.utf8 && !ascii) value = encodeMailboxName(value);
        const out = encodeString(value, i, name, options);
        if (out === null) literal(textEncoder.encode(value), false);
        else {
          text += out;
          log += out;
        }
        break;
      }
    }
  }
  pieces.push(lineBytes(text));
  const last = concatBytes(pieces);
  chunks.push({ bytes: last, waitAfter: false });
  return { chunks, log, line: chunks.length === 1 ? last : null };
}

/**
 * Encodes a string argument as an atom, a quoted string or (returning null) a literal.
 *
 * @throws TypeError for CR, LF or NUL, or a raw argument that ends in a literal marker
 */
function encodeString(
  s: string,
  index: number,
  name: string,
  options: EncodeOptions,
): string | null {
  const kind = scanText(s, index, name);
  if (isRawForm(s, index, name) || (kind & ATOM) !== 0) return s;
  if ((kind & ASCII) !== 0 || options.utf8) return quoteString(s);
  // Non-ASCII text cannot travel in a quoted string before UTF8=ACCEPT: a literal carries it.
  return null;
}
