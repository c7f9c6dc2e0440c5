/**
 * The demo's embedded default: `deno task demo` with no argument replays imaplib's example session
 * from a Dovecot transcript (`fixtures/transcripts/dovecot/demo.imap`) through the built-in replay
 * server on loopback, so it needs no network and no installed server.
 *
 * Re-recording the transcript (from a private Dovecot started by `scripts/servers/dovecot.sh`):
 *
 * ```sh
 * deno run -A scripts/demo_replay.ts --record DIR/env   # rewrites fixtures/transcripts/dovecot/demo.imap
 * ```
 *
 * @module
 */

import { IMAP4 } from "../mod.ts";
import { lineText, metadataOf, parseTranscript, record, replay } from "../lib/harness/mod.ts";
import type { runDemo } from "./demo.ts";

/** The recorded session the demo replays. */
export const DEMO_TRANSCRIPT: URL = new URL(
  "../fixtures/transcripts/dovecot/demo.imap",
  import.meta.url,
);

/** The login name in a transcript's LOGIN command, so the replayed client sends the same bytes. */
function recordedUser(bytes: Uint8Array): string {
  for (const e of parseTranscript(bytes).entries) {
    if (e.kind !== "line" || e.side !== "C") continue;
    const m = /^\S+ LOGIN (\S+) /i.exec(lineText(e.line));
    if (m !== null) return m[1].replace(/^"(.*)"$/, "$1");
  }
  throw new Error(`No LOGIN in "${DEMO_TRANSCRIPT.pathname}"`);
}

/**
 * Replays the demo session: starts the replay server on 127.0.0.1, connects IMAP4 to it and runs
 * the demo, printing each call and its `[typ, data]`.
 *
 * @param run the demo session (scripts/demo.ts `runDemo`)
 * @param print where lines go
 * @throws Error when the client did not send exactly the recorded session
 */
export async function replayDemo(
  run: typeof runDemo,
  print: (line: string) => void = console.log,
): Promise<void> {
  const bytes = await Deno.readFile(DEMO_TRANSCRIPT);
  const meta = metadataOf(parseTranscript(bytes));
  await using server = await replay(bytes);
  print(
    `# replaying a session recorded from ${meta.server ?? "a server"} on ${meta.recorded ?? "?"}` +
      ` (replay server on ${server.hostname}:${server.port}; no network needed)`,
  );
  const M = await IMAP4.connect(server.hostname, server.port);
  try {
    // The password was never recorded: the replay accepts any in its place.
    await run(M, recordedUser(bytes), "replay-password", print);
  } finally {
    await M.shutdown();
  }
  const result = await server.done;
  if (!result.ok) throw result.error ?? new Error("Replay failed");
  print(`# replay ok: ${result.clientLines} client lines matched the recording`);
}

/** Records the demo session from a live server described by a `scripts/servers` env file. */
async function recordDemo(envFile: string): Promise<void> {
  const env = new Map(
    (await Deno.readTextFile(envFile)).split("\n").filter((l) => l.includes("=")).map((l) => {
      const i = l.indexOf("=");
      return [l.slice(0, i), l.slice(i + 1)] as [string, string];
    }),
  );
  const { runDemo } = await import("./demo.ts");
  const server = `${env.get("IMAP_SERVER")} ${env.get("IMAP_VERSION")}`;
  await using rec = await record({
    upstream: { hostname: env.get("IMAP_HOST")!, port: Number(env.get("IMAP_PORT")) },
    server,
  });
  const M = await IMAP4.connect(rec.hostname, rec.port);
  await runDemo(M, env.get("IMAP_USER")!, env.get("IMAP_PASS")!, () => {});
  const bytes = await rec.done;
  if (new TextDecoder().decode(bytes).includes(env.get("IMAP_PASS")!)) {
    throw new Error("The recording holds the password: not written");
  }
  await Deno.writeFile(DEMO_TRANSCRIPT, bytes);
  console.log(`wrote ${bytes.length} bytes to ${DEMO_TRANSCRIPT.pathname}`);
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--record");
  if (i === -1 || Deno.args[i + 1] === undefined) {
    const { runDemo } = await import("./demo.ts");
    await replayDemo(runDemo);
  } else await recordDemo(Deno.args[i + 1]);
}
