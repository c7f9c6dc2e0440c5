/**
 * `deno task build:npm [--out-dir DIR]`: builds the npm package of this module.
 *
 * 1. `deno pack` (Deno's own packer) turns the `exports` of deno.json (`.` and `./harness`) into
 *    ESM JavaScript with `.d.ts` types and a `package.json`, without source maps (they would hold
 *    this machine's absolute paths).
 * 2. The packed tree is unpacked and `package.json` gets what `deno pack` leaves out: a
 *    description, the repository, `engines.node >= 20`, keywords. Files that are not part of the
 *    module graph (sources copied verbatim, such as `deno.lock`) are dropped.
 * 3. The tree is checked: no TypeScript source, no absolute path of the build machine, no
 *    dependency, every export present. Then `npm pack` writes the tarball into DIR (default
 *    `dist/`), and its absolute path is printed on the last line of stdout.
 *
 * Needs `deno`, `npm` and `tar` on PATH; works offline.
 *
 * @module
 */

const root = new URL("../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname).replace(/\/$/, "");

/** Fields `deno pack` does not take from deno.json; the repository is this project's. */
const EXTRA_FIELDS = {
  description:
    "Python's imaplib for TypeScript: the same classes, errors, helpers and commands, async, " +
    "on Deno and Node, with a record/replay harness for IMAP transcripts.",
  keywords: ["imap", "imaplib", "email", "mail", "deno", "node"],
  repository: { type: "git", url: "git+https://github.com/imaplib/imaplib-ts.git" },
  engines: { node: ">=20" },
};

/** The files an npm user needs; anything else `deno pack` copied is dropped. */
function keep(path: string): boolean {
  return path === "package.json" || path === "README.md" || path === "LICENSE" ||
    path.endsWith(".js") || path.endsWith(".d.ts");
}

const decoder = new TextDecoder();

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `Command "${cmd} ${args.join(" ")}" failed (exit ${out.code}):\n${
        decoder.decode(out.stderr)
      }`,
    );
  }
  return decoder.decode(out.stdout);
}

async function* walk(dir: string, prefix = ""): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const rel = prefix + entry.name;
    if (entry.isDirectory) yield* walk(`${dir}/${entry.name}`, `${rel}/`);
    else yield rel;
  }
}

/** Every problem that would make the package wrong for a Node user; empty when it is fine. */
async function problemsOf(pkgDir: string, pkg: Record<string, unknown>): Promise<string[]> {
  const problems: string[] = [];
  for await (const rel of walk(pkgDir)) {
    if (rel.endsWith(".ts") && !rel.endsWith(".d.ts")) problems.push(`TypeScript source "${rel}"`);
    const text = await Deno.readTextFile(`${pkgDir}/${rel}`);
    if (text.includes(rootPath)) problems.push(`"${rel}" holds the build path "${rootPath}"`);
    if (/file:\/\//.test(text)) problems.push(`"${rel}" holds a file:// URL`);
    if (/sourceMappingURL/.test(text)) problems.push(`"${rel}" refers to a source map`);
  }
  for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
    if (field in pkg) problems.push(`package.json has "${field}": the package must have none`);
  }
  const exports = pkg.exports as Record<string, Record<string, string>>;
  for (const key of [".", "./harness"]) {
    const entry = exports?.[key];
    if (entry === undefined) {
      problems.push(`package.json lacks the export "${key}"`);
      continue;
    }
    for (const target of [entry.import, entry.types]) {
      try {
        await Deno.stat(`${pkgDir}/${target}`);
      } catch {
        problems.push(`export "${key}" points to the missing file "${target}"`);
      }
    }
  }
  return problems;
}

/**
 * Builds the tarball.
 *
 * @param outDir the folder the tarball goes to (created when missing)
 * @returns the tarball's absolute path
 * @throws Error when a tool fails or the packed tree has a problem
 */
export async function buildNpm(outDir: string): Promise<string> {
  const work = await Deno.makeTempDir({ prefix: "imaplib-npm-" });
  try {
    const packed = `${work}/deno-pack.tgz`;
    // --allow-dirty: the build is of the working tree, committed or not.
    await run(
      "deno",
      ["pack", "--quiet", "--allow-dirty", "--no-source-maps", "-o", packed],
      rootPath,
    );
    await run("tar", ["-xzf", packed, "-C", work], rootPath);
    const pkgDir = `${work}/package`;
    for await (const rel of walk(pkgDir)) {
      if (!keep(rel)) await Deno.remove(`${pkgDir}/${rel}`);
    }
    const packedJson = JSON.parse(await Deno.readTextFile(`${pkgDir}/package.json`));
    const { name, version, ...rest } = packedJson;
    const pkg = { name, version, ...EXTRA_FIELDS, ...rest };
    await Deno.writeTextFile(`${pkgDir}/package.json`, JSON.stringify(pkg, null, 2) + "\n");
    const problems = await problemsOf(pkgDir, pkg);
    if (problems.length > 0) {
      throw new Error(`The npm package has problems:\n- ${problems.join("\n- ")}`);
    }
    await Deno.mkdir(outDir, { recursive: true });
    const absOut = await Deno.realPath(outDir);
    const report = JSON.parse(
      await run("npm", [
        "pack",
        "--json",
        "--ignore-scripts",
        "--pack-destination",
        absOut,
      ], pkgDir),
    );
    return `${absOut}/${report[0].filename}`;
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out-dir");
  const outDir = i === -1 ? `${rootPath}/dist` : Deno.args[i + 1];
  if (outDir === undefined || Deno.args.some((a, k) => a !== "--out-dir" && k !== i + 1)) {
    console.error("usage: deno task build:npm [--out-dir DIR]");
    Deno.exit(2);
  }
  const tarball = await buildNpm(outDir);
  console.log(`npm package written to:\n${tarball}`);
}
