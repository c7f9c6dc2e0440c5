/**
 * End-to-end property tests: the real client over an in-memory scripted server. Seeded, so a
 * failure prints a seed and path that reproduce it (`fc.assert` reports both).
 *
 * @module
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { type CommandResult, IMAP4, type IMAP4Options } from "../../lib/imap4.ts";
import { decodeMailboxName, encodeMailboxName } from "../../utils/utf7.ts";
import { memoryServer, type ParsedCommand } from "./_memory.ts";

const SEED = 20_240_611;
const enc = new TextEncoder();
const GREETING = "* OK memory server\r\n";

function capabilityAnswer(cmd: ParsedCommand, caps: string): string | null {
  return cmd.name === "CAPABILITY" ? `* CAPABILITY ${caps}\r\n${cmd.tag} OK\r\n` : null;
}

async function open(
  serve: (cmd: ParsedCommand) => string | Uint8Array,
  options: IMAP4Options = {},
  chunks: number[] = [],
  caps = "IMAP4rev1",
) {
  const server = memoryServer(
    GREETING,
    (cmd) => capabilityAnswer(cmd, caps) ?? serve(cmd),
    chunks,
  );
  const M = await IMAP4.connect("memory", 143, {
    tagPrefix: "A",
    timeout: 1000,
    transports: server.factory,
    ...options,
  });
  return { M, server };
}

const tokens = fc.oneof(
  fc.constantFrom(
    "* ",
    "A1 ",
    "A2 ",
    "OK",
    "NO",
    "BAD",
    "BYE",
    "+ ",
    "+",
    "{",
    "}",
    "{5}",
    "{0}",
    "{300}",
    "{99999999999999}",
    "\r\n",
    "\r",
    "\n",
    "(",
    ")",
    '"',
    "\\",
    "\0",
    " ",
    "1",
    "FETCH",
    "EXISTS",
    "[READ-ONLY]",
    "[ALERT]",
    "CAPABILITY",
    "PREAUTH",
  ),
  fc.uint8Array({ maxLength: 12 }),
  fc.string({ maxLength: 12 }),
);

Deno.test("property: any bytes from the server end in a result or an IMAP4 error, within limits", async () => {
  const limits = { maxLineLength: 64, maxLiteralSize: 256, maxUntaggedResponses: 20 };
  await fc.assert(
    fc.asyncProperty(
      fc.array(tokens, { maxLength: 40 }),
      fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
      async (parts, chunks) => {
        const bytes = parts.map((p) => typeof p === "string" ? enc.encode(p) : p);
        const { M, server } = await open(
          (cmd) => {
            if (cmd.name !== "NOOP") return "";
            queueMicrotask(() => server.end());
            const out = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
            let at = 0;
            for (const b of bytes) out.set(b, (at += b.length) - b.length);
            return out;
          },
          limits,
          chunks,
        );
        let result: CommandResult | undefined;
        try {
          result = await M.noop();
        } catch (e) {
          if (!(e instanceof IMAP4.error)) throw e;
          if (e instanceof IMAP4.abort && !(e instanceof IMAP4.readonly)) {
            assert.equal(M.state, "LOGOUT");
          }
        }
        if (result) {
          for (const d of result[1]) {
            if (typeof d === "string") assert.ok(d.length <= limits.maxLineLength);
            else if (d !== null) assert.ok(d[1].length <= limits.maxLiteralSize);
          }
        }
        const kept = Object.values(M.untagged_responses).reduce((n, l) => n + l.length, 0);
        assert.ok(kept <= limits.maxUntaggedResponses, `${kept} untagged items kept`);
        await M.shutdown();
        assert.deepEqual(server.errors, []);
      },
    ),
    { seed: SEED, numRuns: 20_000 },
  );
});

const literalBytes = fc.uint8Array({ maxLength: 40 });
const fetchItem = fc.record({
  body: literalBytes,
  flags: fc.constantFrom("()", "(\\Seen)", "(\\Seen \\Flagged)"),
  noise: fc.constantFrom("", "* 5 EXISTS\r\n", "* OK [ALERT] hi\r\n", "* 2 RECENT\r\n"),
});

Deno.test("property: any chunking of a valid stream gives identical results", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fetchItem, { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 5 }),
      async (items, chunks) => {
        const answer = (tag: string) => {
          const parts: Uint8Array[] = [];
          items.forEach((it, i) => {
            parts.push(
              enc.encode(
                `${it.noise}* ${i + 1} FETCH (FLAGS ${it.flags} BODY[] {${it.body.length}}\r\n`,
              ),
            );
            parts.push(it.body, enc.encode(` UID ${i + 100})\r\n`));
          });
          parts.push(enc.encode(`${tag} OK done\r\n`));
          const out = new Uint8Array(parts.reduce((n, b) => n + b.length, 0));
          let at = 0;
          for (const b of parts) out.set(b, (at += b.length) - b.length);
          return out;
        };
        const session = async (ch: number[]) => {
          const { M } = await open(
            (cmd) => cmd.name === "FETCH" ? answer(cmd.tag) : `${cmd.tag} OK\r\n`,
            {},
            ch,
          );
          M.state = "SELECTED";
          const r = await M.fetch(`1:${items.length}`, "(FLAGS BODY[] UID)");
          const rest = structuredClone(M.untagged_responses);
          await M.shutdown();
          return [r, rest];
        };
        const whole = await session([]);
        assert.deepEqual(await session(chunks), whole);
        assert.deepEqual(await session([1]), whole);
        const data = (whole[0] as CommandResult)[1];
        items.forEach((it, i) =>
          assert.deepEqual((data[2 * i] as [string, Uint8Array])[1], it.body)
        );
      },
    ),
    { seed: SEED, numRuns: 1_500 },
  );
});

const hostileString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({
    unit: fc.constantFrom(
      "a",
      " ",
      '"',
      "\\",
      "(",
      ")",
      "{",
      "}",
      "5",
      "+",
      "~",
      "\r",
      "\n",
      "\0",
      "*",
      "%",
      "&",
      "-",
      "\u00e9",
      "\u{1F600}",
    ),
    maxLength: 20,
  }),
);

function isRawShaped(s: string): boolean {
  return s.length >= 2 &&
    ((s[0] === "(" && s.at(-1) === ")") || (s[0] === '"' && s.at(-1) === '"'));
}

function argValue(cmd: ParsedCommand, i: number): string {
  const a = cmd.args[i];
  return a.kind === "literal" ? new TextDecoder("utf-8", { fatal: true }).decode(a.value) : a.value;
}

Deno.test("property: an argument encodes to bytes a strict parser reads back, or throws TypeError", async () => {
  await fc.assert(
    fc.asyncProperty(
      hostileString,
      hostileString,
      hostileString,
      fc.boolean(),
      async (user, password, box, literalPlus) => {
        const caps = literalPlus ? "IMAP4rev1 LITERAL+" : "IMAP4rev1";
        const { M, server } = await open(
          (cmd) => {
            if (cmd.name === "LOGIN") return `${cmd.tag} OK [CAPABILITY ${caps}] in\r\n`;
            return `${cmd.tag} OK\r\n`;
          },
          {},
          [],
          caps,
        );
        const bad = /[\0\r\n]/;
        const sentBefore = server.written().length;
        let loginError: unknown;
        try {
          await M.login(user, password);
        } catch (e) {
          loginError = e;
        }
        if (
          bad.test(user) || bad.test(password) ||
          (isRawShaped(user) && /~?\{\d+\+?\}\)?"?$/.test(user))
        ) {
          if (loginError === undefined) {
            // Only a raw-shaped user may pass with a marker-like ending (when the marker test
            // does not apply); anything with CR, LF or NUL must have been refused.
            assert.ok(!bad.test(user) && !bad.test(password), "CR/LF/NUL went through");
          } else {
            assert.ok(loginError instanceof TypeError, String(loginError));
            assert.equal(
              server.written().length,
              sentBefore,
              "bytes were written before the TypeError",
            );
            await M.shutdown();
            return;
          }
        }
        assert.equal(loginError, undefined, String(loginError));
        const login = server.commands.find((c) => c.name === "LOGIN")!;
        assert.equal(login.args.length, 2);
        assert.notEqual(login.args[1].kind, "atom", "a password always travels quoted or literal");
        assert.equal(argValue(login, 1), password);
        if (isRawShaped(user)) {
          // Sent as it is (imaplib's documented behaviour), and it still parses as one argument.
          assert.ok(login.args[0].kind === "quoted" || login.args[0].kind === "atom");
        } else assert.equal(argValue(login, 0), user);

        let createError: unknown;
        try {
          await M.create(box);
        } catch (e) {
          createError = e;
        }
        if (createError !== undefined) {
          assert.ok(createError instanceof TypeError, String(createError));
          assert.ok(
            bad.test(box) || isRawShaped(box) || /[\ud800-\udfff]/.test(box),
            `refused ${JSON.stringify(box)}`,
          );
        } else {
          const create = server.commands.find((c) => c.name === "CREATE")!;
          assert.equal(create.args.length, 1);
          if (!isRawShaped(box)) {
            const wire = argValue(create, 0);
            // deno-lint-ignore no-control-regex
            assert.equal(/[^\x00-\x7f]/.test(box) ? decodeMailboxName(wire) : wire, box);
          }
        }
        assert.deepEqual(server.errors, []);
        await M.shutdown();
      },
    ),
    { seed: SEED, numRuns: 10_000 },
  );
});

Deno.test("property: modified UTF-7 round-trips every string and accepts only canonical input", () => {
  const wellFormed = fc.string({ unit: "grapheme", maxLength: 20 });
  fc.assert(
    fc.property(wellFormed, (s) => {
      const e = encodeMailboxName(s);
      assert.ok(/^[\x20-\x7e]*$/.test(e));
      assert.equal(decodeMailboxName(e), s);
    }),
    { seed: SEED, numRuns: 20_000 },
  );
  const utf7ish = fc.string({
    unit: fc.constantFrom("&", "-", "A", "G", "E", "Z", "2", "D", "+", ",", "/", "a", " ", "~"),
    maxLength: 24,
  });
  fc.assert(
    fc.property(utf7ish, (x) => {
      let decoded: string;
      try {
        decoded = decodeMailboxName(x);
      } catch (e) {
        assert.ok(e instanceof TypeError, String(e));
        return;
      }
      assert.equal(encodeMailboxName(decoded), x, "accepted input must be canonical");
    }),
    { seed: SEED, numRuns: 20_000 },
  );
});
