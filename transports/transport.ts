/**
 * The interface between the runtime-neutral client (`lib/`) and the runtime that moves bytes.
 *
 * A transport is pull-based: nothing is read unless `read()` is called, so that the connection is
 * idle (nothing read ahead) when STARTTLS upgrades it.
 *
 * @module
 */

/** A byte stream to an IMAP server: TCP, TLS, or a child process's stdin/stdout. */
export interface Transport {
  /** What carries the bytes. */
  readonly kind: "tcp" | "tls" | "stream";
  /**
   * Reads up to `buf.length` bytes into `buf`.
   *
   * @returns the number of bytes read (> 0), or `null` at end of stream.
   * @throws Error when the transport fails or was closed while reading.
   */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes all of `data`, resolving once the runtime has taken it. */
  write(data: Uint8Array): Promise<void>;
  /**
   * Closes the transport; idempotent, never throws. A pending `read()` settles (with `null` or an
   * error). A stream transport ends its child: it closes stdin, waits briefly, then kills it.
   */
  close(): Promise<void>;
  /**
   * Upgrades a plain TCP transport to TLS in place (STARTTLS). Only called when no read is
   * pending and nothing was read ahead. Absent on transports that cannot be upgraded.
   *
   * @returns the TLS transport that replaces this one.
   */
  startTls?(options: TlsOptions): Promise<Transport>;
}

/** Certificate options for implicit TLS and STARTTLS. */
export interface TlsOptions {
  /** The server's name: checked against its certificate and sent as SNI. Always required. */
  hostname: string;
  /** Extra PEM root certificates to trust, beside the system ones. */
  caCerts?: string[];
  /**
   * Set `false` to skip certificate verification. Node honours it; Deno can only skip it for the
   * whole process (`--unsafely-ignore-certificate-errors`), so the Deno transport throws instead of
   * silently verifying or silently not verifying.
   */
  verify?: boolean;
}

/** Where to connect over TCP. */
export interface TcpOptions {
  /** The host name or address to connect to. */
  hostname: string;
  /** The port. */
  port: number;
}

/**
 * Where to connect over implicit TLS: `hostname` is the name the certificate is checked against,
 * `address` (when given) the host actually connected to.
 */
export interface TlsConnectOptions extends TlsOptions {
  /** The port. */
  port: number;
  /** The host name or address to connect to; default: `hostname`. */
  address?: string;
}

/** A child process whose stdin/stdout carry IMAP (e.g. `ssh host /usr/lib/dovecot/imap`). */
export interface StreamOptions {
  /** A string runs under `sh -c`; an array is argv (no shell). */
  command: string | string[];
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Working directory of the child. */
  cwd?: string;
  /**
   * Receives the child's stderr, which is kept apart from the protocol. By default it is
   * drained and dropped (a chatty child must never block).
   */
  onStderr?: (chunk: Uint8Array) => void;
}

/** The set of transports one runtime provides. */
export interface TransportFactory {
  /** Which runtime this is, for messages. */
  readonly runtime: "deno" | "node";
  /** Opens a TCP connection. */
  connect(options: TcpOptions): Promise<Transport>;
  /** Opens an implicit-TLS connection (certificates verified unless `verify: false`). */
  connectTls(options: TlsConnectOptions): Promise<Transport>;
  /** Starts a child process and talks IMAP over its stdin/stdout. */
  spawn(options: StreamOptions): Promise<Transport>;
}
