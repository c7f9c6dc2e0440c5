/**
 * A deterministic generator of realistic e-mail messages for the benchmark mailbox.
 *
 * Every message is a pure function of (seed, index): the same seed always yields the same bytes,
 * so every benchmark run fetches the same mailbox. The mix imitates real mail: Received chains,
 * DKIM signatures, RFC 2047 encoded names and subjects, text/plain and multipart/alternative
 * bodies in quoted-printable UTF-8, and multipart/mixed messages with base64 attachments. Sizes
 * are spread around 20 KB ±30 %.
 *
 * @module
 */

/** The default seed, so that an unqualified run always builds the same mailbox. */
export const DEFAULT_SEED = 0x1ba5_e2024;

/** The size every message aims at, in bytes (the spread is ±30 % around it). */
export const TARGET_SIZE = 20_000;

/** One generated message: its bytes (LF line ends, as maildir stores them) and its metadata. */
export interface GeneratedMessage {
  /** The message as stored on disk, with LF line ends. */
  bytes: Uint8Array;
  /** The size the server reports (RFC822.SIZE): the bytes with every LF counted as CRLF. */
  wireSize: number;
  /** The message date, which also becomes its INTERNALDATE (the file's mtime). */
  date: Date;
  /** Maildir flag letters (sorted), e.g. "FS". */
  flags: string;
}

/**
 * Creates a small, fast PRNG (mulberry32) that returns floats in [0, 1).
 *
 * @param seed A 32-bit seed.
 * @returns A function giving the next pseudo-random number.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// A cheap integer hash, so message i gets its own stream without generating messages 0..i-1.
function mix(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

const WORDS = (
  "the of and to in is that for it as was with be by on not he this are or his from at which but " +
  "have an they you were her she there been one all we their has would when if so no will more can " +
  "report meeting budget quarter release schedule invoice attached review draft server migration " +
  "deadline customer contract update agenda minutes proposal forecast analysis shipment delivery " +
  "ticket backlog sprint deploy rollback incident latency throughput storage mailbox archive " +
  "calendar invitation please thanks regards tomorrow friday monday office travel expenses figures"
).split(" ");

// Words with non-ASCII letters, so quoted-printable bodies really carry encoded UTF-8.
const UTF8_WORDS = [
  "Grüße",
  "naïve",
  "café",
  "Größe",
  "señor",
  "déjà",
  "Ærø",
  "Łódź",
  "Straße",
  "fiancée",
  "résumé",
  "smørrebrød",
  "Привет",
  "日本語",
  "€100",
  "½",
];

const FIRST = [
  "Alice",
  "Bob",
  "Carol",
  "David",
  "Erin",
  "Frank",
  "Grace",
  "Heidi",
  "Ivan",
  "Judy",
];
const LAST = [
  "Smith",
  "Jones",
  "Taylor",
  "Brown",
  "Wilson",
  "Evans",
  "Walker",
  "Wright",
  "Clark",
];
// Names that need RFC 2047 encoding in headers.
const FIRST_UTF8 = [
  "Jürgen",
  "Zoë",
  "José",
  "Françoise",
  "Søren",
  "Małgorzata",
  "Ólafur",
  "Ярослав",
];
const LAST_UTF8 = [
  "Müller",
  "Núñez",
  "Ødegård",
  "Dvořák",
  "Brontë",
  "Łukasiewicz",
  "Ōtani",
];
const DOMAINS = [
  "example.com",
  "example.org",
  "example.net",
  "mail.example.de",
  "corp.example",
];
const RELAYS = [
  "mx1",
  "mx2",
  "relay",
  "smtp-out",
  "edge",
  "filter",
  "mta",
  "gw",
];
const MAILERS = [
  "Mozilla Thunderbird 115.6",
  "Microsoft Outlook 16.0",
  "Apple Mail (2.3731)",
];
const MONTHS = [
  "Jan",
  "Feb",
  "Mar",
  "Apr",
  "May",
  "Jun",
  "Jul",
  "Aug",
  "Sep",
  "Oct",
  "Nov",
  "Dec",
];
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const ATTACHMENTS: ReadonlyArray<[string, string]> = [
  ["application/pdf", "pdf"],
  ["image/png", "png"],
  ["image/jpeg", "jpg"],
  ["application/zip", "zip"],
  ["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"],
];

const encoder = new TextEncoder();
const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function base64(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] +
      B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63] + "==";
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + "=";
  }
  return out;
}

function wrap(text: string, width: number): string {
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += width) {
    lines.push(text.slice(i, i + width));
  }
  return lines.join("\n");
}

const HEX = "0123456789ABCDEF";

/**
 * Encodes text as quoted-printable UTF-8 (RFC 2045 §6.7) with soft breaks before column 76.
 *
 * @param text The text; "\n" separates lines.
 * @returns The encoded body, LF line ends.
 */
export function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const bytes = encoder.encode(line);
    let current = "";
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i];
      const last = i === bytes.length - 1;
      let token: string;
      if ((b === 0x20 || b === 0x09) && !last) token = String.fromCharCode(b);
      else if (b >= 33 && b <= 126 && b !== 61) token = String.fromCharCode(b);
      else token = "=" + HEX[b >> 4] + HEX[b & 15];
      if (current.length + token.length > 75) {
        out.push(current + "=");
        current = "";
      }
      current += token;
    }
    out.push(current);
  }
  return out.join("\n");
}

// RFC 2047 encoded-word, B or Q encoding chosen by the caller's random stream.
function encodedWord(text: string, useB: boolean): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const bytes = encoder.encode(text);
  if (useB) return `=?UTF-8?B?${base64(bytes)}?=`;
  let q = "";
  for (const b of bytes) {
    if (b === 0x20) q += "_";
    else if (
      (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) ||
      (b >= 0x61 && b <= 0x7a)
    ) {
      q += String.fromCharCode(b);
    } else q += "=" + HEX[b >> 4] + HEX[b & 15];
  }
  return `=?UTF-8?Q?${q}?=`;
}

function pad2(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

function rfc5322Date(d: Date, offsetMinutes: number): string {
  const local = new Date(d.getTime() + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  return `${DAYS[local.getUTCDay()]}, ${local.getUTCDate()} ${MONTHS[local.getUTCMonth()]} ` +
    `${local.getUTCFullYear()} ${pad2(local.getUTCHours())}:${pad2(local.getUTCMinutes())}:` +
    `${pad2(local.getUTCSeconds())} ${sign}${pad2(Math.floor(abs / 60))}${pad2(abs % 60)}`;
}

/**
 * Generates message number `index` (0-based) of the mailbox built from `seed`.
 *
 * @param index The message's position in the mailbox, from 0.
 * @param seed The mailbox seed.
 * @returns The message bytes and metadata.
 */
export function generateMessage(
  index: number,
  seed: number = DEFAULT_SEED,
): GeneratedMessage {
  const rand = mulberry32(mix(seed, index));
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const hex = (n: number) => {
    let s = "";
    for (let i = 0; i < n; i++) s += HEX[int(0, 15)];
    return s.toLowerCase();
  };
  const sentence = (utf8Share: number) => {
    const n = int(6, 18);
    const words: string[] = [];
    for (let i = 0; i < n; i++) {
      words.push(rand() < utf8Share ? pick(UTF8_WORDS) : pick(WORDS));
    }
    const s = words.join(" ");
    return s[0].toUpperCase() + s.slice(1) + pick([".", ".", ".", "?", "!"]);
  };
  const paragraphs = (budget: number, utf8Share: number) => {
    const paras: string[] = [];
    let size = 0;
    while (size < budget) {
      const lines: string[] = [];
      let line = "";
      for (let s = int(2, 6); s > 0; s--) {
        for (const word of sentence(utf8Share).split(" ")) {
          if (line.length + word.length + 1 > 72) {
            lines.push(line);
            line = "";
          }
          line = line ? line + " " + word : word;
        }
      }
      if (line) lines.push(line);
      const para = lines.join("\n");
      paras.push(para);
      size += encoder.encode(para).length + 2;
    }
    return paras;
  };
  const person = () => {
    const utf8 = rand() < 0.3;
    const first = utf8 ? pick(FIRST_UTF8) : pick(FIRST);
    const last = utf8 ? pick(LAST_UTF8) : pick(LAST);
    const ascii = (s: string) => s.normalize("NFD").replace(/[^a-zA-Z]/g, "").toLowerCase() || "x";
    const address = `${ascii(first)}.${ascii(last)}${int(1, 99)}@${pick(DOMAINS)}`;
    return {
      display: `${encodedWord(`${first} ${last}`, rand() < 0.5)} <${address}>`,
      address,
    };
  };

  // Dates step forward about 40 minutes per message from 2023-01-02, so INTERNALDATE is ordered.
  const date = new Date(
    Date.UTC(2023, 0, 2, 8, 0, 0) + index * 2_400_000 + int(0, 600) * 1000,
  );
  const offset = pick([0, 60, 120, -300, -480, 330, 540]);
  const target = Math.round(TARGET_SIZE * (0.7 + 0.6 * rand()));
  const from = person();
  const to = Array.from({ length: int(1, 3) }, person);
  const cc = rand() < 0.3 ? Array.from({ length: int(1, 2) }, person) : [];
  const domain = from.address.split("@")[1];
  const msgId = `<${hex(16)}.${index}@${domain}>`;

  const headers: string[] = [];
  headers.push(`Return-Path: <${from.address}>`);
  let hopTime = date.getTime() + int(5, 30) * 1000;
  for (let hop = int(2, 6); hop > 0; hop--) {
    const by = `${pick(RELAYS)}${int(1, 9)}.${pick(DOMAINS)}`;
    const fromHost = `${pick(RELAYS)}${int(1, 9)}.${hop === 1 ? domain : pick(DOMAINS)}`;
    const ip = `192.0.2.${int(1, 254)}`;
    headers.push(
      `Received: from ${fromHost} (${fromHost} [${ip}])\n\tby ${by} (Postfix) with ESMTPS id ` +
        `${hex(10).toUpperCase()}\n\tfor <${to[0].address}>; ${rfc5322Date(new Date(hopTime), 0)}`,
    );
    hopTime -= int(1, 20) * 1000;
  }
  if (rand() < 0.6) {
    const sig = base64(Uint8Array.from({ length: 192 }, () => int(0, 255)));
    headers.push(
      `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=${domain}; s=sel${int(1, 3)};\n\t` +
        `h=from:to:subject:date:message-id; bh=${base64(encoder.encode(hex(24)))};\n\t` +
        `b=${wrap(sig, 70).replaceAll("\n", "\n\t ")}`,
    );
  }
  headers.push(`From: ${from.display}`);
  headers.push(`To: ${to.map((p) => p.display).join(",\n\t")}`);
  if (cc.length) headers.push(`Cc: ${cc.map((p) => p.display).join(",\n\t")}`);
  const subjectText = sentence(rand() < 0.3 ? 0.3 : 0).replace(/[.?!]$/, "");
  const reply = index > 0 && rand() < 0.35;
  headers.push(
    `Subject: ${reply ? "Re: " : ""}${encodedWord(subjectText, rand() < 0.5)}`,
  );
  headers.push(`Date: ${rfc5322Date(date, offset)}`);
  headers.push(`Message-ID: ${msgId}`);
  if (reply) {
    const parent = `<${hex(16)}.${int(0, index - 1)}@${pick(DOMAINS)}>`;
    headers.push(`In-Reply-To: ${parent}`, `References: ${parent}`);
  }
  headers.push(
    `X-Mailer: ${pick(MAILERS)}`,
    `X-Bench-Index: ${index}`,
    "MIME-Version: 1.0",
  );

  const headerSize = encoder.encode(headers.join("\n")).length;
  const budget = Math.max(500, target - headerSize - 400);
  const kind = rand();
  const boundary = (tag: string) => `----=_Part_${tag}_${hex(12)}`;
  const qpPart = (type: string, body: string) =>
    `Content-Type: ${type}; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable\n\n` +
    quotedPrintable(body);
  const alternative = (size: number) => {
    const paras = paragraphs(size * 0.38, 0.08);
    const html = '<html><head><meta charset="utf-8"></head><body>\n' +
      paras.map((p) => `<p style="margin:0 0 1em 0">${p.replaceAll("\n", " ")}</p>`).join("\n") +
      "\n</body></html>";
    const b = boundary("alt");
    return {
      type: `multipart/alternative;\n\tboundary="${b}"`,
      body: `--${b}\n${qpPart("text/plain", paras.join("\n\n"))}\n--${b}\n` +
        `${qpPart("text/html", html)}\n--${b}--\n`,
    };
  };

  let contentType: string;
  let body: string;
  if (kind < 0.3) {
    contentType = "text/plain; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable";
    body = quotedPrintable(paragraphs(budget * 0.95, 0.08).join("\n\n")) + "\n";
  } else if (kind < 0.75) {
    const alt = alternative(budget);
    contentType = alt.type;
    body = "This is a multi-part message in MIME format.\n" + alt.body;
  } else {
    const attachShare = 0.45 + 0.3 * rand();
    const alt = alternative(budget * (1 - attachShare));
    const [mime, ext] = pick(ATTACHMENTS);
    // base64 grows 4/3 plus a LF every 76 characters.
    const raw = Math.max(64, Math.floor((budget * attachShare) * 0.74));
    const data = new Uint8Array(raw);
    for (let i = 0; i < raw; i++) data[i] = (rand() * 256) | 0;
    const name = `${pick(WORDS)}_${pick(WORDS)}_${int(1, 999)}.${ext}`;
    const b = boundary("mix");
    contentType = `multipart/mixed;\n\tboundary="${b}"`;
    body = `This is a multi-part message in MIME format.\n--${b}\nContent-Type: ${alt.type}\n\n` +
      `${alt.body}\n--${b}\nContent-Type: ${mime}; name="${name}"\n` +
      `Content-Disposition: attachment; filename="${name}"\nContent-Transfer-Encoding: base64\n\n` +
      `${wrap(base64(data), 76)}\n--${b}--\n`;
  }
  headers.push(`Content-Type: ${contentType}`);

  const text = headers.join("\n") + "\n\n" + body;
  const bytes = encoder.encode(text);
  let lf = 0;
  for (const b of bytes) if (b === 10) lf++;
  const flagRoll = rand();
  const flags = flagRoll < 0.6 ? "S" : flagRoll < 0.7 ? "RS" : flagRoll < 0.75 ? "FS" : "";
  return { bytes, wireSize: bytes.length + lf, date, flags };
}

if (import.meta.main) {
  // `deno run scripts/bench/generate.ts [index] [seed]` prints one message, for inspection.
  const index = Number(Deno.args[0] ?? 0);
  const seed = Deno.args[1] ? Number(Deno.args[1]) : DEFAULT_SEED;
  await Deno.stdout.write(generateMessage(index, seed).bytes);
}
