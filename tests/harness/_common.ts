/**
 * Fixture locations and the replay test certificate shared by the harness tests.
 *
 * @module
 */

/** The repository root. */
export const ROOT = new URL("../../", import.meta.url);

/** The folder of the Dovecot transcripts (with the `python_*` recordings). */
export const DOVECOT = new URL("fixtures/transcripts/dovecot/", ROOT);

/** The folder of the replay server's self-signed certificate (`cert.pem`, `key.pem`). */
export const CERT_DIR = new URL("fixtures/certs/replay/", ROOT);

/** The replay server's certificate and key, PEM, for `replay(..., { tls })`. */
export const TLS = {
  cert: await Deno.readTextFile(new URL("cert.pem", CERT_DIR)),
  key: await Deno.readTextFile(new URL("key.pem", CERT_DIR)),
};

/** The transcripts Python's imaplib recorded against Dovecot, in directory order. */
export const PYTHON_FIXTURES = [
  "python_authenticate.imap",
  "python_basic.imap",
  "python_login_failed.imap",
  "python_login_literal.imap",
  "python_starttls.imap",
  "python_stream.imap",
];
