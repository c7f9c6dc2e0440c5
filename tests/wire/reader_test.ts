import assert from "node:assert/strict";
// deno-lint-ignore no-import-prefix -- deno.json has no import map entry for fast-check yet
import fc from "npm:fast-check@4";
import { IMAP4Abort } from "../../lib/errors.ts";
import { type ReaderLimits, type Response, ResponseReader } from "../../lib/wire/reader.ts";
import { bytes, ScriptedSource, type ScriptOptions } from "./_source.ts";

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");

/** Reads `count` responses, then checks that the stream ends with an EOF abort. */
async function readAllThenEof(
  src: ScriptedSource,
  count: number,
  limits: Partial<ReaderLimits> = {},
): Promise<Response[]> {
  const reader = new ResponseReader(src, limits);
  const out: Response[] = [];
  for (let i = 0; i < count; i++) {
    const r = await reader.readResponse();
    assert.ok(r !== null, "a hard read never returns null");
    out.push(r);
  }
  await assert.rejects(reader.readResponse(), isAbort(/^Connection closed by the server$/));
  assert.equal(src.concurrent, 0, "the reader never issues two reads at once");
  return out;
}

/** An assert.rejects/throws validator: an IMAP4Abort whose message matches `re`. */
function isAbort(re: RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof IMAP4Abort, `expected IMAP4Abort, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  };
}

/** Chunk sizes that cut `wire` right after every LF: line by line (literal bodies included). */
function lineSizes(wire: Uint8Array): number[] {
  const sizes: number[] = [];
  let last = 0;
  for (let i = 0; i < wire.length; i++) {
    if (wire[i] === 0x0a) {
      sizes.push(i + 1 - last);
      last = i + 1;
    }
  }
  if (last < wire.length) sizes.push(wire.length - last);
  return sizes;
}

/** The three standard deliveries: whole, line by line, byte by byte. */
function deliveries(wire: Uint8Array): [string, ScriptOptions][] {
  return [
    ["whole", {}],
    ["line by line", { sizes: lineSizes(wire), cycle: false }],
    ["byte by byte", { sizes: [1] }],
  ];
}

const NON_UTF8 = new Uint8Array([0xff, 0xfe, 0x80, 0xc3, 0x28, 0x00, 0x7b, 0x35, 0x7d]);

// A stream with every shape: untagged without literal, several literals (zero-length, holding
// CRLF, `{5}`-looking text and non-UTF-8 bytes), continuation, tagged with a `{5}` ending.
const MIXED = bytes(
  "* OK [CAPABILITY IMAP4rev1 LITERAL+] Ready\r\n",
  "* 1 FETCH (BODY[HEADER] {0}\r\n",
  " BODY[TEXT] {12}\r\n",
  "line1\r\n{5}\r\n",
  " X-NON-UTF8 {9}\r\n",
  NON_UTF8,
  " FLAGS (\\Seen) \xe9)\r\n", // é as one UTF-16 unit encodes to UTF-8 c3 a9
  "+ go ahead {5}\r\n",
  "a001 OK FETCH done {5}\r\n",
  "* 2 EXISTS\r\n",
  "\r\n",
);

const MIXED_EXPECTED: Response[] = [
  { lines: ["* OK [CAPABILITY IMAP4rev1 LITERAL+] Ready"], literals: [] },
  {
    lines: [
      "* 1 FETCH (BODY[HEADER] {0}",
      " BODY[TEXT] {12}",
      " X-NON-UTF8 {9}",
      " FLAGS (\\Seen) é)",
    ],
    literals: [new Uint8Array(0), bytes("line1\r\n{5}\r\n"), NON_UTF8],
  },
  { lines: ["+ go ahead {5}"], literals: [] },
  { lines: ["a001 OK FETCH done {5}"], literals: [] },
  { lines: ["* 2 EXISTS"], literals: [] },
  { lines: [""], literals: [] },
];

for (const [how, options] of deliveries(MIXED)) {
  Deno.test(`reader frames a mixed stream fed ${how}`, async () => {
    const src = new ScriptedSource(MIXED, options);
    const got = await readAllThenEof(src, MIXED_EXPECTED.length);
    assert.deepEqual(got, MIXED_EXPECTED);
    if (how === "byte by byte") {
      assert.equal(src.log.filter((r) => r.given === 1).length, MIXED.length);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Property: random valid streams, cut at random points, frame identically.

interface ModelPart {
  text: Uint8Array;
  literal?: Uint8Array;
}

const LITERAL_AT_END = /\{\d+\}$/;

/** Line text: printable ASCII, non-UTF-8 bytes and brace/digit fragments; never CR or LF. */
const lineTextArb: fc.Arbitrary<Uint8Array> = fc
  .array(
    fc.oneof(
      fc.string({ maxLength: 12 }).map((s) => bytes(s)),
      fc.uint8Array({ minLength: 1, maxLength: 4, min: 0x80, max: 0xff }),
      fc.constantFrom("{", "}", "{5}", "{0}", "0", "42", " ", "(", ")", "\\", '"', "\t", "*", "+")
        .map((s) => bytes(s)),
    ),
    { maxLength: 8 },
  )
  .map((parts) => bytes(...parts));

/** Literal bytes: empty, random, or holding CRLF, `{5}`-looking lines and non-UTF-8 bytes. */
const literalArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constant(new Uint8Array(0)),
  fc.uint8Array({ maxLength: 40 }),
  fc
    .array(
      fc.oneof(
        fc.constantFrom("\r\n", "{5}\r\n", "* 1 FETCH {3}\r\n", "\n", "\r", "a001 OK\r\n")
          .map((s) => bytes(s)),
        fc.uint8Array({ minLength: 1, maxLength: 6 }),
      ),
      { maxLength: 6 },
    )
    .map((parts) => bytes(...parts)),
);

/** Appends `x` when the text would end in a literal marker (it must not announce one). */
function noMarker(text: Uint8Array): Uint8Array {
  return LITERAL_AT_END.test(latin1.decode(text)) ? bytes(text, "x") : text;
}

const untaggedArb: fc.Arbitrary<ModelPart[]> = fc
  .tuple(lineTextArb, fc.array(fc.tuple(literalArb, lineTextArb), { maxLength: 4 }))
  .map(([first, middles]) => {
    const parts: ModelPart[] = [];
    let text = bytes("* ", first);
    for (const [lit, next] of middles) {
      parts.push({ text, literal: lit });
      text = next;
    }
    parts.push({ text: noMarker(text) });
    return parts;
  });

const taggedArb: fc.Arbitrary<ModelPart[]> = fc
  .tuple(
    fc.integer({ min: 0, max: 99999 }),
    fc.constantFrom("OK", "NO", "BAD"),
    lineTextArb,
    fc.constantFrom("", " {5}", "{0}", " {12}"),
  )
  .map(([n, status, text, tail]) => [{ text: bytes(`a${n} ${status} `, text, tail) }]);

const continuationArb: fc.Arbitrary<ModelPart[]> = fc
  .tuple(lineTextArb, fc.constantFrom("", " {5}", "{3}"))
  .map(([text, tail]) => [{ text: bytes("+ ", text, tail) }]);

const streamArb = fc.array(fc.oneof(untaggedArb, untaggedArb, taggedArb, continuationArb), {
  minLength: 1,
  maxLength: 8,
});

function wireOf(responses: ModelPart[][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const response of responses) {
    for (const part of response) {
      if (part.literal === undefined) parts.push(part.text, bytes("\r\n"));
      else parts.push(part.text, bytes(`{${part.literal.length}}\r\n`), part.literal);
    }
  }
  return bytes(...parts);
}

function expectedOf(responses: ModelPart[][]): Response[] {
  return responses.map((response) => ({
    lines: response.map((p) =>
      utf8.decode(p.literal === undefined ? p.text : bytes(p.text, `{${p.literal.length}}`))
    ),
    literals: response.filter((p) => p.literal !== undefined).map((p) => p.literal!),
  }));
}

const splitArb = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 12 }),
  },
  { weight: 1, arbitrary: fc.constant([1]) },
  { weight: 1, arbitrary: fc.constant([100_000]) },
);

Deno.test("reader property: random valid streams cut at random points give the same responses", async () => {
  await fc.assert(
    fc.asyncProperty(streamArb, splitArb, async (responses, sizes) => {
      const wire = wireOf(responses);
      const expected = expectedOf(responses);
      const whole = await readAllThenEof(new ScriptedSource(wire), expected.length);
      assert.deepEqual(whole, expected);
      const src = new ScriptedSource(wire, { sizes });
      const split = await readAllThenEof(src, expected.length);
      assert.deepEqual(split, whole);
      assert.equal(src.delivered, wire.length);
    }),
    { seed: 0x1a2b3c, numRuns: 2500 },
  );
});

// ---------------------------------------------------------------------------------------------
// Property: arbitrary bytes only ever give IMAP4Abort, and never hang.

const FRAGMENTS = [
  "* ",
  "+ ",
  "a1 OK ",
  "{",
  "}",
  "{3}",
  "{0}",
  "{12}",
  "{99999}",
  "{1234567890123}",
  "\r\n",
  "\r",
  "\n",
  "0",
  "7",
  " ",
];

const junkArb = fc
  .array(
    fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 8 }),
      fc.constantFrom(...FRAGMENTS).map((s) => bytes(s)),
    ),
    { maxLength: 40 },
  )
  .map((parts) => bytes(...parts));

const limitsArb: fc.Arbitrary<Partial<ReaderLimits>> = fc.oneof(
  fc.constant({}),
  fc.record({
    maxLineLength: fc.integer({ min: 0, max: 40 }),
    maxLiteralSize: fc.integer({ min: 0, max: 20 }),
    maxResponseSize: fc.integer({ min: 0, max: 80 }),
  }),
);

type Op = { kind: "response" } | { kind: "line" } | { kind: "exactly"; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Op>({ kind: "response" }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: "line" }) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 16 }).map((n): Op => ({ kind: "exactly", n })),
  },
);

Deno.test("reader property: arbitrary bytes end in IMAP4Abort, never another error or a hang", async () => {
  await fc.assert(
    fc.asyncProperty(
      junkArb,
      splitArb,
      limitsArb,
      fc.array(opArb, { minLength: 1, maxLength: 8 }),
      async (wire, sizes, limits, ops) => {
        const src = new ScriptedSource(wire, { sizes });
        // No timeout: no timer is ever armed, so a hang would leave the event loop empty and
        // fail the test instead of being hidden behind a timeout abort.
        const reader = new ResponseReader(src, { ...limits, timeout: Infinity });
        let steps = 0;
        for (;;) {
          const op = ops[steps % ops.length];
          try {
            if (op.kind === "response") assert.ok((await reader.readResponse()) !== null);
            else if (op.kind === "line") await reader.readLine();
            else await reader.readExactly(op.n);
          } catch (e) {
            assert.ok(e instanceof IMAP4Abort, `expected IMAP4Abort, got ${String(e)}`);
            assert.doesNotMatch(e.message, /Timed out/);
            break;
          }
          // Every successful step consumes at least one byte.
          assert.ok(++steps <= wire.length, "more successful reads than bytes");
        }
        assert.equal(src.concurrent, 0);
      },
    ),
    { seed: 0x5eed, numRuns: 5000 },
  );
});

// ---------------------------------------------------------------------------------------------
// Literal detection.

Deno.test("reader: an untagged line ending in {5} announces a literal", async () => {
  const wire = "* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\n";
  for (const [, options] of deliveries(bytes(wire))) {
    const got = await readAllThenEof(new ScriptedSource(wire, options), 1);
    assert.deepEqual(got, [{
      lines: ["* 1 FETCH (BODY[] {5}", ")"],
      literals: [bytes("ab\r\nc")],
    }]);
  }
});

Deno.test("reader: tagged and continuation lines ending in {5} are not literals", async () => {
  const wire = "a1 OK done {5}\r\nhello\r\n+ more {5}\r\n12345\r\n";
  for (const [, options] of deliveries(bytes(wire))) {
    const got = await readAllThenEof(new ScriptedSource(wire, options), 4);
    assert.deepEqual(got.map((r) => r.lines), [
      ["a1 OK done {5}"],
      ["hello"],
      ["+ more {5}"],
      ["12345"],
    ]);
    assert.ok(got.every((r) => r.literals.length === 0));
  }
});

Deno.test("reader: a tagged line with a 13-digit {n} is just text", async () => {
  const got = await readAllThenEof(new ScriptedSource("a1 OK {1234567890123}\r\n"), 1);
  assert.deepEqual(got, [{ lines: ["a1 OK {1234567890123}"], literals: [] }]);
});

Deno.test("reader: {} and {+5} and {5 } are not literal markers", async () => {
  const wire = "* OK a {}\r\n* OK b {+5}\r\n* OK c {5 }\r\n";
  const got = await readAllThenEof(new ScriptedSource(wire), 3);
  assert.deepEqual(got.map((r) => r.lines[0]), ["* OK a {}", "* OK b {+5}", "* OK c {5 }"]);
});

Deno.test("reader: literal sizes with 13 or more digits abort", async () => {
  for (const size of ["1234567890123", "0000000000005", "99999999999999999999"]) {
    for (const [, options] of deliveries(bytes(`* 1 FETCH (BODY[] {${size}}\r\n`))) {
      const src = new ScriptedSource(`* 1 FETCH (BODY[] {${size}}\r\nhello)\r\n`, options);
      const reader = new ResponseReader(src);
      await assert.rejects(reader.readResponse(), isAbort(/Literal size has too many digits/));
    }
  }
  // Twelve digits are parsed, then refused by the size limit, not by the digit count.
  const reader = new ResponseReader(new ScriptedSource("* 1 FETCH (BODY[] {999999999999}\r\n"));
  await assert.rejects(
    reader.readResponse(),
    isAbort(/^Literal of 999999999999 bytes exceeds the limit of \d+ bytes/),
  );
});

// ---------------------------------------------------------------------------------------------
// Limits.

Deno.test("reader: a line of exactly maxLineLength passes, one byte more aborts", async () => {
  const max = 100;
  const ok = "* OK " + "x".repeat(max - 5);
  const over = ok + "y";
  for (const [how, options] of deliveries(bytes(ok + "\r\n"))) {
    const got = await readAllThenEof(new ScriptedSource(ok + "\r\n", options), 1, {
      maxLineLength: max,
    });
    assert.deepEqual(got, [{ lines: [ok], literals: [] }], how);
  }
  for (const [how, options] of deliveries(bytes(over + "\r\n"))) {
    const reader = new ResponseReader(new ScriptedSource(over + "\r\n", options), {
      maxLineLength: max,
    });
    await assert.rejects(
      reader.readResponse(),
      isAbort(/^Response line exceeds the limit of 100 bytes/),
      how,
    );
  }
  // At the default limit a 1 MB line arrives in 64 KiB reads and its LF comes in the same read
  // as its last bytes, so the check made at the LF decides.
  const exact = "* OK " + "x".repeat(1_000_000 - 5);
  for (const [line, ok] of [[exact, true], [exact + "y", false]] as const) {
    const src = new ScriptedSource(line + "\r\n", { sizes: [65536] });
    const reader = new ResponseReader(src);
    if (ok) assert.equal((await reader.readResponse())?.lines[0].length, 1_000_000);
    else await assert.rejects(reader.readResponse(), isAbort(/exceeds the limit of 1000000 bytes/));
    assert.equal(src.delivered, line.length + 2, "the whole line and its CRLF were read");
  }
});

Deno.test("reader: an endless line aborts once past maxLineLength, whole and drip-fed", async () => {
  const max = 100;
  const line = "* OK " + "z".repeat(10_000) + "\r\n";
  for (const [how, options] of [["whole", {}], ["byte by byte", { sizes: [1] }]] as const) {
    const src = new ScriptedSource(line, options);
    const reader = new ResponseReader(src, { maxLineLength: max });
    await assert.rejects(reader.readResponse(), isAbort(/exceeds the limit of 100 bytes/), how);
    // The reader stops as soon as the limit is passed: it never takes in the rest of the line.
    assert.ok(src.delivered <= max + 2, `${how}: read ${src.delivered} bytes of a ${max} limit`);
  }
  // With the default limit, the same holds at scale: a 3 MB line is cut near 1,000,000 bytes.
  const big = bytes("* OK ", new Uint8Array(3_000_000).fill(0x61), "\r\n");
  const src = new ScriptedSource(big, { sizes: [65536] });
  const reader = new ResponseReader(src);
  await assert.rejects(reader.readResponse(), isAbort(/exceeds the limit of 1000000 bytes/));
  assert.ok(src.delivered <= 1_000_000 + 2 + 65536, `read ${src.delivered} bytes`);
});

Deno.test("reader: a literal over maxLiteralSize aborts before any of its bytes are read", async () => {
  const line = "* 1 FETCH (BODY[] {11}\r\n";
  const wire = line + "hello world)\r\n";
  const lineBytes = bytes(line).length;
  for (
    const [how, options, reads] of [
      ["line-sized chunks", { sizes: [lineBytes] }, 1],
      ["byte by byte", { sizes: [1] }, lineBytes],
    ] as const
  ) {
    const src = new ScriptedSource(wire, options);
    const reader = new ResponseReader(src, { maxLiteralSize: 10 });
    await assert.rejects(
      reader.readResponse(),
      isAbort(/^Literal of 11 bytes exceeds the limit of 10 bytes/),
      how,
    );
    assert.equal(src.delivered, lineBytes, `${how}: no literal byte was taken`);
    assert.equal(src.reads, reads, `${how}: the source was not asked for more`);
  }
  // Exactly at the limit is fine.
  const got = await readAllThenEof(new ScriptedSource(wire), 1, { maxLiteralSize: 11 });
  assert.deepEqual(got[0].literals, [bytes("hello world")]);
});

Deno.test("reader: maxResponseSize aborts before the literal that would pass it", async () => {
  // 21 + 40 = 61 bytes, then 9 + 40 = 110 > 100.
  const head = "* 1 FETCH (A {40}\r\n" + "a".repeat(40) + " B {40}\r\n";
  const wire = head + "b".repeat(40) + ")\r\n";
  const src = new ScriptedSource(wire, { sizes: [1] });
  const reader = new ResponseReader(src, { maxResponseSize: 100 });
  await assert.rejects(
    reader.readResponse(),
    isAbort(/^Response exceeds the limit of 100 bytes/),
  );
  assert.equal(src.delivered, bytes(head).length, "the second literal was not read");
  // The same response fits a limit of 113 (61 + 9 + 40 + 3).
  const got = await readAllThenEof(new ScriptedSource(wire), 1, { maxResponseSize: 113 });
  assert.equal(got[0].literals.length, 2);
});

// Regression (found by these tests, fixed): the line part after the last literal, and a
// response with no literal at all, were never checked against maxResponseSize, although
// ReaderLimits documents it as "the largest whole response (lines and literals)".
Deno.test("reader: maxResponseSize also counts the last line of a response", async () => {
  const withLiteral = "* 1 FETCH (BODY[] {5}\r\nhello " + "x".repeat(200) + ")\r\n";
  const reader = new ResponseReader(new ScriptedSource(withLiteral), { maxResponseSize: 100 });
  await assert.rejects(reader.readResponse(), isAbort(/exceeds the limit of 100 bytes/));
  const plain = "* OK " + "x".repeat(200) + "\r\n";
  const reader2 = new ResponseReader(new ScriptedSource(plain), { maxResponseSize: 100 });
  await assert.rejects(reader2.readResponse(), isAbort(/exceeds the limit of 100 bytes/));
});

// ---------------------------------------------------------------------------------------------
// Framing errors and EOF.

Deno.test("reader: a bare LF line terminator aborts", async () => {
  for (const wire of ["* OK hello\n", "* OK a\nb\r\n", "\n", "a1 OK fine\r\n* OK bad\n"]) {
    for (const [how, options] of deliveries(bytes(wire))) {
      const reader = new ResponseReader(new ScriptedSource(wire, options));
      const first = wire.startsWith("a1") ? await reader.readResponse() : null;
      if (first !== null) assert.deepEqual(first.lines, ["a1 OK fine"]);
      await assert.rejects(
        reader.readResponse(),
        isAbort(/^Cannot parse response: line not terminated by CRLF/),
        `${JSON.stringify(wire)} ${how}`,
      );
    }
  }
});

Deno.test("reader: EOF in the middle of a line aborts with a clear message", async () => {
  for (const [how, options] of deliveries(bytes("* OK hel"))) {
    const reader = new ResponseReader(new ScriptedSource("* OK hel", options));
    await assert.rejects(
      reader.readResponse(),
      isAbort(/^Connection closed by the server in the middle of a response line: "\* OK hel"/),
      how,
    );
    // The connection stays dead.
    await assert.rejects(reader.readResponse(), isAbort(/^Connection closed by the server/));
  }
});

Deno.test("reader: EOF in the middle of a literal aborts with a clear message", async () => {
  const wire = "* 1 FETCH (BODY[] {10}\r\nabc";
  for (const [how, options] of deliveries(bytes(wire))) {
    const reader = new ResponseReader(new ScriptedSource(wire, options));
    await assert.rejects(
      reader.readResponse(),
      isAbort(/^Connection closed by the server in the middle of a literal/),
      how,
    );
  }
  // A literal larger than the exact-allocation threshold (8 MiB) takes the chunked path.
  const big = bytes("* 1 FETCH (BODY[] {9000000}\r\n", new Uint8Array(5_000_000));
  const reader = new ResponseReader(new ScriptedSource(big, { sizes: [65536] }));
  await assert.rejects(reader.readResponse(), isAbort(/in the middle of a literal/));
});

Deno.test("reader: a failing source becomes IMAP4Abort", async () => {
  const reader = new ResponseReader(new ScriptedSource("* OK", { end: "error" }));
  await assert.rejects(reader.readResponse(), isAbort(/^Connection failed: .*connection reset/));
});

// ---------------------------------------------------------------------------------------------
// Deadlines.

Deno.test("reader: a silent source aborts after about the timeout", async () => {
  const src = new ScriptedSource("", { end: "silence" });
  try {
    const reader = new ResponseReader(src, { timeout: 50 });
    const t0 = performance.now();
    await assert.rejects(reader.readResponse(), isAbort(/^Timed out waiting for the server$/));
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 45 && elapsed < 2000, `aborted after ${elapsed} ms`);
  } finally {
    src.close();
  }
});

Deno.test("reader: a line that stops half way aborts after the timeout", async () => {
  const src = new ScriptedSource("* OK hal", { end: "silence" });
  try {
    const reader = new ResponseReader(src, { timeout: 50 });
    await assert.rejects(
      reader.readResponse(),
      isAbort(/^Timed out waiting for the rest of a response line: "\* OK hal"/),
    );
  } finally {
    src.close();
  }
});

Deno.test("reader: with onDeadline, a timeout is handed to the owner, whose close ends the wait", async () => {
  for (
    const [sent, message] of [
      ["", /^Timed out waiting for the server$/],
      ["* OK hal", /^Timed out waiting for the rest of a response line: "\* OK hal"/],
    ] as const
  ) {
    const src = new ScriptedSource(sent, { end: "silence" });
    const handed: IMAP4Abort[] = [];
    try {
      const reader = new ResponseReader(src, { timeout: 50 }, (error) => {
        handed.push(error);
        // The owner closes the source; only that settles the pending read.
        src.close();
      });
      const t0 = performance.now();
      // The pump's way to wait for the first bytes; readResponse() for the rest of a line.
      await assert.rejects(
        sent === ""
          ? new Promise<void>((resolve, reject) => reader.fillThen(resolve, reject))
          : reader.readResponse(),
        isAbort(message),
      );
      const elapsed = performance.now() - t0;
      assert.ok(elapsed >= 45 && elapsed < 2000, `aborted after ${elapsed} ms`);
      assert.equal(handed.length, 1);
      assert.match(handed[0].message, message);
      // The reader stays failed with the same error.
      await assert.rejects(reader.readResponse(), (e) => e === handed[0]);
    } finally {
      src.close();
    }
  }
});

Deno.test("reader: fill after fill keeps each wait's own deadline (the timer armed for an earlier one)", async () => {
  const src = new ScriptedSource("* OK first\r\n", { end: "silence" });
  const handed: IMAP4Abort[] = [];
  try {
    const reader = new ResponseReader(src, { timeout: 80 }, (error) => {
      handed.push(error);
      src.close();
    });
    // The first wait arms the timer for its deadline and ends at once.
    await reader.fill();
    assert.equal(reader.takeLine(), "* OK first");
    // Started later, the second wait's deadline is past the armed one: it is started in place,
    // and the timer, firing for the first deadline, must look again rather than expire it.
    await new Promise((r) => setTimeout(r, 50));
    const t0 = performance.now();
    let guard: ReturnType<typeof setTimeout> | undefined;
    const never = new Promise<never>((_, reject) => {
      guard = setTimeout(() => reject(new Error("the wait never expired")), 2000);
    });
    try {
      await assert.rejects(
        Promise.race([reader.fill(), never]),
        isAbort(/^Timed out waiting for the server$/),
      );
    } finally {
      clearTimeout(guard);
    }
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 75 && elapsed < 2000, `aborted after ${elapsed} ms`);
    assert.equal(handed.length, 1);
  } finally {
    src.close();
  }
});

Deno.test("reader: with onDeadline, a soft wait still returns null and keeps its read", async () => {
  const src = new ScriptedSource("* OK late\r\n", { delay: 80 });
  try {
    const reader = new ResponseReader(src, { timeout: 1000 }, () => {
      throw new Error("no hard deadline may pass here");
    });
    assert.equal(await reader.readResponse(20, true), null);
    assert.deepEqual(await reader.readResponse(), { lines: ["* OK late"], literals: [] });
  } finally {
    src.close();
  }
});

Deno.test("reader: a trickling line is cut off by the timeout even though bytes keep coming", async () => {
  // One byte every 10 ms: each read is quick, but the line as a whole is not.
  const src = new ScriptedSource("* OK " + "x".repeat(100) + "\r\n", { sizes: [1], delay: 10 });
  try {
    const reader = new ResponseReader(src, { timeout: 50 });
    await assert.rejects(reader.readResponse(), isAbort(/^Timed out waiting for the rest/));
    assert.ok(src.delivered < 50, `took ${src.delivered} bytes`);
  } finally {
    src.close();
  }
});

Deno.test("reader: the wait argument bounds the wait for the first byte", async () => {
  const src = new ScriptedSource("", { end: "silence" });
  try {
    const reader = new ResponseReader(src, { timeout: 60_000 });
    await assert.rejects(reader.readResponse(30), isAbort(/^Timed out waiting for the server$/));
  } finally {
    src.close();
  }
});

Deno.test("reader: a soft wait returns null and the next call gets the response, no bytes lost", async () => {
  const wire = "* 3 EXISTS\r\n* 1 FETCH (BODY[] {3}\r\nabc)\r\n";
  // The first read answers only after 150 ms; the rest answers at once.
  const src = new ScriptedSource(wire, { sizes: [5, 1000], delay: (i) => i === 0 ? 150 : 0 });
  try {
    const reader = new ResponseReader(src, { timeout: 1000 });
    assert.equal(await reader.readResponse(20, true), null);
    assert.equal(reader.reading, true, "the read is still in flight");
    assert.equal(await reader.readResponse(10, true), null, "a second soft wait also gives up");
    assert.equal(src.reads, 1, "the in-flight read was reused, not doubled");
    const first = await reader.readResponse();
    assert.deepEqual(first, { lines: ["* 3 EXISTS"], literals: [] });
    assert.equal(reader.reading, false);
    const second = await reader.readResponse(20, true);
    assert.deepEqual(second, { lines: ["* 1 FETCH (BODY[] {3}", ")"], literals: [bytes("abc")] });
    assert.equal(src.concurrent, 0);
  } finally {
    src.close();
  }
});

Deno.test("reader: a soft wait does not excuse a response that has begun", async () => {
  const src = new ScriptedSource("* OK par", { end: "silence" });
  try {
    const reader = new ResponseReader(src, { timeout: 40 });
    await assert.rejects(reader.readResponse(20, true), isAbort(/^Timed out waiting for the rest/));
  } finally {
    src.close();
  }
});

// Regression (found by these tests, fixed): after a soft wait left a read in flight,
// readExactly() issued a second read on the source instead of waiting for the pending one,
// whose bytes then landed in the buffer unaccounted for (lost); on a socket two reads race.
Deno.test("reader: readExactly after a soft wait reuses the in-flight read", async () => {
  const src = new ScriptedSource("hello\r\n", { delay: (i) => i === 0 ? 60 : 0 });
  try {
    const reader = new ResponseReader(src, { timeout: 1000 });
    assert.equal(await reader.readResponse(10, true), null);
    const got = await reader.readExactly(5);
    assert.equal(utf8.decode(got), "hello");
    assert.equal(src.concurrent, 0);
  } finally {
    src.close();
  }
});

Deno.test("reader: readLine after a soft wait reuses the in-flight read", async () => {
  const src = new ScriptedSource("+ ready\r\n", { delay: (i) => i === 0 ? 60 : 0 });
  try {
    const reader = new ResponseReader(src, { timeout: 1000 });
    assert.equal(await reader.readResponse(10, true), null);
    assert.equal(utf8.decode(await reader.readLine()), "+ ready\r\n");
    assert.equal(src.concurrent, 0);
    assert.equal(src.reads, 1);
  } finally {
    src.close();
  }
});

Deno.test("reader: a trickling literal is cut off by the minimum literal rate", async () => {
  // Rule: once k literal bytes are in, more must come within timeout + k / minLiteralRate of the
  // literal's start. With timeout 50 ms and 1000 B/s, one byte every 10 ms (100 B/s) falls
  // behind after about 6 bytes, although no single read comes near the 50 ms timeout.
  const head = "* 1 FETCH (BODY[] {100}\r\n";
  const wire = head + "q".repeat(100) + ")\r\n";
  const headBytes = bytes(head).length;
  // Every read after the head gives one byte (cycle: false would hand out the rest at once).
  const trickle = new ScriptedSource(wire, {
    sizes: [headBytes, ...new Array(200).fill(1)],
    cycle: false,
    delay: (i) => i === 0 ? 0 : 10,
  });
  try {
    const reader = new ResponseReader(trickle, { timeout: 50, minLiteralRate: 1000 });
    const t0 = performance.now();
    await assert.rejects(reader.readResponse(), isAbort(/^Timed out reading a literal/));
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 45 && elapsed < 900, `cut off after ${elapsed} ms`);
    const literalBytes = trickle.delivered - headBytes;
    assert.ok(literalBytes > 0 && literalBytes < 100, `took ${literalBytes} literal bytes`);
  } finally {
    trickle.close();
  }
  // The same literal flowing at 20 bytes per 5 ms (4000 B/s) arrives whole, although it takes
  // longer than the 50 ms timeout when the machine is slow.
  const flowing = new ScriptedSource(wire, {
    sizes: [headBytes, 20],
    delay: (i) => i === 0 ? 0 : 5,
  });
  try {
    const got = await readAllThenEof(flowing, 1, { timeout: 50, minLiteralRate: 1000 });
    assert.deepEqual(got[0].literals, [bytes("q".repeat(100))]);
  } finally {
    flowing.close();
  }
});

Deno.test("reader: a peer silent in the middle of a huge literal is cut off after about the timeout", async () => {
  // At 1000 B/s a 1,000,000-byte literal may take 1000 s in all, but the allowance only grows
  // with the bytes actually received, so silence after 3 bytes ends it after about 50 ms.
  const src = new ScriptedSource("* 1 FETCH (BODY[] {1000000}\r\nabc", {
    sizes: [30, 3],
    end: "silence",
  });
  let guard: ReturnType<typeof setTimeout> | undefined;
  try {
    const reader = new ResponseReader(src, { timeout: 50, minLiteralRate: 1000 });
    const t0 = performance.now();
    // Fail in 2 s rather than wait out a budget that grew with the announced size.
    const late = new Promise<"late">((resolve) => guard = setTimeout(resolve, 2000, "late"));
    const outcome = await Promise.race([reader.readResponse().catch((e: unknown) => e), late]);
    assert.notEqual(outcome, "late", "still waiting after 2 s");
    isAbort(/^Timed out reading a literal/)(outcome);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed >= 45 && elapsed < 1000, `cut off after ${elapsed} ms`);
  } finally {
    clearTimeout(guard);
    src.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Large literals, readExactly and readLine.

async function sha256(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Deterministic pseudo-random bytes (xorshift32), so no two chunks look alike. */
function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

Deno.test("reader: a 50 MB literal in 64 KiB chunks arrives exact", async () => {
  const size = 50 * 1000 * 1000;
  const body = pseudoRandom(size, 0xc0ffee);
  const wire = bytes(`* 7 FETCH (BODY[] {${size}}\r\n`, body, ")\r\n", "a2 OK done\r\n");
  const src = new ScriptedSource(wire, { sizes: [65536] });
  const reader = new ResponseReader(src);
  const r = await reader.readResponse();
  assert.ok(r !== null);
  assert.deepEqual(r.lines, [`* 7 FETCH (BODY[] {${size}}`, ")"]);
  assert.equal(r.literals.length, 1);
  assert.equal(r.literals[0].length, size);
  assert.equal(await sha256(r.literals[0]), await sha256(body));
  assert.deepEqual(await reader.readResponse(), { lines: ["a2 OK done"], literals: [] });
  assert.ok(src.log.every((rec) => rec.given <= 65536));
});

Deno.test("reader: readLine returns a line with its CRLF, from the buffer first", async () => {
  const wire = "+ one\r\n+ two\r\n* OK three\r\n";
  for (const [how, options] of deliveries(bytes(wire))) {
    const src = new ScriptedSource(wire, options);
    const reader = new ResponseReader(src);
    assert.equal(utf8.decode(await reader.readLine()), "+ one\r\n", how);
    assert.equal(utf8.decode(await reader.readLine()), "+ two\r\n", how);
    assert.deepEqual(await reader.readResponse(), { lines: ["* OK three"], literals: [] }, how);
    await assert.rejects(reader.readLine(), isAbort(/^Connection closed by the server$/));
  }
  const reader = new ResponseReader(new ScriptedSource("bad\n"));
  await assert.rejects(reader.readLine(), isAbort(/not terminated by CRLF/));
  const short = new ResponseReader(new ScriptedSource("x".repeat(50) + "\r\n"), {
    maxLineLength: 10,
  });
  await assert.rejects(short.readLine(), isAbort(/exceeds the limit of 10 bytes/));
});

Deno.test("reader: readExactly takes n bytes from the buffer and then the source", async () => {
  const wire = bytes("* OK hi\r\n", NON_UTF8, "0123456789", "* OK end\r\n");
  for (const [how, options] of [...deliveries(wire), ["sevens", { sizes: [7] }] as const]) {
    const src = new ScriptedSource(wire, options);
    const reader = new ResponseReader(src);
    assert.deepEqual(await reader.readResponse(), { lines: ["* OK hi"], literals: [] }, how);
    assert.deepEqual(await reader.readExactly(NON_UTF8.length), NON_UTF8, how);
    assert.equal(utf8.decode(await reader.readExactly(3)), "012", how);
    assert.equal(utf8.decode(await reader.readExactly(7)), "3456789", how);
    assert.deepEqual(await reader.readResponse(), { lines: ["* OK end"], literals: [] }, how);
    await assert.rejects(reader.readExactly(1), isAbort(/Connection closed/));
    assert.equal(reader.buffered, 0);
  }
  const reader = new ResponseReader(new ScriptedSource("abc"));
  await assert.rejects(reader.readExactly(4), isAbort(/in the middle of a literal/));
});

Deno.test("reader: buffered counts the bytes read ahead of the last response", async () => {
  const reader = new ResponseReader(new ScriptedSource("* OK a\r\n* OK bc\r\n"));
  await reader.readResponse();
  assert.equal(reader.buffered, 9);
  await reader.readResponse();
  assert.equal(reader.buffered, 0);
});

// ---------------------------------------------------------------------------------------------
// Linear time, observed by counting scanned bytes rather than timing.

Deno.test({
  name: "reader: a 1 MB line fed byte by byte is scanned in linear time",
  fn: async () => {
    const n = 1_000_000;
    const line = bytes("* OK ", new Uint8Array(n - 5).fill(0x61), "\r\n");
    const src = new ScriptedSource(line, { sizes: [1] });
    // Count the bytes the reader searches for LF by wrapping indexOf for the test's duration.
    const proto = Uint8Array.prototype as Uint8Array & { indexOf: Uint8Array["indexOf"] };
    const original = proto.indexOf;
    let scanned = 0;
    let scans = 0;
    proto.indexOf = function (this: Uint8Array, ...args: Parameters<Uint8Array["indexOf"]>) {
      if (args[0] === 0x0a) {
        scans++;
        // What a search from its start index to the end of the view can cover.
        scanned += this.length - Math.max(0, args[1] ?? 0);
      }
      return original.apply(this, args);
    };
    let r: Response | null;
    try {
      // No timeout: no timer per read, so a million reads stay cheap.
      r = await new ResponseReader(src, { timeout: Infinity }).readResponse();
    } finally {
      proto.indexOf = original;
    }
    assert.ok(r !== null);
    assert.equal(r.lines[0].length, n);
    assert.equal(src.reads, n + 2);
    assert.ok(scans > 0, "the instrumentation saw the reader's scans");
    // A rescan from the line's start on each byte would search about n^2 / 2 = 5e11 bytes.
    assert.ok(scanned <= 2 * (n + 2), `searched ${scanned} bytes for a ${n}-byte line`);
  },
});

Deno.test("reader property: lines taken pump-style match a per-line decode, whatever the bytes", async () => {
  // Pieces that stress the one-decode path: ASCII, lone invalid bytes (one U+FFFD each, so
  // offsets still agree), multi-byte text (offsets differ), split sequences, a BOM, braces.
  const b = (...xs: number[]) => new Uint8Array(xs);
  const ascii = fc.constantFrom<Uint8Array>(
    bytes("FETCH (UID 7)"),
    bytes("OK done"),
    bytes("}"),
    bytes("{x}"),
    bytes("\r"),
    // Lines longer than the first window (1 KiB) and the next (4 KiB).
    bytes("ENVELOPE ".repeat(150)),
  );
  const other = fc.constantFrom<Uint8Array>(
    b(0x80),
    b(0xff, 0x41),
    bytes("caf", b(0xc3, 0xa9)),
    b(0xe2, 0x82),
    b(0xef, 0xbb, 0xbf, 0x78),
  );
  // Mostly ASCII, as real answers are, so that whole windows of text occur too.
  const piece = fc.oneof({ arbitrary: ascii, weight: 30 }, { arbitrary: other, weight: 1 });
  const lineArb = fc.array(piece, { minLength: 1, maxLength: 5 }).map((ps) => bytes(...ps, "\r\n"));
  await fc.assert(
    fc.asyncProperty(
      // Up to 150 lines read in reads of up to 5,000 bytes: the text path's windows (1 KiB)
      // end anywhere, in a line, a CRLF or a multi-byte sequence.
      fc.array(fc.tuple(fc.constantFrom("* ", "a1 "), lineArb), { minLength: 1, maxLength: 150 }),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 5 }),
      fc.boolean(),
      async (lines, sizes, callbacks) => {
        const wire = bytes(...lines.map(([p, l]) => bytes(p, l)));
        const expected = lines.map(([p, l]) => utf8.decode(bytes(p, l.subarray(0, l.length - 2))));
        // As IMAP4's pump reads: whatever is buffered first, then one wait, then again. The
        // wait is fill() or, with a deadline owner as IMAP4 has, fillThen().
        const reader = callbacks
          ? new ResponseReader(new ScriptedSource(wire, { sizes }), {}, () => {})
          : new ResponseReader(new ScriptedSource(wire, { sizes }));
        const wait = () =>
          callbacks
            ? new Promise<void>((resolve, reject) => reader.fillThen(resolve, reject))
            : reader.fill();
        const got: string[] = [];
        while (got.length < expected.length) {
          if (reader.buffered === 0) await wait();
          const before = reader.buffered;
          const line = reader.takeLine();
          if (line !== null) {
            got.push(line);
            continue;
          }
          // Refused by the text path: nothing consumed, the byte path reads it.
          assert.equal(reader.buffered, before);
          const r = reader.takeResponse() ?? await reader.readResponse();
          assert.ok(r !== null);
          assert.equal(r.literals.length, 0);
          got.push(r.lines[0]);
        }
        assert.deepEqual(got, expected);
      },
    ),
    { seed: 0x7e47, numRuns: 1500 },
  );
});

/**
 * Takes every response from `wire` as IMAP4's pump does (the text path first, the byte path for
 * what it refuses), counting the calls to TextDecoder's decode and the bytes they were given.
 */
async function takeAllCounting(
  wire: Uint8Array,
  count: number,
): Promise<{ firstLines: string[]; literals: number; calls: number; decoded: number }> {
  const proto = TextDecoder.prototype;
  const original = proto.decode;
  let calls = 0;
  let decoded = 0;
  proto.decode = function (this: TextDecoder, input?: AllowSharedBufferSource, options?) {
    calls++;
    decoded += input?.byteLength ?? 0;
    return original.call(this, input, options);
  };
  const firstLines: string[] = [];
  let literals = 0;
  try {
    // In 64 KiB reads, with a deadline owner as IMAP4 has.
    const reader = new ResponseReader(new ScriptedSource(wire, { sizes: [65_536] }), {}, () => {});
    while (firstLines.length < count) {
      if (reader.buffered === 0) await reader.fill();
      const line = reader.takeLine();
      if (line !== null) {
        firstLines.push(line);
        continue;
      }
      const r = reader.takeResponse() ?? await reader.readResponse();
      assert.ok(r !== null);
      firstLines.push(r.lines[0]);
      literals += r.literals.length;
    }
    assert.equal(reader.buffered, 0);
  } finally {
    proto.decode = original;
  }
  return { firstLines, literals, calls, decoded };
}

Deno.test("reader: a long answer of text lines is decoded many lines at a time", async () => {
  // 2,000 lines of about 840 bytes, as FETCH of ENVELOPE and BODYSTRUCTURE answers, in 64 KiB
  // reads: a window of 1 KiB would decode each line on its own (and most bytes twice).
  const lines = Array.from(
    { length: 2000 },
    (_, i) => `* ${i + 1} FETCH (UID ${i + 1} ENVELOPE (${'"NIL" '.repeat(80)}))`,
  );
  const wire = bytes(...lines.map((l) => l + "\r\n"));
  const { firstLines, calls, decoded } = await takeAllCounting(wire, lines.length);
  assert.deepEqual(firstLines, lines);
  assert.ok(calls < lines.length / 10, `${calls} decodings for ${lines.length} lines`);
  assert.ok(decoded < wire.length * 1.2, `decoded ${decoded} bytes of ${wire.length}`);
});

Deno.test("reader: answer after answer with a literal, no text window is decoded over them", async () => {
  // 300 answers of a 20,000-byte literal each (text, so that a window over it would decode):
  // once an answer has announced a literal, the next one's first line is looked at in bytes, and
  // only the byte path decodes its lines.
  const body = "x".repeat(19_998) + "\r\n";
  const answers = Array.from(
    { length: 300 },
    (_, i) => `* ${i + 1} FETCH (BODY[] {${body.length}}\r\n${body})\r\n`,
  );
  const wire = bytes(...answers);
  const { firstLines, literals, decoded } = await takeAllCounting(wire, 300);
  assert.equal(literals, 300);
  assert.equal(firstLines.length, 300);
  assert.equal(firstLines[299], "* 300 FETCH (BODY[] {20000}");
  // The first answer's window (1 KiB), then each answer's two short lines by the byte path.
  assert.ok(decoded <= 1024 + 300 * 64, `decoded ${decoded} bytes for 300 answers`);
});

Deno.test("reader: takeLine takes a line longer than its first window whole, up to maxLineLength", async () => {
  const line = (n: number) => "* 1 FETCH (" + "x".repeat(n - 13) + ")";
  const lines = [line(3000), line(20_000), line(100), line(70_000)];
  const wire = bytes(...lines.map((l) => l + "\r\n"));
  const reader = new ResponseReader(new ScriptedSource(wire), { maxLineLength: 65_536 });
  while (reader.buffered < 23_106) await reader.fill();
  for (const expected of lines.slice(0, 3)) assert.equal(reader.takeLine(), expected);
  // Over the limit: left to the byte path, which refuses it.
  assert.equal(reader.takeLine(), null);
  await assert.rejects(() => reader.readResponse(), IMAP4Abort);
});
