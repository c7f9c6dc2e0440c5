/**
 * Fills a maildir INBOX with the deterministic benchmark messages by writing files into `cur/`.
 *
 * Writing the files directly is much faster than APPEND and gives the same mailbox on every run:
 * names, contents, flags and mtimes (the INTERNALDATE) all derive from the seed. Dovecot picks the
 * files up at the next SELECT. The files take the owner of the maildir folder, because Dovecot
 * refuses mail it cannot read as the mail uid.
 *
 * Usage: `deno run --allow-read --allow-write scripts/bench/fill.ts MAILDIR [--messages N] [--seed S]`
 *
 * @module
 */

import { DEFAULT_SEED, generateMessage } from "./generate.ts";

/** What a fill wrote, so runners can check what they fetched. */
export interface FillResult {
  /** The number of messages written. */
  messages: number;
  /** The sum of the messages' sizes as the server reports them (CRLF line ends). */
  wireBytes: number;
}

// The first message's INTERNALDATE base, used in file names (seconds since the epoch).
const NAME_BASE = 1_672_646_400;

/**
 * Writes `count` generated messages into `maildir/cur`, replacing any earlier fill.
 *
 * @param maildir The maildir folder (holding cur/, new/, tmp/).
 * @param count How many messages to write.
 * @param seed The generator seed.
 * @returns The number of messages and their total wire size.
 * @throws Deno.errors.NotFound when the maildir has no cur/ folder.
 */
export async function fillMaildir(
  maildir: string,
  count: number,
  seed: number = DEFAULT_SEED,
): Promise<FillResult> {
  const cur = `${maildir}/cur`;
  const owner = await Deno.stat(maildir);
  for await (const entry of Deno.readDir(cur)) {
    await Deno.remove(`${cur}/${entry.name}`);
  }
  const chown = Deno.uid() === 0 && owner.uid !== null && owner.uid !== 0;
  let wireBytes = 0;
  for (let i = 0; i < count; i++) {
    const msg = generateMessage(i, seed);
    wireBytes += msg.wireSize;
    // Dovecot reads S= (file size) and W= (size with CRLF) from the name instead of the file.
    const name = `${NAME_BASE + i}.M${i}P1.bench,S=${msg.bytes.length},W=${msg.wireSize}:2,` +
      msg.flags;
    const path = `${cur}/${name}`;
    await Deno.writeFile(path, msg.bytes, { mode: 0o600 });
    await Deno.utime(path, msg.date, msg.date);
    if (chown) await Deno.chown(path, owner.uid, owner.gid);
  }
  return { messages: count, wireBytes };
}

if (import.meta.main) {
  const args = [...Deno.args];
  const option = (name: string, fallback: number) => {
    const at = args.indexOf(name);
    if (at < 0) return fallback;
    const value = Number(args.splice(at, 2)[1]);
    if (!Number.isInteger(value) || value < 0) {
      throw new TypeError(`Option ${name} needs a number`);
    }
    return value;
  };
  const count = option("--messages", 5000);
  const seed = option("--seed", DEFAULT_SEED);
  if (args.length !== 1) {
    console.error("usage: fill.ts MAILDIR [--messages N] [--seed S]");
    Deno.exit(2);
  }
  const result = await fillMaildir(args[0], count, seed);
  console.log(JSON.stringify(result));
}
