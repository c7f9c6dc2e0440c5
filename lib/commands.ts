/**
 * The IMAP commands the client knows and the states each is legal in, as imaplib's `Commands`.
 *
 * @module
 */

/** A connection state, as imaplib names them. */
export type State = "NONAUTH" | "AUTH" | "SELECTED" | "LOGOUT";

const ANY: readonly State[] = ["NONAUTH", "AUTH", "SELECTED", "LOGOUT"];
const AUTHED: readonly State[] = ["AUTH", "SELECTED"];
const SELECTED: readonly State[] = ["SELECTED"];
const NONAUTH: readonly State[] = ["NONAUTH"];

/** Each command and the states it is legal in (imaplib's table, plus IDLE, RFC 2177). */
export const Commands: Readonly<Record<string, readonly State[]>> = Object.freeze({
  APPEND: AUTHED,
  AUTHENTICATE: NONAUTH,
  CAPABILITY: ANY,
  CHECK: SELECTED,
  CLOSE: SELECTED,
  COPY: SELECTED,
  CREATE: AUTHED,
  DELETE: AUTHED,
  DELETEACL: AUTHED,
  ENABLE: ["AUTH"],
  EXAMINE: AUTHED,
  EXPUNGE: SELECTED,
  FETCH: SELECTED,
  GETACL: AUTHED,
  GETANNOTATION: AUTHED,
  GETQUOTA: AUTHED,
  GETQUOTAROOT: AUTHED,
  IDLE: AUTHED,
  MYRIGHTS: AUTHED,
  LIST: AUTHED,
  LOGIN: NONAUTH,
  LOGOUT: ANY,
  LSUB: AUTHED,
  MOVE: SELECTED,
  NAMESPACE: AUTHED,
  NOOP: ANY,
  PARTIAL: SELECTED,
  PROXYAUTH: ["AUTH"],
  RENAME: AUTHED,
  SEARCH: SELECTED,
  SELECT: AUTHED,
  SETACL: AUTHED,
  SETANNOTATION: AUTHED,
  SETQUOTA: AUTHED,
  SORT: SELECTED,
  STARTTLS: NONAUTH,
  STATUS: AUTHED,
  STORE: SELECTED,
  SUBSCRIBE: AUTHED,
  THREAD: SELECTED,
  UID: SELECTED,
  UNSUBSCRIBE: AUTHED,
  UNSELECT: SELECTED,
});

/**
 * Commands that may be pipelined behind others (RFC 3501 §5.5): they neither change the state
 * nor cause EXPUNGE responses that would shift the message numbers of commands around them.
 * Every other command waits for all earlier ones to complete and holds back all later ones.
 */
export const PIPELINABLE: ReadonlySet<string> = new Set([
  "APPEND",
  "CAPABILITY",
  "CHECK",
  "COPY",
  "CREATE",
  "DELETE",
  "DELETEACL",
  "FETCH",
  "GETACL",
  "GETANNOTATION",
  "GETQUOTA",
  "GETQUOTAROOT",
  "LIST",
  "LSUB",
  "MYRIGHTS",
  "NAMESPACE",
  "NOOP",
  "RENAME",
  "SEARCH",
  "SETACL",
  "SETANNOTATION",
  "SETQUOTA",
  "SORT",
  "STATUS",
  "STORE",
  "SUBSCRIBE",
  "THREAD",
  "UNSUBSCRIBE",
  "UID FETCH",
  "UID STORE",
  "UID SEARCH",
  "UID COPY",
  "UID SORT",
  "UID THREAD",
]);
