/**
 * The server side of the runtime interface: listening sockets for the record/replay harness.
 *
 * `transports/transport.ts` covers what a client needs; the harness also accepts connections
 * (the replay server, the recording proxy) and upgrades an accepted connection to TLS (STARTTLS
 * on the server side). `listen_deno.ts` and `listen_node.ts` implement this interface.
 *
 * @module
 */

import type { TcpOptions, TlsOptions, Transport } from "./transport.ts";

/** A server's certificate chain and key, PEM. */
export interface ServerTlsOptions {
  /** The certificate chain, PEM. */
  cert: string;
  /** The private key, PEM. */
  key: string;
}

/** An accepted connection, pull-based like {@link Transport}. */
export interface ServerTransport {
  /** What carries the bytes. */
  readonly kind: "tcp" | "tls" | "stream";
  /**
   * Reads up to `buf.length` bytes into `buf`.
   *
   * @returns the number of bytes read (> 0), or `null` at end of stream.
   * @throws Error when the connection fails.
   */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes all of `data`. */
  write(data: Uint8Array): Promise<void>;
  /** Closes the connection; idempotent, never throws. */
  close(): Promise<void>;
  /**
   * Upgrades a plain connection to TLS as the server (STARTTLS). Only called when no read is
   * pending. Absent where the connection cannot be upgraded.
   *
   * @returns the TLS connection that replaces this one.
   */
  startTls?(options: ServerTlsOptions): Promise<ServerTransport>;
}

/** Where and how to listen. */
export interface ListenOptions {
  /** The address to bind; `"127.0.0.1"` by default. */
  hostname?: string;
  /** The port; 0 (the default) picks a free one. */
  port?: number;
  /** Listen for implicit TLS with this certificate. */
  tls?: ServerTlsOptions;
}

/** A listening socket. */
export interface Listener extends AsyncDisposable {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port. */
  readonly port: number;
  /**
   * Waits for the next connection.
   *
   * @returns the connection, or `null` once the listener is closed.
   */
  accept(): Promise<ServerTransport | null>;
  /** Stops listening; idempotent. Connections already accepted stay open. */
  close(): Promise<void>;
}

/** The listening (and, for proxies, dialling) primitives one runtime provides. */
export interface ListenerFactory {
  /** Which runtime this is, for messages. */
  readonly runtime: "deno" | "node";
  /** Opens a listening socket. */
  listen(options: ListenOptions): Promise<Listener>;
  /**
   * Opens a client connection (plain, or implicit TLS when `tls` is given), for a proxy's
   * upstream side; the result can `startTls()`.
   */
  connect(options: TcpOptions & { tls?: TlsOptions }): Promise<Transport>;
}

/**
 * Loads the listener factory of the runtime this code runs on.
 *
 * @returns the Deno factory under Deno, the Node one elsewhere
 */
export async function defaultListenerFactory(): Promise<ListenerFactory> {
  return "Deno" in globalThis
    ? (await import("./listen_deno.ts")).denoListeners
    : (await import("./listen_node.ts")).nodeListeners;
}
