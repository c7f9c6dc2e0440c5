// Python's imaplib, an independent real client, replays the sessions it recorded against
// Dovecot and must get the same results it got from the live server (saved beside each fixture).
import assert from "node:assert/strict";
import { parseTranscript, replay } from "../../lib/harness/mod.ts";
import { CERT_DIR, DOVECOT, ROOT, TLS } from "./_common.ts";

const dec = new TextDecoder();
const hasPython = await new Deno.Command("python3", { args: ["-c", "import imaplib"] }).output()
  .then((o) => o.success, () => false);

/** The client that recorded the fixtures (scenario from SCENARIO, the server from HOST/PORT or CMD). */
const CLIENT = `
import imaplib, json, os, ssl
def norm(x):
    if isinstance(x, bytes): return x.decode("latin-1")
    if isinstance(x, (list, tuple)): return [norm(i) for i in x]
    return x
env = os.environ
sc = env["SCENARIO"]
out = []
def log(name, r): out.append([name, norm(r)])
M = imaplib.IMAP4_stream(env["CMD"]) if env.get("CMD") else imaplib.IMAP4(env["HOST"], int(env["PORT"]))
log("welcome", M.welcome)
if sc == "basic":
    log("login", M.login("imaptest", "imaptest"))
    log("select", M.select("INBOX"))
    msg = b"From: a@example.com\\r\\nSubject: hello\\r\\n\\r\\nbody line\\r\\n"
    log("append", M.append("INBOX", r"(\\Seen)", '"01-Jan-2024 10:00:00 +0000"', msg))
    log("fetch", M.fetch("1:*", "(UID FLAGS RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])"))
    log("search", M.search(None, "ALL"))
elif sc == "login_failed":
    try:
        M.login("imaptest", "not-the-password")
        log("login", "unexpected success")
    except M.error as e:
        log("error", str(e))
    log("capability", M.capability())
elif sc == "login_literal":
    M.literal = b"imaptest"
    log("login", M._simple_command("LOGIN", "imaptest"))
    M.state = "AUTH"
    log("status", M.status("INBOX", "(MESSAGES UIDNEXT)"))
elif sc == "authenticate":
    log("authenticate", M.authenticate("PLAIN", lambda _: b"\\0imaptest\\0imaptest"))
    log("list", M.list())
elif sc == "starttls":
    log("starttls", M.starttls(ssl.create_default_context(cafile=env["CA"])))
    log("login", M.login("imaptest", "imaptest"))
    log("list", M.list('""', "*"))
elif sc == "stream":
    log("select", M.select("INBOX", readonly=True))
    log("fetch", M.fetch("1", "(FLAGS BODY[])"))
log("logout", M.logout())
print(json.dumps(out, indent=1))
`;

async function python(env: Record<string, string>): Promise<unknown> {
  const out = await new Deno.Command("python3", { args: ["-c", CLIENT], env, stderr: "piped" })
    .output();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

for (const scenario of ["authenticate", "basic", "login_failed", "login_literal", "starttls"]) {
  Deno.test({
    name: `python imaplib gets the recorded results from a replay of python_${scenario}`,
    ignore: !hasPython,
    async fn() {
      const file = new URL(`python_${scenario}.imap`, DOVECOT);
      const expected = JSON.parse(
        await Deno.readTextFile(new URL(`python_${scenario}.expected.json`, DOVECOT)),
      );
      await using server = await replay(parseTranscript(await Deno.readFile(file)), {
        tls: TLS,
        implicitTls: false,
      });
      const got = await python({
        SCENARIO: scenario,
        HOST: server.hostname,
        PORT: String(server.port),
        CA: new URL("cert.pem", CERT_DIR).pathname,
      });
      const result = await server.done;
      assert.equal(result.error, undefined);
      assert.deepEqual(got, expected);
    },
  });
}

Deno.test({
  name: "python IMAP4_stream gets the recorded results from scripts/replay.ts --stdio",
  ignore: !hasPython,
  async fn() {
    const file = new URL("python_stream.imap", DOVECOT).pathname;
    const script = new URL("scripts/replay.ts", ROOT).pathname;
    const expected = JSON.parse(
      await Deno.readTextFile(new URL("python_stream.expected.json", DOVECOT)),
    );
    const got = await python({
      SCENARIO: "stream",
      CMD: `'${Deno.execPath()}' run --allow-read '${script}' --stdio '${file}'`,
    });
    assert.deepEqual(got, expected);
  },
});
