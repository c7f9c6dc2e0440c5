/**
 * Records an IMAP session as a transcript (DESIGN §6), secrets masked.
 *
 * ```sh
 * # a proxy on loopback: point any client at the printed port; one session is recorded
 * deno run -A scripts/record.ts --upstream imap://127.0.0.1:143 [--ca FILE] [--servername NAME] \
 *   --out FILE [--listen PORT] [--listen-tls] [--server "dovecot 2.3.19"]
 * # implicit TLS upstream: imaps://host:993
 * # a stream command a client spawns (IMAP4_stream): relays stdin/stdout to the child
 * deno run -A scripts/record.ts --stream FILE -- /usr/lib/dovecot/imap -c preauth.conf
 * ```
 * The client side of TLS (`--listen-tls`, and STARTTLS, which the proxy terminates on both sides)
 * uses the test certificate in `fixtures/certs/replay/`; give clients `cert.pem` as their CA.
 *
 * @module
 */

import { record, recordConnections } from "../lib/harness/mod.ts";
import { streamTransport } from "../lib/harness/_shared.ts";

const certDir = new URL("../fixtures/certs/replay/", import.meta.url);

function usage(): never {
  console.error(
    "usage: record.ts --upstream imap[s]://HOST:PORT --out FILE [--ca FILE] [--servername NAME]\n" +
      "                 [--listen PORT] [--listen-tls] [--server NAME]\n" +
      "       record.ts --stream FILE [--server NAME] -- COMMAND [ARGS...]",
  );
  Deno.exit(2);
}

async function main(args: string[]): Promise<number> {
  const dashes = args.indexOf("--");
  const command = dashes === -1 ? [] : args.slice(dashes + 1);
  const opts = dashes === -1 ? args : args.slice(0, dashes);
  const value = (name: string) => {
    const i = opts.indexOf(name);
    return i === -1 ? undefined : opts[i + 1];
  };
  const server = value("--server");
  const stream = value("--stream");
  if (stream !== undefined) {
    if (command.length === 0) usage();
    const child = new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    // Cancelling the readables on close ends a relay direction still waiting to read.
    const upstream = streamTransport(child.stdout, child.stdin, {
      cancel: true,
      async onClose() {
        const timer = setTimeout(() => child.kill(), 2000);
        await child.status;
        clearTimeout(timer);
      },
    });
    const client = streamTransport(Deno.stdin.readable, Deno.stdout.writable, { cancel: true });
    const bytes = await recordConnections(client, {
      read: upstream.read,
      write: upstream.write,
      close: upstream.close,
    }, { server, transport: "stream" });
    await Deno.writeFile(stream, bytes);
    return 0;
  }
  const url = value("--upstream");
  const out = value("--out");
  if (url === undefined || out === undefined) usage();
  const m = /^(imaps?):\/\/([^/:]+|\[[^\]]+\]):(\d+)\/?$/.exec(url);
  if (m === null) usage();
  const ca = value("--ca");
  const testCert = {
    cert: await Deno.readTextFile(new URL("cert.pem", certDir)),
    key: await Deno.readTextFile(new URL("key.pem", certDir)),
  };
  const rec = await record({
    upstream: {
      hostname: m[2].replace(/^\[|\]$/g, ""),
      port: Number(m[3]),
      tls: m[1] === "imaps",
      caCerts: ca === undefined ? undefined : [await Deno.readTextFile(ca)],
      servername: value("--servername"),
    },
    port: Number(value("--listen") ?? 0),
    listenTls: opts.includes("--listen-tls") ? testCert : undefined,
    starttlsCert: testCert,
    server,
  });
  console.log(`listening on ${rec.hostname}:${rec.port}`);
  const bytes = await rec.done;
  await Deno.writeFile(out, bytes);
  console.log(`wrote ${bytes.length} bytes to ${out}`);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
