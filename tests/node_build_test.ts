/**
 * The npm build, tested as a Node user gets it: `deno task build:npm` makes the tarball, it is
 * installed with `npm install <tarball>` into a fresh temporary project, and the Node suite
 * (tests/node/*_test.mjs, except transports_test.mjs, which tests the sources through
 * tests/node_transports_test.ts) runs under `node --test` against it, with a private Dovecot and
 * Deno's own helper results passed in the environment. A failure shows the failing Node tests
 * with their errors.
 *
 * Run: deno test --allow-all tests/node_build_test.ts (needs `node` 20+, `npm` and `tar`)
 *
 * @module
 */

import assert from "node:assert/strict";
import { buildNpm } from "../scripts/build_npm.ts";
import * as imaplib from "../mod.ts";
import { helperResults } from "./node/_helpers.mjs";
import { installPackage } from "./node/_package.mjs";
import { startServer } from "./live/_servers.ts";

const nodeDir = new URL("./node/", import.meta.url);
const decoder = new TextDecoder();

/** The Node test files that test the build (transports_test.mjs tests the sources). */
async function nodeTestFiles(): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(nodeDir)) {
    if (e.isFile && e.name.endsWith("_test.mjs") && e.name !== "transports_test.mjs") {
      files.push(new URL(e.name, nodeDir).pathname);
    }
  }
  return files.sort();
}

/** Lists a tarball's files and reads its package.json. */
async function tarball(path: string): Promise<{ files: string[]; pkg: Record<string, unknown> }> {
  const run = async (args: string[]) => {
    const out = await new Deno.Command("tar", { args, stdout: "piped", stderr: "piped" }).output();
    assert.equal(out.code, 0, decoder.decode(out.stderr));
    return decoder.decode(out.stdout);
  };
  const files = (await run(["-tzf", path])).split("\n").filter(Boolean);
  const pkg = JSON.parse(await run(["-xzOf", path, "package/package.json"]));
  return { files, pkg };
}

/** The counts at the end of a TAP report. */
function tapCounts(tap: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of tap.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) {
    counts[m[1]] = Number(m[2]);
  }
  return counts;
}

Deno.test("npm build: the tarball installs on Node and passes the Node suite", async (t) => {
  const work = await Deno.makeTempDir({ prefix: "imaplib-npm-test-" });
  const server = await startServer("dovecot");
  try {
    let path = "";
    await t.step("deno task build:npm writes a complete tarball", async () => {
      path = await buildNpm(`${work}/dist`);
      const { files, pkg } = await tarball(path);
      assert.equal(pkg.name, "@imaplib/imaplib");
      assert.equal(pkg.license, "MIT");
      assert.equal(pkg.type, "module");
      assert.deepEqual(pkg.engines, { node: ">=20" });
      assert.match(String((pkg.repository as { url?: string })?.url), /^git\+https:\/\//);
      assert.deepEqual(Object.keys(pkg.exports as object), [".", "./harness"]);
      assert.equal(pkg.dependencies, undefined);
      for (const f of ["mod.js", "mod.d.ts", "lib/harness/mod.js", "lib/harness/mod.d.ts"]) {
        assert.ok(files.includes(`package/${f}`), `the tarball has ${f}`);
      }
      assert.deepEqual(files.filter((f) => /\.ts$/.test(f) && !f.endsWith(".d.ts")), []);
      assert.deepEqual(files.filter((f) => f.endsWith(".map")), []);
    });

    const project = `${work}/project`;
    await t.step("npm install <tarball> into a fresh project", async () => {
      await Deno.mkdir(project);
      installPackage(path, project);
      const installed = JSON.parse(
        await Deno.readTextFile(`${project}/node_modules/@imaplib/imaplib/package.json`),
      );
      assert.equal(installed.version, JSON.parse(await Deno.readTextFile("deno.json")).version);
    });

    await t.step("the package's .d.ts types check a TypeScript user's code", async () => {
      // `@ts-expect-error` lines fail the check if the types were missing (everything `any`).
      await Deno.writeTextFile(
        `${project}/consumer.ts`,
        `import { type CommandResult, IMAP4, IMAP4_SSL, Int2AP } from "@imaplib/imaplib";
import { parseTranscript, type ReplayServer } from "@imaplib/imaplib/harness";
export async function session(): Promise<CommandResult> {
  const M: IMAP4 = await IMAP4_SSL.connect("localhost", 993, { caCerts: [], hostname: "x" });
  return await M.login("user", "password");
}
export const tag: string = Int2AP(5);
export const entries: number = parseTranscript(new Uint8Array()).entries.length;
export type Server = ReplayServer;
// @ts-expect-error Int2AP returns a string
export const wrong: number = Int2AP(5);
// @ts-expect-error the harness has no such export
import { noSuchExport } from "@imaplib/imaplib/harness";
export { noSuchExport };
`,
      );
      const out = await new Deno.Command("deno", {
        args: ["check", "--quiet", "consumer.ts"],
        cwd: project,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(out.code, 0, decoder.decode(out.stderr));
    });

    await t.step("node --test tests/node/ passes against the installed package", async () => {
      const denoHelpers = `${work}/deno_helpers.json`;
      await Deno.writeTextFile(denoHelpers, JSON.stringify(helperResults(imaplib)));
      const tapFile = `${work}/report.tap`;
      const files = await nodeTestFiles();
      assert.ok(files.length >= 3, `only ${files.length} Node test files`);
      const env: Record<string, string> = {
        IMAPLIB_NPM_PROJECT: project,
        IMAPLIB_DENO_HELPERS: denoHelpers,
      };
      if (server !== null) {
        Object.assign(env, {
          IMAP_HOST: server.host,
          IMAP_PORT: String(server.port),
          IMAP_TLS_PORT: String(server.tlsPort),
          IMAP_USER: server.user,
          IMAP_PASS: server.pass,
          IMAP_CA_FILE: server.caFile,
          IMAP_PREAUTH: JSON.stringify(server.preauth),
        });
      }
      const started = performance.now();
      const out = await new Deno.Command("node", {
        args: [
          "--test",
          "--test-timeout=60000",
          "--test-reporter=tap",
          `--test-reporter-destination=${tapFile}`,
          "--test-reporter=spec",
          "--test-reporter-destination=stdout",
          ...files,
        ],
        cwd: project,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const seconds = (performance.now() - started) / 1000;
      const report = decoder.decode(out.stdout) + decoder.decode(out.stderr);
      const counts = tapCounts(await Deno.readTextFile(tapFile).catch(() => ""));
      // The spec report ends with every failing test and its error: show that part.
      const failures = report.slice(Math.max(0, report.indexOf("✖ failing tests:")));
      assert.equal(out.code, 0, `node --test failed (exit ${out.code}):\n${failures || report}`);
      assert.equal(counts.fail, 0, report);
      // Without a server (not in CI: startServer warned loudly), only the live tests skip.
      const skipsAllowed = server === null ? 6 : 0;
      assert.ok(counts.skipped <= skipsAllowed, `${counts.skipped} Node tests skipped:\n${report}`);
      assert.ok(counts.pass >= 50, `only ${counts.pass} Node tests passed:\n${report}`);
      console.log(
        `node --test: ${counts.pass} passed, ${counts.skipped} skipped in ${seconds.toFixed(1)} s`,
      );
    });

    await t.step({
      name: "the README's Deno and Node examples print the same session",
      ignore: server === null,
      fn: async () => {
        const readme = await Deno.readTextFile(new URL("../README.md", import.meta.url));
        const section = /^## Node and npm\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1] ?? "";
        const denoCode = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
        const nodeCode = /```js\n([\s\S]*?)```/.exec(section)?.[1];
        assert.ok(denoCode && nodeCode, "the section has a ```ts and a ```js example");
        // The Deno example imports from JSR, unreachable here: the same module, from this tree.
        const modUrl = new URL("../mod.ts", import.meta.url).href;
        await Deno.writeTextFile(
          `${work}/example.ts`,
          denoCode.replace('"jsr:@imaplib/imaplib"', JSON.stringify(modUrl)),
        );
        await Deno.writeTextFile(`${project}/example.mjs`, nodeCode);
        const env = {
          IMAP_HOST: server!.host,
          IMAP_PORT: String(server!.tlsPort),
          IMAP_USER: server!.user,
          IMAP_PASS: server!.pass,
          IMAP_CA_FILE: server!.caFile,
          IMAP_TLS_NAME: "localhost",
          IMAP_MAILBOX: "NodeBuild", // made by tests/node/live_test.mjs
        };
        const run = async (cmd: string, args: string[], cwd: string) => {
          const out = await new Deno.Command(cmd, {
            args,
            cwd,
            env,
            stdout: "piped",
            stderr: "piped",
          })
            .output();
          assert.equal(out.code, 0, `${cmd} example failed:\n${decoder.decode(out.stderr)}`);
          return decoder.decode(out.stdout);
        };
        const onDeno = await run(
          "deno",
          ["run", "--quiet", "--check", "--allow-all", "example.ts"],
          work,
        );
        const onNode = await run("node", ["example.mjs"], project);
        assert.match(onNode, /^NodeBuild holds 2 messages\n1 Subject: /);
        assert.equal(onDeno, onNode);
      },
    });
  } finally {
    await server?.stop();
    await Deno.remove(work, { recursive: true });
  }
});
