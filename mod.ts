/**
 * Python's `imaplib`, for TypeScript: the same classes, errors, helpers and command methods,
 * made async, safe by default, on Deno and Node.
 *
 * @example
 * ```ts ignore
 * import { IMAP4 } from "@imaplib/imaplib";
 * await using M = await IMAP4.connect("localhost", 143);
 * await M.login("user", "secret");
 * await M.select("INBOX");
 * const [, data] = await M.search(null, "ALL");
 * for (const num of String(data[0]).split(" ").filter(Boolean)) {
 *   const [, msg] = await M.fetch(num, "(RFC822)");
 *   console.log(num, msg[0]);
 * }
 * ```
 *
 * @module
 */

export {
  type Authenticator,
  type CommandResult,
  type Datum,
  type FetchStreamOptions,
  Idler,
  IMAP4,
  IMAP4_SSL,
  IMAP4_stream,
  type IMAP4Options,
  type IMAP4SSLOptions,
  type IMAP4StreamOptions,
  type Logger,
  type TlsConnectOptions,
} from "./lib/imap4.ts";
export { IMAP4Abort, IMAP4Error, type IMAP4ErrorDetail, IMAP4ReadOnly } from "./lib/errors.ts";
export { Commands, type State } from "./lib/commands.ts";
export { Int2AP } from "./utils/int2ap.ts";
export { ParseFlags } from "./utils/flags.ts";
export {
  Internaldate2tuple,
  internaldateToDate,
  Time2Internaldate,
  type TimeTuple,
  type Zone,
} from "./utils/internaldate.ts";
export { decodeMailboxName, encodeMailboxName } from "./utils/utf7.ts";
export type {
  StreamOptions,
  TcpOptions,
  TlsConnectOptions as TransportTlsConnectOptions,
  TlsOptions,
  Transport,
  TransportFactory,
} from "./transports/transport.ts";
export type { Arg, MailboxArg, MessageArg, SecretArg } from "./lib/wire/encoder.ts";
export type { SeqNumber, SequenceRange } from "./utils/sequence_set.ts";
export {
  type Address,
  Decoder,
  type Envelope,
  type FetchResult,
  type ListResult,
  parseFetch,
  parseList,
  parseStatus,
  parseUidCode,
  type UidCode,
  type Value,
} from "./lib/wire/decoder.ts";
