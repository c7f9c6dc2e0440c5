/**
 * The Deno transports: TCP and TLS through `Deno.connect`/`Deno.startTls`, and child processes
 * through `Deno.Command`.
 *
 * @module
 */

import type {
  StreamOptions,
  TcpOptions,
  TlsConnectOptions,
  TlsOptions,
  Transport,
  TransportFactory,
} from "./transport.ts";
import { endChild, settlesWithin } from "./_child.ts";

/** How long `close()` waits for a dead child's stderr to reach end of file. */
const STDERR_GRACE_MS = 500;

/** Rejects `verify: false`, which Deno can only honour for the whole process. */
function checkVerify(options: TlsOptions): void {
  if (options.verify === false) {
    throw new TypeError(
      'TLS option "verify: false" is not supported on Deno: certificate checks can only be ' +
        "disabled for the whole process with --unsafely-ignore-certificate-errors",
    );
  }
}

/** TLS over an already connected TCP socket; the handshake runs now so certificate errors surface here. */
async function upgrade(conn: Deno.TcpConn, options: TlsOptions): Promise<Deno.TlsConn> {
  // Deno defaults `hostname` to "127.0.0.1" (DESIGN §8): always pass the name being verified.
  const tlsConn = await Deno.startTls(conn, {
    hostname: options.hostname,
    caCerts: options.caCerts,
  });
  try {
    await tlsConn.handshake();
  } catch (error) {
    try {
      tlsConn.close();
    } catch {
      // Already closed by the failed handshake.
    }
    throw error;
  }
  return tlsConn;
}

/** A TCP or TLS connection; reads go straight into the caller's buffer. */
class ConnTransport implements Transport {
  readonly kind: "tcp" | "tls";
  private _conn: Deno.TcpConn | Deno.TlsConn;
  private _closed = false;
  private _reading = false;

  constructor(kind: "tcp" | "tls", conn: Deno.TcpConn | Deno.TlsConn) {
    this.kind = kind;
    this._conn = conn;
  }

  read(buf: Uint8Array): Promise<number | null> {
    if (this._closed) return Promise.resolve(null);
    this._reading = true;
    // Handlers made once, not an async function's machinery per read (one per round trip).
    try {
      return this._conn.read(buf).then(this._readDone, this._readFailed);
    } catch (error) {
      // As a rejection, like every other failure of a read.
      return new Promise((resolve) => resolve(this._readFailed(error)));
    }
  }

  private readonly _readDone = (n: number | null): number | null => {
    this._reading = false;
    return n;
  };

  private readonly _readFailed = (error: unknown): null => {
    this._reading = false;
    // Closing the connection under a pending read makes Deno reject it; that is end of stream.
    if (this._closed) return null;
    throw error;
  };

  write(data: Uint8Array): Promise<void> {
    if (this._closed) return Promise.reject(new Error("Cannot write: the transport is closed"));
    // Most writes are taken whole by the first call: no async function for them (one per round
    // trip), only for the rest of a partial write.
    try {
      return this._conn.write(data).then(
        (n) => n < data.length ? this.#writeRest(data, n) : undefined,
        this._writeFailed,
      );
    } catch (error) {
      // As a rejection, like every other failure of a write.
      return new Promise((resolve) => resolve(this._writeFailed(error)));
    }
  }

  async #writeRest(data: Uint8Array, offset: number): Promise<void> {
    while (offset < data.length) {
      if (this._closed) throw new Error("Cannot write: the transport is closed");
      try {
        offset += await this._conn.write(data.subarray(offset));
      } catch (error) {
        this._writeFailed(error);
      }
    }
  }

  private readonly _writeFailed = (error: unknown): never => {
    if (this._closed) throw new Error("Cannot write: the transport is closed");
    throw error;
  };

  close(): Promise<void> {
    if (!this._closed) {
      this._closed = true;
      try {
        this._conn.close();
      } catch {
        // Already closed by the peer or the runtime; close() never throws.
      }
    }
    return Promise.resolve();
  }

  /** Hands the connection over for an upgrade; this transport is finished afterwards. */
  protected detach(): Deno.TcpConn | Deno.TlsConn {
    if (this._closed) throw new Error("Cannot start TLS: the transport is closed");
    if (this._reading) throw new Error("Cannot start TLS while a read is pending");
    this._closed = true;
    return this._conn;
  }
}

/** A plain TCP connection, which STARTTLS can upgrade. */
class TcpTransport extends ConnTransport {
  constructor(conn: Deno.TcpConn) {
    super("tcp", conn);
  }

  async startTls(options: TlsOptions): Promise<Transport> {
    checkVerify(options);
    // Deno.startTls takes the TCP resource over, so this transport is finished either way.
    const conn = this.detach() as Deno.TcpConn;
    return new ConnTransport("tls", await upgrade(conn, options));
  }
}

/** A child process: reads its stdout, writes its stdin, drains its stderr. */
class ChildTransport implements Transport {
  readonly kind = "stream" as const;
  private _child: Deno.ChildProcess;
  private _stdout: ReadableStreamDefaultReader<Uint8Array>;
  private _stdin: WritableStreamDefaultWriter<Uint8Array>;
  private _stderr: ReadableStreamDefaultReader<Uint8Array>;
  private _stderrDone: Promise<void>;
  /** What is left of the last stdout chunk that did not fit the caller's buffer. */
  private _pending: Uint8Array | null = null;
  private _closed = false;
  private _closing: Promise<void> | null = null;

  constructor(child: Deno.ChildProcess, onStderr?: (chunk: Uint8Array) => void) {
    this._child = child;
    this._stdout = child.stdout.getReader();
    this._stdin = child.stdin.getWriter();
    this._stderr = child.stderr.getReader();
    this._stderrDone = this.#drainStderr(onStderr);
  }

  async #drainStderr(onStderr?: (chunk: Uint8Array) => void): Promise<void> {
    try {
      while (true) {
        const { done, value } = await this._stderr.read();
        if (done) return;
        try {
          onStderr?.(value);
        } catch {
          // A failing callback must not stop the draining, or the child could block.
        }
      }
    } catch {
      // The stream was cancelled by close(), or the pipe broke: nothing more to drain.
    }
  }

  async read(buf: Uint8Array): Promise<number | null> {
    if (this._closed) return null;
    let chunk = this._pending;
    this._pending = null;
    if (chunk === null) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await this._stdout.read();
      } catch (error) {
        if (this._closed) return null;
        throw error;
      }
      if (result.done || this._closed) return null;
      chunk = result.value;
    }
    // The stream hands out its own chunks; the one copy into the caller's buffer is unavoidable.
    if (chunk.length > buf.length) {
      buf.set(chunk.subarray(0, buf.length));
      this._pending = chunk.subarray(buf.length);
      return buf.length;
    }
    buf.set(chunk);
    return chunk.length;
  }

  async write(data: Uint8Array): Promise<void> {
    if (this._closed) throw new Error("Cannot write: the transport is closed");
    try {
      await this._stdin.write(data);
    } catch (error) {
      if (this._closed) throw new Error("Cannot write: the transport is closed");
      throw error;
    }
  }

  close(): Promise<void> {
    this._closing ??= this.#close();
    return this._closing;
  }

  async #close(): Promise<void> {
    this._closed = true;
    this._pending = null;
    // Cancelling stdout settles a pending read with end of stream.
    this._stdout.cancel().catch(() => {});
    // The child may be gone already, making the pipe broken: that is fine.
    this._stdin.close().catch(() => {});
    const status = this._child.status;
    await endChild(status, (signal) => this.#kill(signal));
    await status.catch(() => {});
    // A grandchild may still hold stderr open; do not wait for it forever.
    if (!(await settlesWithin(this._stderrDone, STDERR_GRACE_MS))) {
      await this._stderr.cancel().catch(() => {});
      await this._stderrDone;
    }
  }

  #kill(signal: Deno.Signal): void {
    try {
      this._child.kill(signal);
    } catch {
      // It exited between the check and the kill.
    }
  }
}

/** The transports of the Deno runtime. */
export const denoTransports: TransportFactory = {
  runtime: "deno",

  async connect(options: TcpOptions): Promise<Transport> {
    const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
    conn.setNoDelay(true);
    return new TcpTransport(conn);
  },

  async connectTls(options: TlsConnectOptions): Promise<Transport> {
    checkVerify(options);
    // TCP first, then TLS over it: Deno.TlsConn has no setNoDelay, and IMAP's small
    // command/response exchanges stall under Nagle's algorithm.
    const conn = await Deno.connect({
      hostname: options.address ?? options.hostname,
      port: options.port,
    });
    conn.setNoDelay(true);
    return new ConnTransport("tls", await upgrade(conn, options));
  },

  spawn(options: StreamOptions): Promise<Transport> {
    const [program, ...args] = typeof options.command === "string"
      ? ["sh", "-c", options.command]
      : options.command;
    if (program === undefined) {
      return Promise.reject(new TypeError("Stream command is empty: give a program to run"));
    }
    try {
      const child = new Deno.Command(program, {
        args,
        env: options.env,
        cwd: options.cwd,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      return Promise.resolve(new ChildTransport(child, options.onStderr));
    } catch (error) {
      return Promise.reject(error);
    }
  },
};
