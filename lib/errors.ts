/**
 * The error classes of the client, as in imaplib: `IMAP4.error` ⊃ `IMAP4.abort` ⊃ `IMAP4.readonly`.
 *
 * @module
 */

/** How many bytes of a server response an error message quotes at most. */
export const QUOTE_LIMIT = 200;

/** Details an error may carry; every field is optional. */
export interface IMAP4ErrorDetail {
  /** The command that failed, e.g. `"SELECT"`. */
  command?: string;
  /** The status word of the server's answer (`"NO"`, `"BAD"`, `"BYE"`). */
  status?: string;
  /** The response code in brackets, e.g. `"TRYCREATE"`, without the brackets. */
  code?: string;
  /** The offending bytes from the server, already truncated. */
  offending?: Uint8Array;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * An IMAP error: a `BAD` answer, a `NO` to login/authenticate/starttls, a command not legal in the
 * current state. The connection may still be used. `IMAP4.error` in imaplib.
 */
export class IMAP4Error extends Error {
  /** The command that failed, when known. */
  readonly command?: string;
  /** The status word of the server's answer, when there was one. */
  readonly status?: string;
  /** The response code of the server's answer, when there was one. */
  readonly code?: string;
  /** The offending server bytes (truncated to {@link QUOTE_LIMIT}), when a response was bad. */
  readonly offending?: Uint8Array;

  /**
   * Creates the error.
   *
   * @param message sentence-case message, values quoted, no secrets
   * @param detail optional detail fields
   */
  constructor(message: string, detail: IMAP4ErrorDetail = {}) {
    super(message, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.name = "IMAP4Error";
    if (detail.command !== undefined) this.command = detail.command;
    if (detail.status !== undefined) this.status = detail.status;
    if (detail.code !== undefined) this.code = detail.code;
    if (detail.offending !== undefined) this.offending = detail.offending.slice(0, QUOTE_LIMIT);
  }
}

/**
 * The connection is dead: BYE, end of stream, a framing error, a limit breached, a timeout.
 * Every later call fails with this error too. `IMAP4.abort` in imaplib.
 */
export class IMAP4Abort extends IMAP4Error {
  /**
   * Creates the error.
   *
   * @param message sentence-case message, values quoted, no secrets
   * @param detail optional detail fields
   */
  constructor(message: string, detail: IMAP4ErrorDetail = {}) {
    super(message, detail);
    this.name = "IMAP4Abort";
  }
}

/** The selected mailbox changed to read-only. `IMAP4.readonly` in imaplib. */
export class IMAP4ReadOnly extends IMAP4Abort {
  /**
   * Creates the error.
   *
   * @param message sentence-case message
   * @param detail optional detail fields
   */
  constructor(message: string, detail: IMAP4ErrorDetail = {}) {
    super(message, detail);
    this.name = "IMAP4ReadOnly";
  }
}

/**
 * Quotes server bytes for an error message: at most `limit` bytes, non-printable bytes escaped,
 * and `…` when cut.
 *
 * @param bytes the offending bytes
 * @param limit how many bytes to show
 * @returns a double-quoted, escaped excerpt
 */
export function quoteBytes(bytes: Uint8Array, limit: number = QUOTE_LIMIT): string {
  const n = Math.min(bytes.length, limit);
  let out = '"';
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (b === 0x5c) out += "\\\\";
    else if (b === 0x22) out += '\\"';
    else if (b === 0x0d) out += "\\r";
    else if (b === 0x0a) out += "\\n";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += "\\x" + b.toString(16).padStart(2, "0");
  }
  out += '"';
  if (bytes.length > limit) out += "…";
  return out;
}
