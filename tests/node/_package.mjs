/**
 * The npm build of this module, installed for the Node tests: a fresh temporary project into
 * which the tarball of `deno task build:npm` is installed with `npm install <tarball>`, as a user
 * would. The tests import the package by its name from there, so Node resolves it through the
 * package's `exports`, exactly as for a user.
 *
 * tests/node_build_test.ts builds and installs once and passes the project in the environment
 * (`IMAPLIB_NPM_PROJECT`); run alone (`node --test tests/node/`), each test file builds and
 * installs its own copy (needs `deno` and `npm` on PATH, no network).
 *
 * @module
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The repository's root folder. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Whether this runs under Deno (whose `deno test` also finds these files): they then skip. */
export const onDeno = "Deno" in globalThis;

/** The package's name, as deno.json gives it. */
export const packageName = JSON.parse(readFileSync(join(root, "deno.json"), "utf8")).name;

function sh(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Builds the npm tarball with scripts/build_npm.ts.
 *
 * @param {string} outDir where the tarball goes
 * @returns {string} its absolute path
 */
export function buildTarball(outDir) {
  const out = sh("deno", [
    "run",
    "--allow-all",
    join(root, "scripts", "build_npm.ts"),
    "--out-dir",
    outDir,
  ], root);
  return out.trim().split("\n").pop();
}

/**
 * Makes a fresh project and installs the tarball into it, offline (the package has no
 * dependencies). Also compiles the conformance checker (lib/harness/compat.ts, not part of the
 * package) so that it runs on the installed package's own modules.
 *
 * @param {string} tarball the tarball's path
 * @param {string} project an empty folder
 * @returns {string} the project folder
 */
export function installPackage(tarball, project) {
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "imaplib-node-test", private: true, type: "module" }, null, 2),
  );
  sh("npm", [
    "install",
    "--offline",
    "--no-audit",
    "--no-fund",
    "--ignore-scripts",
    "--loglevel=error",
    tarball,
  ], project);
  // The entry the tests import: resolution from inside the project, by the package's name.
  writeFileSync(
    join(project, "entry.mjs"),
    `export * as imaplib from ${JSON.stringify(packageName)};\n` +
      `export * as harness from ${JSON.stringify(`${packageName}/harness`)};\n`,
  );
  compileCompat(project);
  return project;
}

/**
 * Compiles lib/harness/compat.ts to `<project>/compat.mjs`, its relative imports pointing to the
 * installed package's modules (so IMAP4Error is the package's class, not a copy).
 */
function compileCompat(project) {
  const source = join(root, "lib", "harness", "compat.ts");
  const specifiers = [
    ...new Set(
      [...readFileSync(source, "utf8").matchAll(/from "(\.\.?\/[^"]+)"/g)].map((m) => m[1]),
    ),
  ];
  const out = join(project, "compat.mjs");
  sh("deno", [
    "bundle",
    "--quiet",
    "--platform=deno",
    ...specifiers.map((s) => `--external=${s}`),
    "-o",
    out,
    source,
  ], root);
  const pkgHarness = join(project, "node_modules", ...packageName.split("/"), "lib", "harness");
  const code = readFileSync(out, "utf8").replace(
    /from "(\.\.?\/[^"]+)\.ts"/g,
    (_, spec) => `from ${JSON.stringify(pathToFileURL(join(pkgHarness, `${spec}.js`)).href)}`,
  );
  writeFileSync(out, code);
}

let loaded;

/**
 * Loads the installed package (building and installing it first when no project is given).
 *
 * @returns {Promise<{ imaplib: any, harness: any, compat: any, project: string }>}
 */
export function loadPackage() {
  loaded ??= (async () => {
    let project = process.env.IMAPLIB_NPM_PROJECT;
    if (project === undefined || project === "") {
      const dir = mkdtempSync(join(tmpdir(), "imaplib-node-"));
      process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
      project = installPackage(buildTarball(dir), dir);
    }
    const { imaplib, harness } = await import(pathToFileURL(join(project, "entry.mjs")).href);
    const compat = await import(pathToFileURL(join(project, "compat.mjs")).href);
    return { imaplib, harness, compat, project };
  })();
  return loaded;
}
