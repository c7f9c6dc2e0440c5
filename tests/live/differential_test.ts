// Differential test: one scripted session run by CPython's imaplib (tests/live/_differential.py)
// and by our IMAP4 against two fresh, identically seeded private Dovecots, compared step by step.
//
// Both servers start empty and get the same three messages in INBOX through the maildir (not
// through either client), so message numbers, UIDs, sizes and mod-sequences match; only the
// UIDVALIDITY values (derived from the clock) and Dovecot's timing text may differ, and are
// normalised away.
//
// Deliberate differences from imaplib 3.11 (DESIGN §4), and how the script avoids them:
// - We quote arguments that need it; imaplib 3 sends them raw. The script uses only arguments
//   that are atoms, already parenthesised or already quoted, so both send the same bytes.
// - We refresh `capabilities` after LOGIN/AUTHENTICATE/STARTTLS; imaplib keeps the pre-login
//   tuple. The attribute is compared only before login (capability() is compared after it).
// - imaplib's data lines are bytes, ours UTF-8 strings: the python side decodes lines and both
//   sides encode literal bytes as base64, so the comparison is of the same information.
// - Error classes are named error/abort/readonly in imaplib and IMAP4Error/IMAP4Abort/
//   IMAP4ReadOnly here (mapped below); messages are compared after normalising quoting, case and
//   imaplib's `[b'...']` rendering of the server text.
import assert from "node:assert/strict";
import { IMAP4 } from "../../mod.ts";
import { appendRaw, type LiveServer, skipLive, startServer } from "./_servers.ts";

type Step =
  | { op: "call"; name: string; args?: unknown[] }
  | { op: "attr"; name: string };

/** What either side reports for a step. */
interface Outcome {
  result?: unknown;
  error?: string;
  msg?: string;
  state: string;
}

const call = (name: string, ...args: unknown[]): Step => ({ op: "call", name, args });
const attr = (name: string): Step => ({ op: "attr", name });

const appended = "Subject: appended\nFrom: diff@example.org\n\nline one\nline two\n";

/** The session: 50 steps covering the imaplib surface that Dovecot supports. */
const session = (user: string, pass: string): Step[] => [
  attr("welcome"),
  attr("state"),
  attr("capabilities"),
  attr("PROTOCOL_VERSION"),
  call("login", user, `wrong-${pass}`),
  call("login", user, pass),
  call("capability"),
  call("list"),
  call("list", '""', "INBOX"),
  call("create", "DiffBox"),
  call("create", "DiffBox"), // already exists: NO
  call("select", "DiffBox"),
  call("append", "DiffBox", "(\\Seen)", '"02-Jan-2020 03:04:05 +0000"', { bytes: appended }),
  call("noop"),
  call("response", "EXISTS"),
  call("recent"),
  call("fetch", "1", "(RFC822)"),
  call("select", "INBOX"),
  call("response", "UIDNEXT"),
  call("search", null, "ALL"),
  call("search", "UTF-8", "SUBJECT", "beta"),
  call("search", null, "FOOBAR"), // BAD: raises
  call("fetch", "1", "(RFC822)"),
  call("fetch", "1:3", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"),
  call("fetch", "1:3", "(FLAGS)"),
  call("store", "2", "+FLAGS", "\\Deleted"),
  call("uid", "FETCH", "1:*", "(UID FLAGS)"),
  call("uid", "SEARCH", "DELETED"),
  call("copy", "1:2", "DiffBox"),
  call("status", "DiffBox", "(MESSAGES RECENT UIDNEXT UNSEEN)"),
  call("sort", "(SUBJECT)", "UTF-8", "ALL"),
  call("thread", "REFERENCES", "UTF-8", "ALL"),
  call("xatom", "ID", "NIL"),
  call("response", "ID"),
  call("expunge"),
  call("check"),
  call("response", "EXISTS"),
  call("select", "Nope"), // NO, state AUTH
  call("close"), // illegal in AUTH: raises before sending
  call("select", "DiffBox", true),
  call("fetch", "1:*", "(FLAGS)"),
  call("unselect"),
  call("namespace"),
  call("subscribe", "DiffBox"),
  call("lsub", '""', "Diff*"),
  call("unsubscribe", "DiffBox"),
  call("rename", "DiffBox", "DiffBox2"),
  call("delete", "DiffBox2"),
  call("list", '""', "Diff*"),
  call("logout"),
  call("noop"), // after logout: abort
];

const seed = [
  "Subject: alpha\r\nFrom: a@example.org\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n" +
  "Message-ID: <alpha@example.org>\r\n\r\nfirst body\r\n",
  "Subject: beta\r\nFrom: b@example.org\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\n" +
  "Message-ID: <beta@example.org>\r\nIn-Reply-To: <alpha@example.org>\r\n" +
  "References: <alpha@example.org>\r\n\r\nsecond body\r\n",
  "Subject: gamma\r\nFrom: c@example.org\r\nDate: Wed, 3 Jan 2024 10:00:00 +0000\r\n" +
  "Message-ID: <gamma@example.org>\r\n\r\nthird body \u00e9\r\n",
].map((m) => new TextEncoder().encode(m));

const errorNames: Record<string, string> = {
  IMAP4Error: "error",
  IMAP4Abort: "abort",
  IMAP4ReadOnly: "readonly",
};

function b64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** Converts our results to the python side's JSON shape. */
function toJson(value: unknown): unknown {
  if (value instanceof Uint8Array) return { b64: b64(value) };
  if (Array.isArray(value)) return value.map(toJson);
  return value ?? null;
}

/** Runs the steps with our client. */
async function runOurs(server: LiveServer, steps: Step[]): Promise<Outcome[]> {
  const M = await IMAP4.connect(server.host, server.port, { timeout: 10_000 });
  const out: Outcome[] = [];
  try {
    for (const step of steps) {
      const o: Outcome = { state: "" };
      try {
        // deno-lint-ignore no-explicit-any
        const target = M as any;
        if (step.op === "attr") o.result = toJson(target[step.name]);
        else {
          const args = (step.args ?? []).map((a) =>
            a !== null && typeof a === "object" && "bytes" in a
              ? new TextEncoder().encode((a as { bytes: string }).bytes)
              : a
          );
          o.result = toJson(await target[step.name](...args));
        }
      } catch (e) {
        const name = e instanceof Error ? e.name : String(e);
        o.error = errorNames[name] ?? name;
        o.msg = e instanceof Error ? e.message : String(e);
      }
      o.state = M.state;
      out.push(o);
    }
  } finally {
    await M.shutdown();
  }
  return out;
}

/** Runs the steps with CPython's imaplib. */
async function runPython(server: LiveServer, steps: Step[]): Promise<Outcome[]> {
  const child = new Deno.Command("python3", {
    args: [new URL("./_differential.py", import.meta.url).pathname],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(JSON.stringify({
      host: server.host,
      port: server.port,
      steps,
    })),
  );
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout);
  assert.equal(code, 0, `python side failed: ${new TextDecoder().decode(stderr)}`);
  return text.trim().split("\n").map((line) => JSON.parse(line) as Outcome);
}

/** Removes what legitimately differs between two runs: timing text, clock-derived UIDVALIDITY. */
function normaliseText(s: string): string {
  return s
    .replace(/ \(\d+\.\d+( \+ \d+\.\d+)* secs\)/g, "")
    .replace(/(UIDVALIDITY|APPENDUID|COPYUID) \d+/g, "$1 <n>");
}

function normalise(value: unknown): unknown {
  if (typeof value === "string") return normaliseText(value);
  if (Array.isArray(value)) return value.map(normalise);
  return value;
}

/** Compares error messages without the wording each side wraps around the server's text. */
function messageKey(msg: string): string {
  return normaliseText(msg)
    .replace(/\[b'(.*)'\]/g, "$1") // imaplib renders the server text as a list of bytes
    .replace(/^b'(.*)'$/, "$1") // ... or as bytes
    .replace(/"/g, "")
    .toLowerCase();
}

function comparable(o: Outcome): unknown {
  return o.error === undefined ? { result: normalise(o.result), state: o.state } : {
    error: o.error,
    // A dead connection's message is each library's own wording (imaplib reports the OS error
    // of writing to its closed socket): only the class is compared.
    msg: o.error === "abort" ? "" : messageKey(o.msg ?? ""),
    state: o.state,
  };
}

Deno.test({
  name: "differential: the same session through imaplib and ours gives the same results",
  ignore: skipLive("dovecot"),
}, async () => {
  const [serverPy, serverTs] = await Promise.all([startServer("dovecot"), startServer("dovecot")]);
  try {
    if (serverPy === null || serverTs === null) throw new Error("Dovecot is not available");
    await Promise.all([appendRaw(serverPy, "INBOX", seed), appendRaw(serverTs, "INBOX", seed)]);
    const steps = session(serverTs.user, serverTs.pass);
    const [py, ts] = await Promise.all([runPython(serverPy, steps), runOurs(serverTs, steps)]);
    assert.equal(py.length, steps.length, "python side ran every step");
    assert.equal(ts.length, steps.length, "our side ran every step");
    const mismatches: string[] = [];
    for (let i = 0; i < steps.length; i++) {
      const a = JSON.stringify(comparable(py[i]));
      const b = JSON.stringify(comparable(ts[i]));
      if (a !== b) {
        mismatches.push(
          `step ${i} ${JSON.stringify(steps[i])}\n  imaplib: ${a}\n  ours:    ${b}`,
        );
      }
    }
    if (Deno.env.get("DIFF_DUMP")) console.log(JSON.stringify({ py, ts }, null, 1));
    assert.equal(mismatches.length, 0, `results differ:\n${mismatches.join("\n")}`);
    // The comparison must have compared something real: literals, errors and a NO.
    assert.ok(ts.some((o) => String(JSON.stringify(o.result)).includes('"b64"')));
    assert.ok(ts.some((o) => o.error === "error"));
    assert.ok(ts.some((o) => Array.isArray(o.result) && o.result[0] === "NO"));
  } finally {
    await Promise.all([serverPy?.stop(), serverTs?.stop()]);
  }
});
