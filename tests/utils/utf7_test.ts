import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- deno.json has no import map entry for fast-check yet
import fc from "npm:fast-check@4";
import { decodeMailboxName, encodeMailboxName } from "../../utils/utf7.ts";

/** An independent encoder: btoa over UTF-16BE bytes, for each run of non-printable characters. */
function referenceEncode(name: string): string {
  return name.replace(/&/g, "&-").replace(/[^\x20-\x7e]+/g, (run) => {
    let binary = "";
    for (let i = 0; i < run.length; i++) {
      const unit = run.charCodeAt(i);
      binary += String.fromCharCode(unit >> 8, unit & 0xff);
    }
    return "&" + btoa(binary).replace(/=+$/, "").replace(/\//g, ",") + "-";
  });
}

Deno.test("mailbox names: the examples of RFC 3501 section 5.1.3", () => {
  assert.equal(encodeMailboxName("~peter/mail/台北/日本語"), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  assert.equal(decodeMailboxName("~peter/mail/&U,BTFw-/&ZeVnLIqe-"), "~peter/mail/台北/日本語");
  assert.equal(decodeMailboxName("&Jjo-!"), "☺!");
  assert.equal(encodeMailboxName("☺!"), "&Jjo-!");
  // The RFC's invalid forms, and the correct form it gives for the second.
  assert.throws(() => decodeMailboxName("&Jjo!"), TypeError);
  assert.throws(() => decodeMailboxName("&U,BTFw-&ZeVnLIqe-"), TypeError);
  assert.equal(encodeMailboxName("台北日本語"), "&U,BTF2XlZyyKng-");
});

Deno.test("mailbox names: ASCII, ampersands, controls and astral characters", () => {
  const cases: [string, string][] = [
    ["", ""],
    ["INBOX", "INBOX"],
    ["Tom & Jerry", "Tom &- Jerry"],
    ["&&", "&-&-"],
    ["é&", "&AOk-&-"],
    ["Entwürfe", "Entw&APw-rfe"],
    ["a\u0000b\u007fc", "a&AAA-b&AH8-c"],
    ["😀", "&2D3eAA-"],
    ["-&-", "-&--"],
  ];
  for (const [plain, encoded] of cases) {
    assert.equal(encodeMailboxName(plain), encoded, plain);
    assert.equal(decodeMailboxName(encoded), plain, encoded);
  }
});

Deno.test("mailbox names: malformed encodings throw a TypeError naming the problem", () => {
  const cases: [string, RegExp][] = [
    ["&", /no closing '-'/],
    ["&AOk", /no closing '-'/],
    ["&AO!-", /not modified BASE64/],
    ["&AO/-", /not modified BASE64/],
    ["&AO=-", /not modified BASE64/],
    ["&A-", /partial BASE64/],
    ["&AOl-", /non-zero padding/],
    ["&AOkA-", /odd number of UTF-16 bytes/],
    ["&AGE-", /printable ASCII "U\+0061"/],
    ["&ACY-", /printable ASCII "U\+0026"/],
    ["&2D0-", /lone surrogate "U\+D83D"/],
    ["&3gA-", /lone surrogate "U\+DE00"/],
    ["&3gDYPQ-", /lone surrogate "U\+DE00"/],
    ["&AOk-&AOk-", /a shift follows a shift at offset 5/],
    ["é", /"U\+00E9" is not printable ASCII at offset 0/],
    ["a\tb", /"U\+0009" is not printable ASCII/],
  ];
  for (const [encoded, why] of cases) {
    assert.throws(() => decodeMailboxName(encoded), (err: unknown) => {
      assert.ok(err instanceof TypeError, encoded);
      assert.match(err.message, why, encoded);
      return true;
    });
  }
  assert.throws(() => encodeMailboxName("a\ud800"), /lone surrogate "U\+D800" at index 1/);
  assert.throws(() => encodeMailboxName("\udc00b"), /lone surrogate "U\+DC00" at index 0/);
});

const mailboxText = fc.array(
  fc.oneof(
    fc.string({ unit: "binary", maxLength: 6 }),
    fc.constantFrom("&", "-", "&-", "/", "+", ",", " ", "A"),
  ),
  { maxLength: 8 },
).map((parts) => parts.join(""));

Deno.test("mailbox names: every string round-trips, as an independent encoder writes it", () => {
  fc.assert(
    fc.property(mailboxText, (name) => {
      const encoded = encodeMailboxName(name);
      assert.equal(encoded, referenceEncode(name));
      assert.match(encoded, /^[\x20-\x7e]*$/);
      assert.equal(decodeMailboxName(encoded), name);
    }),
    { numRuns: 10_000, seed: 3501 },
  );
});

Deno.test("mailbox names: whatever decodes re-encodes to the same text", () => {
  const piece = fc.constantFrom(
    "&",
    "-",
    "A",
    "O",
    "k",
    "2",
    "D",
    "3",
    "e",
    ",",
    "+",
    "a",
    "é",
    "/",
  );
  let decoded = 0;
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 14 }), (pieces) => {
      const encoded = pieces.join("");
      let name: string;
      try {
        name = decodeMailboxName(encoded);
      } catch (err) {
        assert.ok(err instanceof TypeError);
        return;
      }
      decoded++;
      assert.equal(encodeMailboxName(name), encoded);
    }),
    { numRuns: 10_000, seed: 2152 },
  );
  assert.ok(decoded > 500, `only ${decoded} inputs decoded`);
});

Deno.test("mailbox names: long inputs take linear time", () => {
  const name = "日本語/x&".repeat(100_000) + "😀".repeat(100_000);
  const started = performance.now();
  const encoded = encodeMailboxName(name);
  assert.equal(decodeMailboxName(encoded), name);
  assert.throws(() => decodeMailboxName("&" + "A".repeat(1_000_000)), TypeError);
  assert.ok(performance.now() - started < 3000);
});
