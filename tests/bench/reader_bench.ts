/**
 * Micro-benchmarks of the wire layer, with no server: framing (lib/wire/reader.ts) of recorded-like
 * FETCH answers fed from memory, and command encoding (lib/wire/encoder.ts).
 *
 * Run with `deno bench tests/bench/`. The bulk input is built from the benchmark's deterministic
 * generator (scripts/bench/generate.ts), so the numbers are comparable from run to run.
 *
 * @module
 */

import { encodeCommand } from "../../lib/wire/encoder.ts";
import { bulkWire as generatedBulk, frame } from "../../scripts/bench/framing.ts";

const encoder = new TextEncoder();
const MESSAGES = 200;

/** The bulk FETCH answer of the benchmark's first messages, as the server sends it. */
const bulkWire = generatedBulk(MESSAGES).bytes;

/** One ENVELOPE/BODYSTRUCTURE-like line per message, no literals: many short responses. */
const metaWire = (() => {
  let text = "";
  for (let i = 1; i <= 5000; i++) {
    text += `* ${i} FETCH (UID ${i} FLAGS (\\Seen) RFC822.SIZE ${20000 + i} ENVELOPE ` +
      `("Mon, 2 Jan 2023 12:40:34 +0900" "Quarterly report ${i}" (("=?UTF-8?Q?Jos=C3=A9?=" NIL ` +
      `"jose" "example.com")) NIL NIL (("Alice Smith" NIL "alice" "example.org")) NIL NIL NIL ` +
      `"<${i}@example.com>") BODYSTRUCTURE (("text" "plain" ("charset" "UTF-8") NIL NIL ` +
      `"quoted-printable" 8000 120 NIL NIL NIL NIL)("text" "html" ("charset" "UTF-8") NIL NIL ` +
      `"quoted-printable" 11000 140 NIL NIL NIL NIL) "alternative" ("boundary" "b${i}") NIL NIL ` +
      `NIL))\r\n`;
  }
  return encoder.encode(text + "a1 OK Fetch completed.\r\n");
})();

async function readAll(wire: Uint8Array, chunk: number): Promise<number> {
  return (await frame(wire, chunk)).responses;
}

Deno.bench({
  name: `reader: bulk FETCH, ${MESSAGES} messages (${
    (bulkWire.length / 1e6).toFixed(1)
  } MB), 64 KiB reads`,
  group: "bulk",
  baseline: true,
  async fn() {
    await readAll(bulkWire, 64 * 1024);
  },
});

Deno.bench({
  name: "reader: bulk FETCH, 1460-byte reads (one TCP segment each)",
  group: "bulk",
  async fn() {
    await readAll(bulkWire, 1460);
  },
});

Deno.bench({
  name: `reader: 5000 FETCH lines (${(metaWire.length / 1e6).toFixed(1)} MB), 64 KiB reads`,
  group: "meta",
  async fn() {
    await readAll(metaWire, 64 * 1024);
  },
});

Deno.bench({
  name: "encoder: 2000 × UID FETCH n (FLAGS)",
  group: "encode",
  fn() {
    for (let n = 1; n <= 2000; n++) {
      encodeCommand(`a${n}`, "UID FETCH", [String(n), "(FLAGS)"]);
    }
  },
});
