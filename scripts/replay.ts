/**
 * Replays a transcript to one client.
 *
 * ```sh
 * deno run -A scripts/replay.ts FILE [--port N] [--tls]   # serve over loopback TCP (or TLS)
 * deno run -A scripts/replay.ts --stdio FILE              # serve over stdin/stdout (IMAP4_stream)
 * deno run -A scripts/replay.ts --suite DIR -- CMD ARGS   # run CMD once per transcript in DIR
 * ```
 * TLS uses the test certificate in `fixtures/certs/replay/`. In `--suite` mode, CMD gets the
 * environment `REPLAY_HOST`, `REPLAY_PORT`, `REPLAY_TLS` (`1` or `0`) and `REPLAY_FILE`. The exit
 * code is 0 when every client line matched, 1 on a mismatch (the diff goes to stderr), 2 on
 * wrong usage.
 *
 * @module
 */

import { replay, replayStdio, runSuite } from "../lib/harness/mod.ts";
import type { ServerTlsOptions } from "../transports/listen.ts";

const certDir = new URL("../fixtures/certs/replay/", import.meta.url);

async function testCert(): Promise<ServerTlsOptions> {
  return {
    cert: await Deno.readTextFile(new URL("cert.pem", certDir)),
    key: await Deno.readTextFile(new URL("key.pem", certDir)),
  };
}

function usage(): never {
  console.error(
    "usage: replay.ts FILE [--port N] [--tls] | --stdio FILE | --suite DIR -- CMD [ARGS...]",
  );
  Deno.exit(2);
}

async function main(args: string[]): Promise<number> {
  const dashes = args.indexOf("--");
  const command = dashes === -1 ? [] : args.slice(dashes + 1);
  const opts = dashes === -1 ? args : args.slice(0, dashes);
  const flag = (name: string) => opts.includes(name);
  const value = (name: string) => {
    const i = opts.indexOf(name);
    return i === -1 ? undefined : opts[i + 1];
  };
  if (flag("--stdio")) {
    const file = value("--stdio") ?? usage();
    const result = await replayStdio(
      await Deno.readFile(file),
      Deno.stdin.readable,
      Deno.stdout.writable,
      { tls: await testCert() },
    );
    if (!result.ok) console.error(result.error?.message);
    return result.ok ? 0 : 1;
  }
  if (flag("--suite")) {
    const dir = value("--suite") ?? usage();
    if (command.length === 0) usage();
    const tls = await testCert();
    const results = await runSuite(dir, async (server, testCase) => {
      const status = await new Deno.Command(command[0], {
        args: command.slice(1),
        env: {
          REPLAY_HOST: server.hostname,
          REPLAY_PORT: String(server.port),
          REPLAY_TLS: testCase.metadata.transport === "tls" ? "1" : "0",
          REPLAY_FILE: `${dir}/${testCase.name}`,
        },
      }).spawn().status;
      if (!status.success) throw new Error(`Client exited with code ${status.code}`);
    }, { tls });
    for (const r of results) {
      console.log(`${r.ok ? "ok  " : "FAIL"} ${r.name}`);
      if (!r.ok) console.log(r.error?.message.replace(/^/gm, "     "));
    }
    return results.every((r) => r.ok) ? 0 : 1;
  }
  const file = opts.find((a, i) => !a.startsWith("--") && opts[i - 1] !== "--port") ?? usage();
  const port = Number(value("--port") ?? 0);
  const server = await replay(await Deno.readFile(file), {
    port,
    tls: await testCert(),
    implicitTls: flag("--tls"),
  });
  console.log(`listening on ${server.hostname}:${server.port}`);
  const result = await server.done;
  if (!result.ok) console.error(result.error?.message);
  return result.ok ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
