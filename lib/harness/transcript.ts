/**
 * The transcript format of DESIGN §6: a session exactly as the wire carried it.
 *
 * Each line begins with `S: ` (server) or `C: ` (client) and ends in the line ending that was
 * sent; a line ending in `{n}` or `{n+}` is followed by exactly n literal bytes, with no prefix.
 * Text after a literal (the rest of the command or response) is a new line with the same prefix.
 * Lines starting with `#` are comments and metadata (`# server: dovecot 2.3.19`); empty lines are
 * kept as they are. Parsing then writing gives back the same bytes.
 *
 * Metadata the harness understands:
 * - `# server: NAME VERSION`, `# recorded: ISO-DATE`, `# transport: tcp|tls|stream`: informative.
 * - `# wait: MS`: the replay server pauses MS milliseconds before sending the lines after it.
 * - `# starttls`: both sides switch to TLS here (written after the server's OK to STARTTLS).
 *
 * Secrets: the recorder replaces a LOGIN password, an AUTHENTICATE initial response and every
 * AUTHENTICATE payload line by {@link SECRET_MARKER}; replay accepts any value in its place.
 *
 * @module
 */

import { joinBytes } from "./_shared.ts";

/** Stands for a redacted secret: a whole argument, a whole payload line, or a literal's bytes. */
export const SECRET_MARKER = "<redacted>";

/** Which peer sent a line. */
export type Side = "S" | "C";

/** One wire line of a transcript, with the literal that follows it, if any. */
export interface TranscriptLine {
  /** Discriminant. */
  kind: "line";
  /** `"S"` for the server, `"C"` for the client. */
  side: Side;
  /** The line's bytes after the `S: `/`C: ` prefix, including its line ending (if it had one). */
  line: Uint8Array;
  /** The n bytes after a line ending in `{n}` or `{n+}`. */
  literal?: Uint8Array;
  /** 1-based line number in the file where this line starts (0 when built in memory). */
  lineNumber: number;
}

/** A comment, a metadata line or an empty line, kept byte for byte. */
export interface TranscriptComment {
  /** Discriminant. */
  kind: "comment";
  /** The whole line as in the file, including `#` and the line ending. */
  raw: Uint8Array;
  /** 1-based line number in the file (0 when built in memory). */
  lineNumber: number;
}

/** An item of a transcript, in file order. */
export type TranscriptEntry = TranscriptLine | TranscriptComment;

/** A parsed transcript. */
export interface Transcript {
  /** The entries in file order. */
  entries: TranscriptEntry[];
}

/** A transcript file that does not follow the format. */
export class TranscriptSyntaxError extends Error {
  /** The 1-based line number where the problem starts. */
  readonly lineNumber: number;

  /**
   * Creates the error.
   *
   * @param message sentence-case message
   * @param lineNumber 1-based line number in the file
   */
  constructor(message: string, lineNumber: number) {
    super(`${message} (transcript line ${lineNumber})`);
    this.name = "TranscriptSyntaxError";
    this.lineNumber = lineNumber;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const LF = 0x0a;
const CR = 0x0d;

/** The literal a line announces. */
export interface LiteralSpec {
  /** Byte count. */
  size: number;
  /** `true` for `{n}` (the sender waits for `+`), `false` for `{n+}` (LITERAL+). */
  sync: boolean;
  /** Offset in the line where `{` starts. */
  start: number;
}

/**
 * Finds the literal announced at the end of a line (`{n}` or `{n+}` before the line ending).
 *
 * @param line the line bytes, with or without its line ending
 * @returns the literal's size and kind, or `null` when the line announces none
 */
export function literalOf(line: Uint8Array): LiteralSpec | null {
  let end = line.length;
  if (end > 0 && line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === CR) end--;
  if (end < 3 || line[end - 1] !== 0x7d /* } */) return null;
  let i = end - 2;
  let sync = true;
  if (line[i] === 0x2b /* + */) {
    sync = false;
    i--;
  }
  const digitsEnd = i + 1;
  while (i >= 0 && line[i] >= 0x30 && line[i] <= 0x39) i--;
  if (i < 0 || line[i] !== 0x7b /* { */ || i + 1 === digitsEnd) return null;
  const size = Number(decoder.decode(line.subarray(i + 1, digitsEnd)));
  if (!Number.isSafeInteger(size)) return null;
  return { size, sync, start: i };
}

/**
 * Parses transcript bytes.
 *
 * @param bytes the file's contents
 * @returns the entries in file order
 * @throws TranscriptSyntaxError when a line has no known prefix or a literal runs past the end
 */
export function parseTranscript(bytes: Uint8Array): Transcript {
  const entries: TranscriptEntry[] = [];
  let pos = 0;
  let lineNumber = 1;
  const countLines = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (bytes[k] === LF) lineNumber++;
  };
  while (pos < bytes.length) {
    const lf = bytes.indexOf(LF, pos);
    const end = lf === -1 ? bytes.length : lf + 1;
    const startLine = lineNumber;
    const b0 = bytes[pos];
    const isEmpty = b0 === LF || (b0 === CR && bytes[pos + 1] === LF);
    if (b0 === 0x23 /* # */ || isEmpty) {
      entries.push({ kind: "comment", raw: bytes.slice(pos, end), lineNumber: startLine });
      countLines(pos, end);
      pos = end;
      continue;
    }
    const side = b0 === 0x53 ? "S" : b0 === 0x43 ? "C" : null;
    if (side === null || bytes[pos + 1] !== 0x3a || bytes[pos + 2] !== 0x20) {
      const shown = decoder.decode(bytes.subarray(pos, Math.min(end, pos + 40)));
      throw new TranscriptSyntaxError(
        `Transcript line must start with "S: ", "C: " or "#", got ${JSON.stringify(shown)}`,
        startLine,
      );
    }
    const line = bytes.slice(pos + 3, end);
    countLines(pos, end);
    pos = end;
    const entry: TranscriptLine = { kind: "line", side, line, lineNumber: startLine };
    const lit = lf === -1 ? null : literalOf(line);
    if (lit !== null) {
      if (pos + lit.size > bytes.length) {
        throw new TranscriptSyntaxError(
          `Literal of ${lit.size} bytes runs past the end of the transcript`,
          startLine,
        );
      }
      entry.literal = bytes.slice(pos, pos + lit.size);
      countLines(pos, pos + lit.size);
      pos += lit.size;
    }
    entries.push(entry);
  }
  return { entries };
}

/**
 * Writes a transcript back to bytes; `writeTranscript(parseTranscript(b))` equals `b`.
 *
 * @param transcript the transcript or its entries
 * @returns the file's bytes
 * @throws RangeError when a line announces a literal whose bytes do not match its count
 */
export function writeTranscript(transcript: Transcript | TranscriptEntry[]): Uint8Array {
  const entries = Array.isArray(transcript) ? transcript : transcript.entries;
  const parts: Uint8Array[] = [];
  const prefixes = { S: encoder.encode("S: "), C: encoder.encode("C: ") };
  for (const e of entries) {
    if (e.kind === "comment") {
      parts.push(e.raw);
      continue;
    }
    parts.push(prefixes[e.side]);
    parts.push(e.line);
    const lit = literalOf(e.line);
    const size = e.literal?.length ?? 0;
    if (lit !== null && e.line[e.line.length - 1] === LF && lit.size !== size) {
      throw new RangeError(`Literal of line "${lineText(e.line)}" has ${size} bytes`);
    }
    if (e.literal !== undefined) parts.push(e.literal);
  }
  return joinBytes(parts);
}

/**
 * Builds a comment or metadata entry.
 *
 * @param text the text after `# ` (one line)
 * @returns the entry, ending in CRLF
 */
export function comment(text: string): TranscriptComment {
  return { kind: "comment", raw: encoder.encode(`# ${text}\r\n`), lineNumber: 0 };
}

/**
 * Reads the `# key: value` metadata lines of a transcript (the first value of each key wins).
 *
 * @param transcript the transcript
 * @returns the metadata, keys in lower case
 */
export function metadataOf(transcript: Transcript): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of transcript.entries) {
    if (e.kind !== "comment") continue;
    const m = /^#\s*([A-Za-z][\w-]*):\s?(.*?)\r?\n?$/.exec(decoder.decode(e.raw));
    if (m !== null && !(m[1].toLowerCase() in out)) out[m[1].toLowerCase()] = m[2];
  }
  return out;
}

/**
 * Gives a line's text without its line ending, for messages.
 *
 * @param line line bytes
 * @returns the decoded text
 */
export function lineText(line: Uint8Array): string {
  let end = line.length;
  if (end > 0 && line[end - 1] === LF) end--;
  if (end > 0 && line[end - 1] === CR) end--;
  return decoder.decode(line.subarray(0, end));
}

/** What a client line is, as far as the session's state tells. */
export interface ClientLineInfo {
  /**
   * `"command"` starts a command (its first token is the tag); `"continuation"` is the rest of a
   * command after a literal; `"payload"` answers a `+` (AUTHENTICATE data, IDLE's `DONE`).
   */
  role: "command" | "continuation" | "payload";
  /** The tag of the command this line belongs to. */
  tag: string;
  /** The command's name in upper case (`"LOGIN"`, `"UID FETCH"`). */
  command: string;
  /** The literal this line announces. */
  literal: LiteralSpec | null;
}

/** What a server line is. */
export interface ServerLineInfo {
  /** `"response"` starts a response; `"continuation"` is the rest of one after a literal. */
  role: "response" | "continuation";
  /** The first token of a response line (`*`, `+` or a tag); empty for a continuation. */
  first: string;
  /** The literal this line announces. */
  literal: LiteralSpec | null;
}

/**
 * Follows a session line by line to tell commands from literal continuations and from payload
 * lines that answer a `+` (AUTHENTICATE, IDLE). Used by the recorder to find secrets and by
 * replay to know which client lines carry a tag.
 */
export class SessionTracker {
  #clientAfterLiteral = false;
  #serverAfterLiteral = false;
  #pendingSync = 0;
  #current = { tag: "", command: "" };
  #continued: { tag: string; command: string } | null = null;

  /**
   * Classifies the next client line.
   *
   * @param line the line bytes (its literal, if any, is sent after it)
   * @returns its role, command and literal
   */
  client(line: Uint8Array): ClientLineInfo {
    const literal = literalOf(line);
    let role: ClientLineInfo["role"];
    let owner = this.#current;
    if (this.#clientAfterLiteral) role = "continuation";
    else if (this.#continued !== null) {
      role = "payload";
      owner = this.#continued;
    } else {
      role = "command";
      const words = lineText(line).split(" ");
      let command = (words[1] ?? "").toUpperCase();
      if (command === "UID" && words[2] !== undefined) command += " " + words[2].toUpperCase();
      this.#current = owner = { tag: words[0], command };
    }
    this.#clientAfterLiteral = literal !== null;
    if (literal?.sync) this.#pendingSync++;
    return { role, tag: owner.tag, command: owner.command, literal };
  }

  /**
   * Classifies the next server line and updates the state.
   *
   * @param line the line bytes (its literal, if any, comes after it)
   * @returns its role, first token and literal
   */
  server(line: Uint8Array): ServerLineInfo {
    const literal = literalOf(line);
    if (this.#serverAfterLiteral) {
      this.#serverAfterLiteral = literal !== null;
      return { role: "continuation", first: "", literal };
    }
    this.#serverAfterLiteral = literal !== null;
    const text = lineText(line);
    const sp = text.indexOf(" ");
    const first = sp === -1 ? text : text.slice(0, sp);
    if (first === "+") {
      if (this.#pendingSync > 0) this.#pendingSync--;
      else this.#continued = this.#current;
    } else if (first !== "*") {
      if (this.#continued !== null && first === this.#continued.tag) this.#continued = null;
      // A tagged answer ends the command: a synchronising literal it refused is never sent.
      if (first === this.#current.tag && this.#pendingSync > 0) {
        this.#pendingSync = 0;
        this.#clientAfterLiteral = false;
      }
    }
    return { role: "response", first, literal };
  }
}
