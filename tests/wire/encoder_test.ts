import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- deno.json has no import map entry for fast-check yet
import fc from "npm:fast-check@4";
import {
  type Arg,
  encodeCommand,
  type EncodedCommand,
  type EncodeOptions,
  isAtomSafe,
  quoteString,
} from "../../lib/wire/encoder.ts";
import { decodeMailboxName, encodeMailboxName } from "../../utils/utf7.ts";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const textEncoder = new TextEncoder();

/** The whole command as text (literal bytes decoded too). */
function wire(cmd: EncodedCommand): string {
  return cmd.chunks.map((c) => new TextDecoder().decode(c.bytes)).join("");
}

/** Each chunk as [text, waitAfter]. */
function chunks(cmd: EncodedCommand): [string, boolean][] {
  return cmd.chunks.map((c) => [new TextDecoder().decode(c.bytes), c.waitAfter]);
}

function enc(args: readonly Arg[], options: EncodeOptions = {}): EncodedCommand {
  return encodeCommand("A1", "CMD", args, options);
}

const mailbox = (value: string): Arg => ({ type: "mailbox", value });
const secret = (value: string): Arg => ({ type: "secret", value });

// ---------------------------------------------------------------------------------------------
// Atoms, quoted strings, raw arguments.

Deno.test("encoder sends atoms as they are", () => {
  for (const atom of ["INBOX", "1:*", "\\Seen", "BODY[TEXT]", "1,3:5", "%", "*", "UID", "+FLAGS"]) {
    const cmd = enc([atom]);
    assert.deepEqual(chunks(cmd), [[`A1 CMD ${atom}\r\n`, false]], atom);
    assert.equal(cmd.log, `A1 CMD ${atom}`);
    assert.equal(isAtomSafe(atom), true, atom);
  }
});

Deno.test("encoder: names and lists sent again go out the same, and what is refused stays refused", () => {
  // Names and lists of atoms are copied from bytes kept from their first use: kept bytes that
  // shared the output buffers would show here as the later commands' bytes.
  const lists = ["(FLAGS)", "(UID FLAGS RFC822.SIZE)", "(\\Seen \\Deleted)", "()", "(a (b) c)"];
  for (let round = 0; round < 3; round++) {
    lists.forEach((list, i) => {
      assert.equal(
        wire(encodeCommand(`A${round}${i}`, "UID FETCH", [String(i + 1), list])),
        `A${round}${i} UID FETCH ${i + 1} ${list}\r\n`,
      );
      assert.equal(
        wire(encodeCommand("B1", "XLONGER-NAME", ["1:*", list + " "])),
        `B1 XLONGER-NAME 1:* "${list.replaceAll("\\", "\\\\")} "\r\n`,
      );
    });
    assert.throws(() => encodeCommand("C1", "STORE", ["1", "(x\r\n)"]), TypeError);
    assert.throws(() => encodeCommand("C2", "STORE", ["1", "(x {5})"]), TypeError);
    assert.equal(wire(encodeCommand("C3", "STORE", ["1", '("a b")'])), 'C3 STORE 1 ("a b")\r\n');
  }
});

Deno.test("encoder quotes what is not an atom, escaping quote and backslash", () => {
  const cases: [string, string][] = [
    ["My Folder", '"My Folder"'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ["", '""'],
    ["(", '"("'],
    [")", '")"'],
    ['"', '"\\""'],
    ["\\", '"\\\\"'],
    ["\\\\Seen", '"\\\\\\\\Seen"'],
    ["{5}", '"{5}"'],
    ["a{5}", '"a{5}"'],
    ["x {5+}", '"x {5+}"'],
    ['"x" {5}', '"\\"x\\" {5}"'],
    ["(a", '"(a"'],
    ['a"', '"a\\""'],
    ["tab\there", '"tab\there"'],
    ["\x01\x7f", '"\x01\x7f"'],
  ];
  for (const [input, quoted] of cases) {
    assert.deepEqual(
      chunks(enc([input])),
      [[`A1 CMD ${quoted}\r\n`, false]],
      JSON.stringify(input),
    );
    assert.equal(isAtomSafe(input), false, JSON.stringify(input));
  }
  assert.equal(quoteString('a"b\\c'), '"a\\"b\\\\c"');
});

Deno.test('encoder sends strings already in () or "" as they are', () => {
  for (const raw of ["(FLAGS)", "(\\Seen \\Deleted)", '"My Folder"', '""', "()", '(BODY[] "x")']) {
    assert.deepEqual(chunks(enc([raw])), [[`A1 CMD ${raw}\r\n`, false]], raw);
  }
});

Deno.test("encoder rejects CR, LF and NUL with a TypeError for every kind of string argument", () => {
  for (const bad of ["\r", "\n", "\0", "a\r\nA2 DELETE INBOX", "x\0y"]) {
    const forms: [string, Arg][] = [
      ["string", bad],
      ["non-ASCII string", "é" + bad],
      ["raw list", `(${bad})`],
      ["raw quoted", `"${bad}"`],
      ["mailbox", mailbox(bad)],
      ["raw mailbox", mailbox(`"${bad}"`)],
      ["secret", secret(bad)],
      ["non-ASCII secret", secret("é" + bad)],
    ];
    for (const [kind, arg] of forms) {
      for (const options of [{}, { utf8: true }, { literalPlus: true }]) {
        assert.throws(
          () => enc(["ok", arg], options),
          (e: unknown) =>
            e instanceof TypeError && /CMD argument 2 contains a CR, LF or NUL/.test(e.message),
          `${kind} ${JSON.stringify(bad)} ${JSON.stringify(options)}`,
        );
      }
    }
  }
  // The message says how to send such bytes, and a Uint8Array does carry them.
  assert.throws(() => enc(["a\nb"]), /pass a Uint8Array to send it as a literal/);
  assert.deepEqual(chunks(enc([textEncoder.encode("a\r\nb\0")])), [
    ["A1 CMD {5}\r\n", true],
    ["a\r\nb\0\r\n", false],
  ]);
});

// Regression (found by these tests, fixed): a MailboxArg that held non-ASCII text was UTF-7
// encoded before the CR/LF/NUL check, and the encoding hid those characters, so
// mailbox("é\n") was sent as `&AOkACg-` while mailbox("e\n") threw TypeError.
Deno.test("encoder: a non-ASCII mailbox name with CR, LF or NUL is rejected too", () => {
  for (const bad of ["Entwürfe\n", "é\r", "ü\0x"]) {
    for (const options of [{}, { utf8: true }]) {
      assert.throws(
        () => enc([mailbox(bad)], options),
        (e: unknown) => e instanceof TypeError && /contains a CR, LF or NUL/.test(e.message),
        JSON.stringify(bad),
      );
    }
  }
});

Deno.test("encoder rejects raw arguments that hide a literal marker", () => {
  for (
    const raw of ["(FOO {5})", '"x {5}"', '"x" "{5}"', "(A ~{5})", "(A {5+})", '"{0}"', "({12})"]
  ) {
    for (const arg of [raw, mailbox(raw)]) {
      assert.throws(
        () => enc([arg]),
        (e: unknown) => e instanceof TypeError && /hides a literal marker/.test(e.message),
        raw,
      );
    }
  }
  // A brace that is not a full marker is harmless.
  for (const raw of ["(FOO {5} x)", '"{5"', "(A {x})", "(A {})"]) {
    assert.deepEqual(chunks(enc([raw])), [[`A1 CMD ${raw}\r\n`, false]], raw);
  }
});

// ---------------------------------------------------------------------------------------------
// Literals.

Deno.test("encoder sends non-ASCII text as a synchronising literal", () => {
  const cmd = encodeCommand("A1", "SEARCH", ["CHARSET", "UTF-8", "TEXT", "Grüße"]);
  assert.deepEqual(chunks(cmd), [
    ["A1 SEARCH CHARSET UTF-8 TEXT {7}\r\n", true],
    ["Grüße\r\n", false],
  ]);
  assert.equal(cmd.log, "A1 SEARCH CHARSET UTF-8 TEXT {7}\r\n<7 bytes>");
});

Deno.test("encoder counts literal sizes in bytes", () => {
  for (const s of ["é", "€", "😀", "a😀b", "日本語"]) {
    const n = textEncoder.encode(s).length;
    assert.deepEqual(chunks(enc([s])), [[`A1 CMD {${n}}\r\n`, true], [`${s}\r\n`, false]], s);
  }
});

Deno.test("encoder uses {n+} with LITERAL+ and keeps going without a wait", () => {
  const cmd = enc(["é", "x y", "€"], { literalPlus: true });
  assert.deepEqual(chunks(cmd), [
    ["A1 CMD {2+}\r\n", false],
    ['é "x y" {3+}\r\n', false],
    ["€\r\n", false],
  ]);
  assert.equal(cmd.log, 'A1 CMD {2+}\r\n<2 bytes> "x y" {3+}\r\n<3 bytes>');
});

Deno.test("encoder uses {n+} with LITERAL- only up to 4096 bytes", () => {
  const at = "é".repeat(2048); // 4096 bytes, 2048 characters
  const over = at + "a"; // 4097 bytes
  assert.deepEqual(enc([at], { literalMinus: true }).chunks.map((c) => c.waitAfter), [
    false,
    false,
  ]);
  assert.match(wire(enc([at], { literalMinus: true })), /^A1 CMD \{4096\+\}\r\n/);
  assert.deepEqual(enc([over], { literalMinus: true }).chunks.map((c) => c.waitAfter), [
    true,
    false,
  ]);
  assert.match(wire(enc([over], { literalMinus: true })), /^A1 CMD \{4097\}\r\n/);
  // LITERAL+ has no such bound.
  assert.match(wire(enc([over], { literalPlus: true })), /^A1 CMD \{4097\+\}\r\n/);
  const bin = new Uint8Array(5000);
  assert.deepEqual(enc([bin], { literalMinus: true }).chunks.map((c) => c.waitAfter), [
    true,
    false,
  ]);
  assert.deepEqual(enc([bin.subarray(0, 4096)], { literalMinus: true }).chunks[0].waitAfter, false);
});

Deno.test("encoder sends a Uint8Array as a literal, exactly", () => {
  const data = new Uint8Array([0, 1, 0x0d, 0x0a, 0xff, 0x7b, 0x7d]);
  const cmd = enc(["X", data, "Y"]);
  assert.equal(cmd.chunks.length, 2);
  assert.deepEqual(cmd.chunks[0].bytes, textEncoder.encode("A1 CMD X {7}\r\n"));
  assert.equal(cmd.chunks[0].waitAfter, true);
  const second = cmd.chunks[1].bytes;
  assert.deepEqual(second.subarray(0, 7), data);
  assert.deepEqual(second.subarray(7), textEncoder.encode(" Y\r\n"));
  assert.equal(cmd.log, "A1 CMD X {7}\r\n<7 bytes> Y");
  assert.equal(enc([new Uint8Array(0)]).chunks[0].waitAfter, true);
  assert.match(wire(enc([new Uint8Array(0)])), /^A1 CMD \{0\}\r\n\r\n$/);
});

Deno.test("encoder sends UTF-8 in quoted strings once UTF8=ACCEPT is on", () => {
  assert.deepEqual(chunks(enc(["Grüße", "a b€"], { utf8: true })), [
    ['A1 CMD "Grüße" "a b€"\r\n', false],
  ]);
});

// ---------------------------------------------------------------------------------------------
// Mailboxes, secrets, messages, numbers, null.

Deno.test("encoder encodes non-ASCII mailbox names in modified UTF-7", () => {
  const cases: [string, string][] = [
    ["Entwürfe", "Entw&APw-rfe"],
    ["My Entwürfe", '"My Entw&APw-rfe"'],
    ["Entwürfe & Co", '"Entw&APw-rfe &- Co"'],
    ["~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"],
    // ASCII names go as they are, so a name taken from LIST (already encoded) round-trips.
    ["Entw&APw-rfe", "Entw&APw-rfe"],
    ["INBOX", "INBOX"],
    ["Sent Items", '"Sent Items"'],
    ['"Sent Items"', '"Sent Items"'],
    ['"Entwürfe"', '"Entw&APw-rfe"'],
    ["", '""'],
  ];
  for (const [name, sent] of cases) {
    const cmd = encodeCommand("A1", "SELECT", [mailbox(name)]);
    assert.deepEqual(chunks(cmd), [[`A1 SELECT ${sent}\r\n`, false]], name);
    assert.equal(cmd.log, `A1 SELECT ${sent}`);
  }
  // With UTF8=ACCEPT the name travels as UTF-8.
  assert.deepEqual(chunks(encodeCommand("A1", "SELECT", [mailbox("Entwürfe")], { utf8: true })), [
    ['A1 SELECT "Entwürfe"\r\n', false],
  ]);
});

Deno.test("encoder always quotes a secret and masks it in the log", () => {
  const cmd = encodeCommand("A1", "LOGIN", ["user", secret("hunter2")]);
  assert.deepEqual(chunks(cmd), [['A1 LOGIN user "hunter2"\r\n', false]]);
  assert.equal(cmd.log, 'A1 LOGIN user "***"');
  const tricky = encodeCommand("A1", "LOGIN", ["user", secret('p"a\\ss w')]);
  assert.deepEqual(chunks(tricky), [['A1 LOGIN user "p\\"a\\\\ss w"\r\n', false]]);
  assert.equal(tricky.log, 'A1 LOGIN user "***"');
  const empty = encodeCommand("A1", "LOGIN", ["user", secret("")]);
  assert.deepEqual(chunks(empty), [['A1 LOGIN user ""\r\n', false]]);
  // A secret shaped like a raw argument is still quoted, never sent as it is.
  assert.deepEqual(chunks(encodeCommand("A1", "LOGIN", ["u", secret("(x)")])), [
    ['A1 LOGIN u "(x)"\r\n', false],
  ]);
});

Deno.test("encoder sends a non-ASCII secret as a literal masked in the log", () => {
  const cmd = encodeCommand("A1", "LOGIN", ["user", secret("pässwörd")]);
  assert.deepEqual(chunks(cmd), [["A1 LOGIN user {10}\r\n", true], ["pässwörd\r\n", false]]);
  assert.ok(!cmd.log.includes("pässwörd"), cmd.log);
  assert.equal(cmd.log, "A1 LOGIN user {10}\r\n***");
  const plus = encodeCommand("A1", "LOGIN", ["user", secret("pässwörd")], { literalPlus: true });
  assert.deepEqual(chunks(plus), [["A1 LOGIN user {10+}\r\n", false], ["pässwörd\r\n", false]]);
  assert.ok(!plus.log.includes("pässwörd"));
  const utf = encodeCommand("A1", "LOGIN", ["user", secret("pässwörd")], { utf8: true });
  assert.deepEqual(chunks(utf), [['A1 LOGIN user "pässwörd"\r\n', false]]);
  assert.equal(utf.log, 'A1 LOGIN user "***"');
});

Deno.test("encoder sends a message as a synchronising literal even with LITERAL+", () => {
  const body = textEncoder.encode("Subject: hi\r\n\r\nbody\r\n");
  for (const options of [{}, { literalPlus: true }, { literalMinus: true }, { utf8: true }]) {
    const cmd = encodeCommand("A1", "APPEND", [mailbox("INBOX"), "(\\Seen)", {
      type: "message",
      value: body,
    }], options);
    assert.deepEqual(cmd.chunks.map((c) => c.waitAfter), [true, false], JSON.stringify(options));
    assert.equal(
      wire(cmd),
      `A1 APPEND INBOX (\\Seen) {${body.length}}\r\n` + "Subject: hi\r\n\r\nbody\r\n\r\n",
    );
    assert.equal(cmd.log, `A1 APPEND INBOX (\\Seen) {${body.length}}\r\n<${body.length} bytes>`);
  }
  const binary = encodeCommand("A1", "APPEND", ["INBOX", {
    type: "message",
    value: new Uint8Array([0, 1, 2]),
    prefix: "UTF8 (",
    suffix: ")",
    binary: true,
  }], { literalPlus: true });
  assert.deepEqual(chunks(binary), [["A1 APPEND INBOX UTF8 (~{3}\r\n", true], [
    "\0\x01\x02)\r\n",
    false,
  ]]);
  assert.equal(binary.log, "A1 APPEND INBOX UTF8 (~{3}\r\n<3 bytes>)");
});

Deno.test("encoder writes numbers and skips null and undefined", () => {
  assert.deepEqual(chunks(enc([0, 42, null, "x", undefined, 2 ** 53 - 1])), [
    [`A1 CMD 0 42 x ${2 ** 53 - 1}\r\n`, false],
  ]);
  assert.deepEqual(chunks(enc([null, undefined])), [["A1 CMD\r\n", false]]);
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    assert.throws(() => enc(["x", bad]), TypeError, String(bad));
  }
});

// Regression (found by these tests, fixed): a string holding a lone surrogate (not valid
// Unicode) was silently sent as U+FFFD by TextEncoder, so the server got another value than
// the caller gave (a SEARCH term, a mailbox, a password).
Deno.test("encoder: a lone surrogate is rejected, not replaced by U+FFFD", () => {
  const cases: [string, Arg, EncodeOptions][] = [
    ["string", "a\uD800b", {}],
    ["string, utf8", "a\uDC00", { utf8: true }],
    ["secret", secret("pw\uD83D"), {}],
    ["secret, utf8", secret("pw\uD83D"), { utf8: true }],
    ["mailbox, utf8", mailbox("box\uDFFF"), { utf8: true }],
    ["mailbox", mailbox("box\uDFFF"), {}],
    ["raw", "(\uD800)", {}],
  ];
  for (const [kind, arg, options] of cases) {
    assert.throws(() => enc([arg], options), TypeError, kind);
  }
  // A surrogate pair is a character like any other.
  assert.deepEqual(chunks(enc(["\uD83D\uDE00"])), [["A1 CMD {4}\r\n", true], ["😀\r\n", false]]);
});

// ---------------------------------------------------------------------------------------------
// Property: a strict RFC 3501 parser reads every encoded argument back, or the encoder refused.

/** What the parser expects at an argument's place. */
type Expect = { raw: string } | { astring: true };

interface Parsed {
  /** Each argument's value: text for atoms and quoted strings, bytes for literals. */
  values: (string | Uint8Array)[];
  /** Where each literal's data starts, and whether it was synchronising. */
  literals: { at: number; sync: boolean }[];
}

class ParseError extends Error {}

/**
 * A strict parser for `tag SP name *(SP arg) CRLF` where each arg is an atom, a quoted string
 * or a literal (RFC 3501 astring). The atom also admits `%`, `*` and `]` (list-mailbox and
 * sequence-set characters) and a leading `\` (flag), which the encoder deliberately sends bare.
 */
function parseCommand(
  b: Uint8Array,
  head: string,
  expects: readonly Expect[],
  options: EncodeOptions,
): Parsed {
  let pos = 0;
  const fail = (why: string): never => {
    throw new ParseError(`${why} at offset ${pos}: ${JSON.stringify(new TextDecoder().decode(b))}`);
  };
  const headBytes = textEncoder.encode(head);
  if (!headBytes.every((c, i) => b[i] === c)) fail("bad head");
  pos = headBytes.length;
  const values: (string | Uint8Array)[] = [];
  const literals: { at: number; sync: boolean }[] = [];
  const isAtomChar = (c: number) =>
    c > 0x20 && c < 0x7f && c !== 0x28 && c !== 0x29 && c !== 0x7b && c !== 0x22 && c !== 0x5c;

  for (const expect of expects) {
    if (b[pos] !== 0x20) fail("expected SP");
    pos++;
    if ("raw" in expect) {
      const raw = textEncoder.encode(expect.raw);
      if (!raw.every((c, i) => b[pos + i] === c)) fail("raw argument not sent as it is");
      pos += raw.length;
      values.push(expect.raw);
      continue;
    }
    const c = b[pos];
    if (c === 0x22) {
      pos++;
      const out: number[] = [];
      for (;;) {
        const d = b[pos];
        if (d === undefined) fail("unterminated quoted string");
        if (d === 0x22) break;
        if (d === 0x5c) {
          const e = b[pos + 1];
          if (e !== 0x22 && e !== 0x5c) fail("bad escape in quoted string");
          out.push(e);
          pos += 2;
          continue;
        }
        if (d === 0x00 || d === 0x0d || d === 0x0a) fail("CR, LF or NUL in quoted string");
        if (d >= 0x80 && !options.utf8) fail("8-bit byte in quoted string without UTF8=ACCEPT");
        out.push(d);
        pos++;
      }
      pos++;
      try {
        values.push(utf8.decode(new Uint8Array(out)));
      } catch {
        fail("quoted string is not UTF-8");
      }
    } else if (c === 0x7b) {
      pos++;
      let digits = "";
      while (b[pos] >= 0x30 && b[pos] <= 0x39) digits += String.fromCharCode(b[pos++]);
      if (digits === "") fail("literal without size");
      const nonSync = b[pos] === 0x2b;
      if (nonSync) pos++;
      if (b[pos] !== 0x7d || b[pos + 1] !== 0x0d || b[pos + 2] !== 0x0a) fail("bad literal marker");
      pos += 3;
      const n = Number(digits);
      if (nonSync && !(options.literalPlus || (options.literalMinus && n <= 4096))) {
        fail("non-synchronising literal not allowed");
      }
      if (pos + n > b.length) fail("literal runs past the end");
      literals.push({ at: pos, sync: !nonSync });
      values.push(b.slice(pos, pos + n));
      pos += n;
    } else {
      const start = pos;
      if (b[pos] === 0x5c) pos++;
      const first = pos;
      while (pos < b.length && isAtomChar(b[pos])) pos++;
      if (pos === first) fail("empty atom");
      values.push(new TextDecoder().decode(b.subarray(start, pos)));
    }
  }
  if (b[pos] !== 0x0d || b[pos + 1] !== 0x0a || pos + 2 !== b.length) fail("expected final CRLF");
  return { values, literals };
}

type GenArg =
  | { kind: "string"; value: string }
  | { kind: "mailbox"; value: string }
  | { kind: "secret"; value: string }
  | { kind: "number"; value: number }
  | { kind: "bytes"; value: Uint8Array }
  | { kind: "null" };

const unitArb = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "grapheme-ascii", minLength: 1, maxLength: 1 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      " ",
      "(",
      ")",
      "{",
      "}",
      '"',
      "\\",
      "*",
      "%",
      "]",
      "[",
      "&",
      "&-",
      "+",
      "~",
      "\r",
      "\n",
      "\0",
      "\t",
      "\x01",
      "\x7f",
      "é",
      "€",
      "😀",
      "{5}",
      "{5+}",
      "~{5}",
      "{0}",
      "7",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  // Surrogate halves: two in a row may pair up into a valid character, or stay lone.
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u)),
  },
);

const textArb = fc.string({ unit: unitArb, maxLength: 10 });

/** Text, sometimes wrapped in () or "" so the raw rule is exercised. */
const stringArb = fc.oneof(
  { weight: 4, arbitrary: textArb },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.constantFrom("()", '""'), textArb).map(([w, s]) => w[0] + s + w[1]),
  },
);

const genArgArb: fc.Arbitrary<GenArg> = fc.oneof(
  { weight: 6, arbitrary: stringArb.map((value): GenArg => ({ kind: "string", value })) },
  { weight: 3, arbitrary: stringArb.map((value): GenArg => ({ kind: "mailbox", value })) },
  { weight: 2, arbitrary: stringArb.map((value): GenArg => ({ kind: "secret", value })) },
  { weight: 1, arbitrary: fc.nat().map((value): GenArg => ({ kind: "number", value })) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 12 }).map((value): GenArg => ({ kind: "bytes", value })),
  },
  { weight: 1, arbitrary: fc.constant<GenArg>({ kind: "null" }) },
);

const optionsArb: fc.Arbitrary<EncodeOptions> = fc.record({
  utf8: fc.boolean(),
  literalPlus: fc.boolean(),
  literalMinus: fc.boolean(),
});

const FORBIDDEN = /[\0\r\n]/;
// deno-lint-ignore no-control-regex
const NON_ASCII = /[^\x00-\x7f]/;
const MARKER = /~?\{\d+\+?\}$/;

function isRaw(s: string): boolean {
  return s.length >= 2 &&
    ((s[0] === "(" && s[s.length - 1] === ")") || (s[0] === '"' && s[s.length - 1] === '"'));
}

/** Whether an argument must be refused: CR/LF/NUL, a lone surrogate, a raw hidden marker. */
function mustRefuse(arg: GenArg): boolean {
  if (arg.kind !== "string" && arg.kind !== "secret" && arg.kind !== "mailbox") return false;
  const v = arg.value;
  if (FORBIDDEN.test(v) || !v.isWellFormed()) return true;
  return arg.kind !== "secret" && isRaw(v) && MARKER.test(v.slice(0, -1));
}

/** The form the mailbox's name travels in. */
function mailboxWire(value: string, options: EncodeOptions): string {
  return !options.utf8 && NON_ASCII.test(value) ? encodeMailboxName(value) : value;
}

function toArg(g: GenArg): Arg {
  switch (g.kind) {
    case "string":
      return g.value;
    case "mailbox":
      return mailbox(g.value);
    case "secret":
      return secret(g.value);
    case "number":
      return g.value;
    case "bytes":
      return g.value;
    case "null":
      return null;
  }
}

Deno.test("encoder property: every argument reads back with a strict parser, or is refused", () => {
  fc.assert(
    fc.property(fc.array(genArgArb, { maxLength: 4 }), optionsArb, (gen, options) => {
      const args = gen.map(toArg);
      let cmd: EncodedCommand;
      try {
        cmd = encodeCommand("T7", "UID SEARCH", args, options);
      } catch (e) {
        assert.ok(e instanceof TypeError, `expected TypeError, got ${String(e)}`);
        assert.ok(gen.some(mustRefuse), `refused a safe argument: ${e.message}`);
        return;
      }
      assert.ok(!gen.some(mustRefuse), "accepted an unsafe argument");
      const present = gen.filter((g) => g.kind !== "null");
      const expects: Expect[] = present.map((g) => {
        if (g.kind === "string" && isRaw(g.value)) return { raw: g.value };
        if (g.kind === "mailbox" && isRaw(g.value)) return { raw: mailboxWire(g.value, options) };
        return { astring: true };
      });
      const all = concatChunks(cmd);
      const parsed = parseCommand(all, "T7 UID SEARCH", expects, options);

      // The chunks split exactly after each literal marker, waiting only for synchronising ones.
      const ends: number[] = [];
      let at = 0;
      for (const c of cmd.chunks) ends.push(at += c.bytes.length);
      assert.deepEqual(ends.slice(0, -1), parsed.literals.map((l) => l.at));
      assert.deepEqual(cmd.chunks.map((c) => c.waitAfter), [
        ...parsed.literals.map((l) => l.sync),
        false,
      ]);

      present.forEach((g, i) => {
        const got = parsed.values[i];
        // Bytes arguments are compared as bytes; every other literal must be valid UTF-8.
        const text = typeof got === "string" ? got : g.kind === "bytes" ? "" : utf8.decode(got);
        switch (g.kind) {
          case "string":
            assert.equal(text, g.value);
            break;
          case "mailbox":
            assert.equal(
              isRaw(g.value) || options.utf8 || !NON_ASCII.test(g.value)
                ? text
                : decodeMailboxName(text),
              isRaw(g.value) ? mailboxWire(g.value, options) : g.value,
            );
            break;
          case "secret":
            assert.equal(text, g.value);
            assert.ok(typeof got !== "string" || b(all).includes(quoteString(g.value)));
            break;
          case "number":
            assert.equal(got, String(g.value));
            break;
          case "bytes":
            assert.deepEqual(got, g.value);
            break;
        }
      });
    }),
    { seed: 0xe1c0de, numRuns: 20_000 },
  );
});

/** Other arguments, drawn without "Z" so they cannot contain the secret by chance. */
const plainArb = fc.string({
  unit: fc.constantFrom("a", "1", " ", "(", ")", '"', "é", "{5}"),
  maxLength: 6,
});

Deno.test("encoder property: a secret never appears in the log", () => {
  fc.assert(
    fc.property(
      textArb,
      fc.array(plainArb, { maxLength: 3 }),
      optionsArb,
      (value, rest, options) => {
        const s = "Zq" + value + "Zq";
        let cmd: EncodedCommand;
        try {
          cmd = encodeCommand("A1", "LOGIN", [...rest, secret(s)], options);
        } catch (e) {
          assert.ok(e instanceof TypeError);
          assert.ok(FORBIDDEN.test(s) || !s.isWellFormed() || rest.some(isRaw));
          return;
        }
        assert.ok(!cmd.log.includes(s), cmd.log);
        assert.ok(!cmd.log.includes(quoteString(s)), cmd.log);
      },
    ),
    { seed: 0x5ec, numRuns: 10_000 },
  );
});

function concatChunks(cmd: EncodedCommand): Uint8Array {
  let n = 0;
  for (const c of cmd.chunks) n += c.bytes.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const c of cmd.chunks) {
    out.set(c.bytes, at);
    at += c.bytes.length;
  }
  return out;
}

/** Bytes as UTF-8 text, for substring checks on the wire. */
function b(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

Deno.test("encoder property: an argument goes out bare exactly when isAtomSafe says so", () => {
  // Every ASCII character but CR, LF and NUL (refused), plus a non-ASCII one.
  const unit = fc.integer({ min: 1, max: 0x80 })
    .filter((c) => c !== 0x0a && c !== 0x0d)
    .map((c) => c === 0x80 ? "é" : String.fromCharCode(c));
  fc.assert(
    fc.property(fc.string({ unit, maxLength: 8 }), (s) => {
      if (isRaw(s)) return;
      const line = new TextDecoder().decode(concatChunks(enc([s])));
      assert.equal(line === `A1 CMD ${s}\r\n`, isAtomSafe(s), JSON.stringify(s));
    }),
    { seed: 0xa70, numRuns: 20_000 },
  );
});
