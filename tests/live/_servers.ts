/**
 * Private IMAP servers for live tests: start one on 127.0.0.1 with the scripts in
 * `scripts/servers/`, seed its mailboxes without going through the client under test, stop it.
 *
 * Each instance lives in a fresh temporary folder DIR (removed at stop unless the environment has
 * `IMAP_KEEP_SERVER_DIR=1`). Mail store layout per server, as `appendRaw` writes it:
 *
 * | server    | login                | INBOX                          | mailbox `a/b` (or `a.b`)       |
 * |-----------|----------------------|--------------------------------|--------------------------------|
 * | dovecot   | `imaptest`           | `DIR/home/imaptest/Maildir`    | `…/Maildir/a/b` (LAYOUT=fs, `/`) |
 * | mailutils | `imaptest@localhost` | `DIR/home/imaptest/Maildir` (also reached as `…/imaptest/INBOX`, a link) | `…/Maildir/a/b` (`/`) |
 * | courier   | `imaptest`           | `DIR/home/imaptest/Maildir`    | `…/Maildir/.a.b` (Maildir++, names `INBOX.a.b`, `.`) |
 * | cyrus     | `imaptest`           | Cyrus spool under `DIR/spool` (not a maildir) | delivered over LMTP with `deliver` |
 *
 * Each maildir has `cur/`, `new/` and `tmp/`; files are written to `tmp/` and renamed into `new/`
 * with the owner of the maildir (uid 65534 for Dovecot and Courier when root, root for Mailutils,
 * whose sessions do not switch uid), so the server sees them as new (`\Recent`) at the next SELECT.
 *
 * @module
 */

/** The servers that `scripts/servers/` can start. */
export type ServerName = "dovecot" | "mailutils" | "cyrus" | "courier";

/** A running private IMAP server, as described by its `DIR/env` file. */
export interface LiveServer extends AsyncDisposable {
  /** Which server this is. */
  name: ServerName;
  /** Address it listens on (always 127.0.0.1). */
  host: string;
  /** Plain port; STARTTLS is offered there. */
  port: number;
  /** Implicit-TLS port. */
  tlsPort: number;
  /** Login name of the test user (`imaptest@localhost` for Mailutils). */
  user: string;
  /** Password of the test user. */
  pass: string;
  /** PEM of the instance's self-signed certificate (CN=localhost): pass it as `caCerts`. */
  caPem: string;
  /** Path of that certificate. */
  caFile: string;
  /** Argv of a command speaking pre-authenticated IMAP on stdin/stdout, or null if none. */
  preauth: string[] | null;
  /** Server version, for example `2.3.19.1`. */
  version: string;
  /** Folder holding the instance's whole state. */
  dir: string;
  /** Stops the server and every process it left, then removes `dir`; safe to call twice. */
  stop(): Promise<void>;
}

const scriptsDir = new URL("../../scripts/servers/", import.meta.url);

function scriptPath(name: ServerName): string {
  return new URL(`${name}.sh`, scriptsDir).pathname;
}

async function runScript(
  name: ServerName,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command("bash", {
    args: [scriptPath(name), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/**
 * Tells whether a server's binaries are installed on this machine.
 * @param name The server to look for.
 * @returns True when `scripts/servers/<name>.sh available` succeeds.
 */
export async function serverAvailable(name: ServerName): Promise<boolean> {
  return (await runScript(name, ["available"])).code === 0;
}

/**
 * Parses the `KEY=value` lines of a server's `DIR/env` file.
 * @param text The file's content.
 * @returns The values by key (everything after the first `=`).
 */
export function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return env;
}

function required(env: Map<string, string>, key: string, file: string): string {
  const value = env.get(key);
  if (value === undefined || value === "") throw new Error(`Server env "${file}" lacks "${key}"`);
  return value;
}

/**
 * Starts a private instance of an IMAP server in a fresh temporary folder.
 * When the server is not installed, it throws if the environment has `CI=true` (a live test must
 * fail in CI when its server is missing) and otherwise warns loudly on stderr and returns null.
 * @param name The server to start.
 * @returns The running server, or null when it is not installed outside CI.
 * @throws {Error} When the server is missing in CI, or its start script fails.
 */
export async function startServer(name: ServerName): Promise<LiveServer | null> {
  if (!(await serverAvailable(name))) {
    const message = `IMAP server "${name}" is not installed (see scripts/servers/README.md)`;
    if (Deno.env.get("CI") === "true") throw new Error(`${message}: live tests cannot run in CI`);
    console.error(`\n!!!!! WARNING: ${message}: live test skipped, it would FAIL in CI !!!!!\n`);
    return null;
  }
  const dir = await Deno.makeTempDir({ prefix: `imaptest-${name}-` });
  const started = await runScript(name, ["start", dir]);
  if (started.code !== 0) {
    await runScript(name, ["stop", dir]);
    throw new Error(
      `Server "${name}" did not start (exit ${started.code}, state kept in "${dir}"): ${started.stderr.trim()}`,
    );
  }
  const envFile = `${dir}/env`;
  const env = parseEnv(await Deno.readTextFile(envFile));
  const caFile = required(env, "IMAP_CA", envFile);
  const preauthText = env.get("IMAP_PREAUTH") ?? "";
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      const result = await runScript(name, ["stop", dir]);
      if (result.code !== 0) {
        throw new Error(`Server "${name}" did not stop cleanly: ${result.stderr.trim()}`);
      }
      if (Deno.env.get("IMAP_KEEP_SERVER_DIR") !== "1") await Deno.remove(dir, { recursive: true });
    })();
    return stopped;
  };
  return {
    name,
    host: required(env, "IMAP_HOST", envFile),
    port: Number(required(env, "IMAP_PORT", envFile)),
    tlsPort: Number(required(env, "IMAP_TLS_PORT", envFile)),
    user: required(env, "IMAP_USER", envFile),
    pass: required(env, "IMAP_PASS", envFile),
    caPem: await Deno.readTextFile(caFile),
    caFile,
    preauth: preauthText === "" ? null : JSON.parse(preauthText) as string[],
    version: env.get("IMAP_VERSION") ?? "",
    dir,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

const skips = new Map<ServerName, boolean>();

/**
 * Whether the live tests of a server are to be registered as ignored: only when it is not
 * installed and this is not CI (there a missing server must fail, not skip). A skip is announced
 * loudly and shows as "ignored" in the summary, never as a pass.
 * @param name The server the tests need.
 * @returns True when the tests cannot run here and may be skipped.
 */
export function skipLive(name: ServerName): boolean {
  let skip = skips.get(name);
  if (skip === undefined) {
    const available = new Deno.Command("bash", {
      args: [scriptPath(name), "available"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).outputSync().success;
    skip = !available && Deno.env.get("CI") !== "true";
    if (skip) {
      console.error(
        `\n!!!!! WARNING: IMAP server "${name}" is not installed: its live tests are IGNORED here ` +
          "and would FAIL in CI (see scripts/servers/README.md) !!!!!\n",
      );
    }
    skips.set(name, skip);
  }
  return skip;
}

/**
 * One server shared by all the tests of a file: started on first use, stopped by the test that
 * `stopTest()` registers (call it last) or, if a filter skipped that one, when the process ends.
 * @param name The server.
 * @returns `live(name, fn)` to register a test that gets the server, and `stopTest()`.
 */
export function sharedServer(name: ServerName): {
  live(testName: string, fn: (server: LiveServer) => Promise<void>): void;
  stopTest(): void;
} {
  let started: Promise<LiveServer | null> | null = null;
  let running: LiveServer | null = null;
  const ignore = skipLive(name);
  globalThis.addEventListener("unload", () => {
    if (running === null) return;
    new Deno.Command("bash", {
      args: [scriptPath(name), "stop", running.dir],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).outputSync();
    Deno.removeSync(running.dir, { recursive: true });
  });
  return {
    live(testName, fn) {
      Deno.test({
        name: testName,
        ignore,
        async fn() {
          started ??= startServer(name).then((s) => (running = s));
          const server = await started;
          if (server === null) throw new Error(`Server "${name}" is not available`);
          await fn(server);
        },
      });
    },
    stopTest() {
      Deno.test({
        name: `stop the shared ${name} server`,
        ignore,
        async fn() {
          const s = running;
          running = null;
          await s?.stop();
        },
      });
    },
  };
}

/**
 * Registers a Deno test that starts a server, runs `fn` against it and stops it afterwards.
 * Outside CI, a missing server makes the test ignored, with a loud warning; in CI it fails.
 * @param name The test's name.
 * @param serverName The server the test needs.
 * @param fn The test body.
 */
export function liveTest(
  name: string,
  serverName: ServerName,
  fn: (server: LiveServer) => Promise<void>,
): void {
  Deno.test({
    name,
    ignore: skipLive(serverName),
    async fn() {
      const server = await startServer(serverName);
      if (server === null) throw new Error(`Server "${serverName}" is not available`);
      try {
        await fn(server);
      } finally {
        await server.stop();
      }
    },
  });
}

/** The local part of a login name (`imaptest@localhost` → `imaptest`). */
function homeName(server: LiveServer): string {
  const at = server.user.indexOf("@");
  return at < 0 ? server.user : server.user.slice(0, at);
}

/** Maps a mailbox name to its maildir for servers that keep maildirs. */
function maildirOf(server: LiveServer, mailbox: string): string {
  const root = `${server.dir}/home/${homeName(server)}/Maildir`;
  if (mailbox.toUpperCase() === "INBOX") return root;
  const separator = server.name === "courier" ? "." : "/";
  let name = mailbox;
  if (server.name === "courier" && name.toUpperCase().startsWith("INBOX.")) name = name.slice(6);
  const parts = name.split(separator);
  if (parts.some((part) => part === "" || part === "." || part === ".." || part.includes("/"))) {
    throw new TypeError(`Mailbox name "${mailbox}" cannot be mapped to a maildir`);
  }
  return server.name === "courier" ? `${root}/.${parts.join(".")}` : `${root}/${parts.join("/")}`;
}

let deliveries = 0;

/**
 * Writes messages straight into a mailbox of a running server, bypassing IMAP, so tests can have
 * content without using the client under test. A missing maildir folder is created. For Cyrus
 * (no maildir) the messages are delivered over LMTP with Cyrus' `deliver`.
 * @param server The running server.
 * @param mailbox The mailbox name as the server shows it (`INBOX`, `a/b`; `INBOX.a` on Courier).
 * @param messages The raw messages (CRLF or LF line ends, as they should be stored).
 * @returns The paths of the files written (empty for Cyrus).
 * @throws {TypeError} When the mailbox name cannot be mapped to a folder.
 * @throws {Error} When Cyrus' `deliver` fails.
 */
export async function appendRaw(
  server: LiveServer,
  mailbox: string,
  messages: Uint8Array[],
): Promise<string[]> {
  if (server.name === "cyrus") {
    await deliverCyrus(server, mailbox, messages);
    return [];
  }
  const root = maildirOf(server, "INBOX");
  const owner = await Deno.stat(root);
  const target = maildirOf(server, mailbox);
  for (const sub of ["cur", "new", "tmp"]) {
    await Deno.mkdir(`${target}/${sub}`, { recursive: true });
  }
  // Give every folder created on the way to the mail owner, or the server cannot use it.
  for (const sub of ["/cur", "/new", "/tmp"]) await Deno.chown(target + sub, owner.uid, owner.gid);
  for (let path = target; path.length > root.length; path = path.slice(0, path.lastIndexOf("/"))) {
    await Deno.chown(path, owner.uid, owner.gid);
  }
  if (server.name === "courier" && target !== root) {
    await Deno.writeFile(`${target}/maildirfolder`, new Uint8Array());
    await Deno.chown(`${target}/maildirfolder`, owner.uid, owner.gid);
  }
  const paths: string[] = [];
  for (const message of messages) {
    const now = Date.now();
    const unique = `${Math.floor(now / 1000)}.M${(now % 1000) * 1000}P${Deno.pid}Q${++deliveries}` +
      `.imaptest`;
    const tmp = `${target}/tmp/${unique}`;
    await Deno.writeFile(tmp, message, { mode: 0o600 });
    await Deno.chown(tmp, owner.uid, owner.gid);
    // Maildir delivery: a file appears in new/ only once complete.
    const path = `${target}/new/${unique}`;
    await Deno.rename(tmp, path);
    paths.push(path);
  }
  return paths;
}

/** Delivers messages to a Cyrus mailbox over LMTP (untested: Cyrus is not installed here). */
async function deliverCyrus(
  server: LiveServer,
  mailbox: string,
  messages: Uint8Array[],
): Promise<void> {
  const args = ["-C", `${server.dir}/imapd.conf`, "-a", server.user];
  if (mailbox.toUpperCase() !== "INBOX") args.push("-m", mailbox);
  args.push(server.user);
  for (const message of messages) {
    const child = new Deno.Command("/usr/lib/cyrus/bin/deliver", {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(message);
    await writer.close();
    const out = await child.output();
    if (out.code !== 0) {
      const detail = new TextDecoder().decode(out.stderr).trim();
      throw new Error(`Cyrus deliver to "${mailbox}" failed (exit ${out.code}): ${detail}`);
    }
  }
}
