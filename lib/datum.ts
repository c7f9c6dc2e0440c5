/**
 * The shape of imaplib results, shared by the client and the decoders.
 *
 * @module
 */

/**
 * One item of a command's data: a response line (CRLF removed, UTF-8 decoded), a pair of the line
 * up to its `{n}` and the n literal bytes, or `null` where imaplib gives `None`.
 */
export type Datum = string | [string, Uint8Array] | null;

/** What every command method resolves to: the status word and the data, as imaplib's `(typ, data)`. */
export type CommandResult = [typ: string, data: Datum[]];
