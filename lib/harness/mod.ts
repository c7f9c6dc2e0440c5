/**
 * The record/replay harness for IMAP transcripts (DESIGN §6): the transcript format, a replay
 * server that plays a recorded session to a real client and checks what it sends, and a
 * recording proxy that writes such transcripts from a real client and server.
 *
 * @example
 * ```ts ignore
 * import { replay } from "@imaplib/imaplib/harness";
 * const bytes = await Deno.readFile("fixtures/transcripts/dovecot/python_basic.imap");
 * await using server = await replay(bytes);
 * // connect a client to server.hostname:server.port and run the recorded session, then:
 * const result = await server.done;
 * if (!result.ok) throw result.error;
 * ```
 *
 * @module
 */

export {
  type ClientLineInfo,
  comment,
  lineText,
  literalOf,
  type LiteralSpec,
  metadataOf,
  parseTranscript,
  SECRET_MARKER,
  type ServerLineInfo,
  SessionTracker,
  type Side,
  type Transcript,
  type TranscriptComment,
  type TranscriptEntry,
  type TranscriptLine,
  TranscriptSyntaxError,
  writeTranscript,
} from "./transcript.ts";
export {
  replay,
  replayConnection,
  ReplayMismatch,
  type ReplayOptions,
  type ReplayResult,
  type ReplayServer,
  replayStdio,
  runSuite,
  type SuiteCase,
  type SuiteResult,
} from "./replay.ts";
export {
  type ProxyOptions,
  record,
  recordConnections,
  type Recorder,
  RecordingSession,
  type RecordOptions,
  type SessionOptions,
  type Upstream,
} from "./record.ts";
export type { TcpOptions, TlsOptions, Transport } from "../../transports/transport.ts";
export type {
  Listener,
  ListenerFactory,
  ListenOptions,
  ServerTlsOptions,
  ServerTransport,
} from "../../transports/listen.ts";
