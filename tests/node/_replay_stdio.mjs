/**
 * The stream end of a replay on Node: `node _replay_stdio.mjs PROJECT FILE` replays the transcript
 * FILE over its own stdin/stdout with the harness of the npm package installed in PROJECT (see
 * _package.mjs). It is the command an `IMAP4_stream` client spawns; the exit code is 0 when every
 * client line matched, 1 otherwise (the reason goes to stderr).
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { pathToFileURL } from "node:url";
import { root } from "./_package.mjs";

const [project, file] = process.argv.slice(2);
const { harness } = await import(pathToFileURL(join(project, "entry.mjs")).href);
const certDir = join(root, "fixtures", "certs", "replay");
const result = await harness.replayStdio(
  readFileSync(file),
  Readable.toWeb(process.stdin),
  Writable.toWeb(process.stdout),
  {
    tls: {
      cert: readFileSync(join(certDir, "cert.pem"), "utf8"),
      key: readFileSync(join(certDir, "key.pem"), "utf8"),
    },
  },
);
if (!result.ok) console.error(result.error?.message);
// stdin may still be open: end now rather than wait for the client to close it.
process.exit(result.ok ? 0 : 1);
