/**
 * Framing offline: the reader alone (`lib/wire/reader.ts`), with no server and no network, on the
 * bulk FETCH answer of the benchmark's mailbox, served from memory. It measures the two
 * offline targets:
 *
 * - **throughput**: the whole answer (5,000 messages, about 100 MB) in 64 KiB reads, at least
 *   1 GB/s;
 * - **linear time**: the time per byte stays the same as the answer grows (a quarter, half, all of
 *   the mailbox in 64 KiB reads; 16, 32, 64 messages in reads of one byte each, which cost a
 *   promise per byte and so are measured on less). A reader that rescans what it buffered, or
 *   copies its buffer per read, shows here as time per byte growing with the size.
 *
 * Each figure is the median of several passes after one unmeasured pass, in one process. Every
 * pass checks what it framed: the number of responses and the sum of the literal sizes.
 *
 * Usage: `deno run -A scripts/bench/framing.ts [--messages N] [--seed S] [--passes P]
 * [--bytewise 16,32,64] [--json]`. `deno task bench` runs it in a fresh process and reports it
 * beside the live results.
 *
 * @module
 */

import { type ByteSource, ResponseReader } from "../../lib/wire/reader.ts";
import { concatBytes } from "../../utils/bytes.ts";
import { DEFAULT_SEED, generateMessage } from "./generate.ts";

const encoder = new TextEncoder();

/** A bulk FETCH answer as the server sends it, and what framing it must yield. */
export interface BulkWire {
  /** The bytes: `* n FETCH (BODY[] {size}` CRLF, the message, `)` CRLF, each; then `a1 OK`. */
  bytes: Uint8Array;
  /** The messages in it. */
  messages: number;
  /** The sum of the literal sizes. */
  literalBytes: number;
}

/**
 * The bulk FETCH answer for the first `count` messages of the generated mailbox, with CRLF line
 * ends as a server sends them.
 *
 * @param count how many messages
 * @param seed the mailbox seed
 * @returns the bytes and what framing them must yield
 */
export function bulkWire(count: number, seed: number = DEFAULT_SEED): BulkWire {
  return bulkPrefixes(count, [count], seed)[0];
}

/**
 * {@link bulkWire} for several sizes, each message generated once.
 *
 * @param count the largest size
 * @param sizes how many messages each answer holds (each at most `count`)
 * @param seed the mailbox seed
 * @returns one answer per size
 */
function bulkPrefixes(
  count: number,
  sizes: number[],
  seed: number,
): BulkWire[] {
  const parts: Uint8Array[] = [];
  const literals: number[] = [];
  for (let i = 0; i < count; i++) {
    const body = crlf(generateMessage(i, seed).bytes);
    literals.push(body.length);
    parts.push(
      encoder.encode(`* ${i + 1} FETCH (BODY[] {${body.length}}\r\n`),
      body,
    );
    parts.push(encoder.encode(")\r\n"));
  }
  const tagged = encoder.encode("a1 OK Fetch completed.\r\n");
  return sizes.map((n) => ({
    bytes: concatBytes([...parts.slice(0, 3 * n), tagged]),
    messages: n,
    literalBytes: literals.slice(0, n).reduce((a, b) => a + b, 0),
  }));
}

/** LF line ends as CRLF. */
function crlf(lf: Uint8Array): Uint8Array {
  let n = lf.length;
  for (const b of lf) if (b === 0x0a) n++;
  const out = new Uint8Array(n);
  let at = 0;
  for (const b of lf) {
    if (b === 0x0a) out[at++] = 0x0d;
    out[at++] = b;
  }
  return out;
}

/**
 * A source serving `wire` in reads of at most `chunk` bytes, as a socket would.
 *
 * @param wire the bytes
 * @param chunk the most one read returns
 * @returns the source
 */
function memorySource(wire: Uint8Array, chunk: number): ByteSource {
  let at = 0;
  return {
    read(buf: Uint8Array): Promise<number | null> {
      if (at >= wire.length) return Promise.resolve(null);
      const n = Math.min(chunk, buf.length, wire.length - at);
      buf.set(wire.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

/**
 * Frames `wire` to its tagged answer through a fresh reader.
 *
 * @param wire the bytes
 * @param chunk the most one read returns
 * @returns how many responses it framed and the sum of their literal sizes
 */
export async function frame(
  wire: Uint8Array,
  chunk: number,
): Promise<{ responses: number; literalBytes: number }> {
  const reader = new ResponseReader(memorySource(wire, chunk));
  let responses = 0;
  let literalBytes = 0;
  for (;;) {
    const response = await reader.readResponse();
    if (response === null) {
      throw new Error("The answer ended before its tagged line");
    }
    responses++;
    for (const literal of response.literals) literalBytes += literal.length;
    if (response.lines[0].startsWith("a1 ")) return { responses, literalBytes };
  }
}

/** One measured size. */
export interface FramingPoint {
  /** Messages framed. */
  messages: number;
  /** Bytes framed. */
  bytes: number;
  /** Median milliseconds of the passes. */
  ms: number;
  /** Nanoseconds per byte. */
  nsPerByte: number;
}

/** What {@link measureFraming} found. */
export interface FramingReport {
  /** The whole answer in 64 KiB reads. */
  whole: FramingPoint;
  /** Bytes per second of {@link whole}, in GB/s. */
  gbPerSecond: number;
  /** A quarter, half and all of the answer in 64 KiB reads. */
  large: FramingPoint[];
  /** The first messages in reads of one byte. */
  bytewise: FramingPoint[];
}

/**
 * Times the reader on the bulk answer: see the module's header.
 *
 * @param messages the whole mailbox's size
 * @param seed the mailbox seed
 * @param bytewiseMessages the sizes framed one byte per read
 * @param passes the measured passes per size (after one unmeasured pass)
 * @returns the figures
 * @throws Error when a pass frames anything other than the answer's responses and literal bytes
 */
export async function measureFraming(
  messages: number,
  seed: number = DEFAULT_SEED,
  bytewiseMessages: number[] = [16, 32, 64],
  passes = 7,
): Promise<FramingReport> {
  const largeSizes = [4, 2, 1].map((share) => Math.max(1, Math.floor(messages / share)));
  const wires = bulkPrefixes(
    Math.max(messages, ...bytewiseMessages),
    [...largeSizes, ...bytewiseMessages],
    seed,
  );
  const large = await timeAll(
    wires.slice(0, largeSizes.length),
    64 * 1024,
    passes,
  );
  const bytewise = await timeAll(wires.slice(largeSizes.length), 1, passes);
  const whole = large[large.length - 1];
  return {
    whole,
    gbPerSecond: whole.bytes / (whole.ms / 1000) / 1e9,
    large,
    bytewise,
  };
}

/**
 * Times framing each of `wires`: one unmeasured round, then `passes` rounds, each taking the
 * sizes in a rotated order, so that warming up and the collector's work fall on every size alike.
 */
async function timeAll(
  wires: BulkWire[],
  chunk: number,
  passes: number,
): Promise<FramingPoint[]> {
  const times: number[][] = wires.map(() => []);
  for (let pass = 0; pass <= passes; pass++) {
    for (let k = 0; k < wires.length; k++) {
      const i = (k + pass) % wires.length;
      const wire = wires[i];
      const start = performance.now();
      const got = await frame(wire.bytes, chunk);
      const ms = performance.now() - start;
      if (
        got.responses !== wire.messages + 1 ||
        got.literalBytes !== wire.literalBytes
      ) {
        throw new Error(
          `Framed ${got.responses} responses and ${got.literalBytes} literal bytes, expected ` +
            `${wire.messages + 1} and ${wire.literalBytes}`,
        );
      }
      if (pass > 0) times[i].push(ms);
    }
  }
  return wires.map((wire, i) => {
    const sorted = times[i].sort((a, b) => a - b);
    const ms = sorted[Math.floor(sorted.length / 2)];
    return {
      messages: wire.messages,
      bytes: wire.bytes.length,
      ms,
      nsPerByte: (ms * 1e6) / wire.bytes.length,
    };
  });
}

/**
 * How far the time per byte grows from the smallest to the largest size (1.00: linear).
 *
 * @param points the sizes, smallest first
 * @returns the largest size's time per byte over the smallest's
 */
export function growth(points: FramingPoint[]): number {
  return points[points.length - 1].nsPerByte / points[0].nsPerByte;
}

if (import.meta.main) {
  const args = Deno.args;
  const option = (name: string, fallback: number) => {
    const i = args.indexOf(name);
    const n = i === -1 ? fallback : Number(args[i + 1]);
    if (!Number.isInteger(n) || n < 1) throw new TypeError(`${name} needs a positive integer`);
    return n;
  };
  const at = args.indexOf("--bytewise");
  const bytewise = at === -1 ? undefined : (args[at + 1] ?? "").split(",").map(Number);
  if (bytewise?.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new TypeError("--bytewise needs positive integers, comma-separated");
  }
  const report = await measureFraming(
    option("--messages", 5000),
    option("--seed", DEFAULT_SEED),
    bytewise,
    option("--passes", 7),
  );
  if (args.includes("--json")) console.log(JSON.stringify(report));
  else {
    const row = (p: FramingPoint) =>
      `  ${p.messages} messages, ${(p.bytes / 1e6).toFixed(1)} MB: ${p.ms.toFixed(1)} ms, ` +
      `${p.nsPerByte.toFixed(2)} ns/byte`;
    console.log(`64 KiB reads: ${report.gbPerSecond.toFixed(2)} GB/s on the whole answer`);
    for (const p of report.large) console.log(row(p));
    console.log(`time per byte, all over a quarter: ${growth(report.large).toFixed(2)}×`);
    console.log("1-byte reads:");
    for (const p of report.bytewise) console.log(row(p));
    console.log(`time per byte, largest over smallest: ${growth(report.bytewise).toFixed(2)}×`);
  }
}
