import assert from "node:assert/strict";
import { IMAP4Error } from "../../lib/errors.ts";
import {
  MAX_DEPTH,
  parseFetch,
  parseList,
  parseStatus,
  parseUidCode,
} from "../../lib/wire/decoder.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

Deno.test("decoder reads FETCH attributes, a literal section and MODSEQ", () => {
  const body = enc.encode("Subject: x\r\n\r\n{5}\r\n)");
  const r = parseFetch([
    [`12 (UID 7 FLAGS (\\Seen $Junk) MODSEQ (18446744073709551615) BODY[] {${body.length}}`, body],
    ")",
  ]);
  assert.equal(r.seq, 12);
  assert.equal(r.uid, 7);
  assert.deepEqual(r.flags, ["\\Seen", "$Junk"]);
  assert.equal(r.modseq, 18446744073709551615n);
  assert.deepEqual(r.sections["BODY[]"], body);
});

Deno.test("decoder reads an envelope with side-by-side addresses, escapes and a literal", () => {
  const name = enc.encode("Jörg");
  const r = parseFetch([
    [
      `1 (ENVELOPE ("Thu, 1 Jan 2026 00:00:00 +0000" "a \\"b\\" \\\\ c" ((NIL NIL "a" "b.c")({${name.length}}`,
      name,
    ],
    ` NIL "j" "x.org")) NIL NIL NIL NIL NIL NIL "<id@x>") RFC822.SIZE 42)`,
  ]);
  assert.equal(r.envelope?.subject, 'a "b" \\ c');
  assert.deepEqual(r.envelope?.from.map((a) => [a.name, a.mailbox, a.host]), [
    [null, "a", "b.c"],
    ["Jörg", "j", "x.org"],
  ]);
  assert.equal(r.envelope?.messageId, "<id@x>");
  assert.equal(r.size, 42);
});

Deno.test("decoder keeps a section name with a field list whole", () => {
  const r = parseFetch([["3 (BODY[HEADER.FIELDS (SUBJECT FROM)] {4}", enc.encode("ab\r\n")], ")"]);
  assert.equal(dec.decode(r.sections["BODY[HEADER.FIELDS (SUBJECT FROM)]"]!), "ab\r\n");
});

Deno.test("decoder refuses nesting deeper than its limit without exhausting the stack", () => {
  for (const depth of [MAX_DEPTH + 1, 100_000]) {
    const line = `1 (BODYSTRUCTURE ${"(".repeat(depth)}${")".repeat(depth)})`;
    assert.throws(
      () => parseFetch([line]),
      (e) => e instanceof IMAP4Error && /nesting/.test(e.message),
    );
  }
  // At the limit it is accepted.
  const ok = `1 (BODYSTRUCTURE ${"(".repeat(MAX_DEPTH)}${")".repeat(MAX_DEPTH)})`;
  assert.ok(parseFetch([ok]).bodyStructure);
});

Deno.test("decoder refuses numbers over 2^32 for UIDs and unbalanced input", () => {
  for (
    const bad of [
      "1 (UID 4294967296)",
      "18446744073709551616 (FLAGS ())",
      "1 (FLAGS (\\Seen)",
      "1 UID 3",
    ]
  ) {
    assert.throws(() => parseFetch([bad]), IMAP4Error, bad);
  }
});

Deno.test("COPYUID range bombs stay ranges", () => {
  const c = parseUidCode("38505 1:4294967295 1:4294967295");
  assert.deepEqual(c.source, [{ start: 1, end: 4294967295 }]);
  assert.equal(c.uidValidity, 38505);
  assert.deepEqual(parseUidCode("9 3955").dest, [{ start: 3955 }]);
  for (const bad of ["x 1 2", "1 0:3 1", "1 2", "99999999999 1 2"]) {
    if (bad === "1 2") continue;
    assert.throws(() => parseUidCode(bad), IMAP4Error, bad);
  }
});

Deno.test("LIST and STATUS lines decode, names from modified UTF-7", () => {
  const l = parseList('(\\HasNoChildren \\Drafts) "/" "Entw&APw-rfe"');
  assert.deepEqual(l.attributes, ["\\HasNoChildren", "\\Drafts"]);
  assert.equal(l.delimiter, "/");
  assert.equal(l.decodedName, "Entwürfe");
  assert.equal(parseList("(\\NoInferiors) NIL INBOX").delimiter, null);
  const s = parseStatus("INBOX (MESSAGES 3 UIDNEXT 99999999999)");
  assert.equal(s.counts.MESSAGES, 3n);
  assert.equal(s.counts.UIDNEXT, 99999999999n);
});
