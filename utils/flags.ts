/**
 * imaplib's `ParseFlags`, without regular expressions so that it stays linear in time.
 *
 * @module
 */

import { latin1 } from "./bytes.ts";

const NEEDLE = "FLAGS (";

function isAsciiSpace(c: number): boolean {
  // bytes.split() separators: space, \t, \n, \v, \f, \r.
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Returns the flags inside `FLAGS (...)` of a response, as imaplib's `ParseFlags`.
 *
 * imaplib matches `.*FLAGS \((?P<flags>[^\)]*)\)` at the start: the chosen `FLAGS (` is the last
 * one starting on the first line that is followed by a `)` somewhere, and the flags run to the
 * first `)` after it (possibly over line breaks), split on ASCII white space. Bytes are read as
 * UTF-8, each flag decoded on its own.
 *
 * @param resp a response line, as text or bytes
 * @returns the flags, or an empty array when there is no `FLAGS (...)`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ParseFlags } from "./flags.ts";
 * const line = "12 (UID 44 FLAGS (\\Seen $Forwarded) RFC822.SIZE 2231)";
 * assert.deepEqual(ParseFlags(line), ["\\Seen", "$Forwarded"]);
 * assert.deepEqual(ParseFlags(new TextEncoder().encode(line)), ["\\Seen", "$Forwarded"]);
 * assert.deepEqual(ParseFlags("7 (UID 9)"), []);
 * ```
 */
export function ParseFlags(resp: string | Uint8Array): string[] {
  const bytes = typeof resp === "string" ? null : resp;
  const text = bytes === null ? resp as string : latin1(bytes);
  const newline = text.indexOf("\n");
  const lastClose = text.lastIndexOf(")");
  const from = Math.min(newline === -1 ? text.length : newline, lastClose - NEEDLE.length);
  if (from < 0) return [];
  const at = text.lastIndexOf(NEEDLE, from);
  if (at < 0) return [];
  const start = at + NEEDLE.length;
  const end = text.indexOf(")", start);
  const flags: string[] = [];
  const decoder = bytes === null ? null : new TextDecoder();
  let i = start;
  while (i < end) {
    while (i < end && isAsciiSpace(text.charCodeAt(i))) i++;
    const tokenStart = i;
    while (i < end && !isAsciiSpace(text.charCodeAt(i))) i++;
    if (i > tokenStart) {
      flags.push(
        decoder === null || bytes === null
          ? text.slice(tokenStart, i)
          : decoder.decode(bytes.subarray(tokenStart, i)),
      );
    }
  }
  return flags;
}
