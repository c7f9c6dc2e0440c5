/**
 * The modified UTF-7 of IMAP mailbox names (RFC 3501 §5.1.3), strict both ways: the encoder
 * writes the one canonical form, and the decoder accepts only canonical forms, so
 * `encodeMailboxName(decodeMailboxName(s)) === s` whenever decoding succeeds.
 *
 * @module
 */

// Modified BASE64: RFC 2045's alphabet with "," in place of "/".
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
const VALUES = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

function isPrintableAscii(unit: number): boolean {
  return unit >= 0x20 && unit <= 0x7e;
}

function hex(unit: number): string {
  return unit.toString(16).toUpperCase().padStart(4, "0");
}

/** Modified BASE64 of the UTF-16BE bytes of `units`, without padding. */
function encodeRun(units: number[]): string {
  let out = "";
  let bits = 0;
  let count = 0;
  for (const unit of units) {
    bits = (bits << 16) | unit;
    count += 16;
    while (count >= 6) {
      count -= 6;
      out += ALPHABET[(bits >> count) & 63];
    }
    bits &= (1 << count) - 1; // keep only the bits not written yet
  }
  if (count > 0) out += ALPHABET[(bits << (6 - count)) & 63];
  return out;
}

/**
 * Encodes a mailbox name in modified UTF-7: printable ASCII stays as it is (`&` becomes `&-`), and
 * every other run of characters becomes `&`, the modified BASE64 of its UTF-16, and `-`.
 *
 * @param name the mailbox name as Unicode text
 * @returns the encoded name, pure printable ASCII
 * @throws {TypeError} if `name` holds a lone surrogate, which has no UTF-16 encoding
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeMailboxName } from "./utf7.ts";
 * assert.equal(encodeMailboxName("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
 * assert.equal(encodeMailboxName("Tom & Jerry"), "Tom &- Jerry");
 * ```
 */
export function encodeMailboxName(name: string): string {
  let out = "";
  let run: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (isPrintableAscii(unit)) {
      if (run.length > 0) {
        out += "&" + encodeRun(run) + "-";
        run = [];
      }
      out += unit === 0x26 ? "&-" : name[i];
      continue;
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = name.charCodeAt(i + 1); // NaN past the end
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        throw new TypeError(`Mailbox name has a lone surrogate "U+${hex(unit)}" at index ${i}`);
      }
      run.push(unit, next);
      i++;
      continue;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) {
      throw new TypeError(`Mailbox name has a lone surrogate "U+${hex(unit)}" at index ${i}`);
    }
    run.push(unit);
  }
  if (run.length > 0) out += "&" + encodeRun(run) + "-";
  return out;
}

function malformed(name: string, at: number, why: string): TypeError {
  const shown = name.length > 60 ? name.slice(0, 60) + "..." : name;
  return new TypeError(`Mailbox name "${shown}" is not modified UTF-7: ${why} at offset ${at}`);
}

/**
 * Decodes a mailbox name from modified UTF-7, rejecting anything the encoder would not write.
 *
 * @param name the encoded name, as the server sent it
 * @returns the mailbox name as Unicode text
 * @throws {TypeError} if the name is malformed: a character outside printable ASCII, a shift with
 *   no closing `-`, a character outside modified BASE64, leftover or non-zero padding bits, an odd
 *   number of UTF-16 bytes, a lone surrogate, printable ASCII inside a shift, or two shifts in a row
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeMailboxName } from "./utf7.ts";
 * assert.equal(decodeMailboxName("Hello, &ZeVnLIqe-"), "Hello, 日本語");
 * assert.equal(decodeMailboxName("&Jjo-!"), "☺!");
 * assert.throws(() => decodeMailboxName("&AGE-"), TypeError); // "a" must not be shifted
 * ```
 */
export function decodeMailboxName(name: string): string {
  let out = "";
  let afterShift = false;
  let i = 0;
  while (i < name.length) {
    const unit = name.charCodeAt(i);
    if (unit !== 0x26) {
      if (!isPrintableAscii(unit)) {
        throw malformed(name, i, `character "U+${hex(unit)}" is not printable ASCII`);
      }
      out += name[i];
      afterShift = false;
      i++;
      continue;
    }
    if (name.charCodeAt(i + 1) === 0x2d) {
      out += "&";
      afterShift = false;
      i += 2;
      continue;
    }
    // The encoder joins neighbouring non-ASCII characters into one shift.
    if (afterShift) throw malformed(name, i, "a shift follows a shift");
    const start = i + 1;
    let j = start;
    let bits = 0;
    let count = 0;
    const units: number[] = [];
    let bytes = 0;
    let pendingByte = 0;
    for (;; j++) {
      if (j >= name.length) throw malformed(name, i, "the shift has no closing '-'");
      const c = name.charCodeAt(j);
      if (c === 0x2d) break;
      const value = c < 128 ? VALUES[c] : -1;
      if (value < 0) throw malformed(name, j, `character "${name[j]}" is not modified BASE64`);
      bits = ((bits << 6) | value) & 0xfff;
      count += 6;
      if (count >= 8) {
        count -= 8;
        const byte = (bits >> count) & 0xff;
        if (bytes++ % 2 === 0) pendingByte = byte;
        else units.push((pendingByte << 8) | byte);
      }
    }
    if (count >= 6) throw malformed(name, j, "the shift ends with a partial BASE64 character");
    if ((bits & ((1 << count) - 1)) !== 0) {
      throw malformed(name, j, "the shift ends with non-zero padding bits");
    }
    if (bytes % 2 !== 0) throw malformed(name, j, "the shift holds an odd number of UTF-16 bytes");
    for (let k = 0; k < units.length; k++) {
      const u = units[k];
      if (isPrintableAscii(u)) {
        throw malformed(name, start, `the shift encodes printable ASCII "U+${hex(u)}"`);
      }
      if (u >= 0xd800 && u <= 0xdbff) {
        const next = units[k + 1];
        if (!(next >= 0xdc00 && next <= 0xdfff)) {
          throw malformed(name, start, `the shift encodes a lone surrogate "U+${hex(u)}"`);
        }
        out += String.fromCharCode(u, next);
        k++;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        throw malformed(name, start, `the shift encodes a lone surrogate "U+${hex(u)}"`);
      } else {
        out += String.fromCharCode(u);
      }
    }
    afterShift = true;
    i = j + 1;
  }
  return out;
}
