/**
 * The Node transports: TCP through `node:net`, TLS and STARTTLS through `node:tls`, child
 * processes through `node:child_process`.
 *
 * No public types are declared here (`deno pack` cannot emit declarations for a module that
 * imports `node:net`); they live in `transport.ts`. Nothing here touches a Deno global.
 *
 * @module
 */

import { type ChildProcess, spawn as spawnChild } from "node:child_process";
import { connect as netConnect, isIP, type Socket } from "node:net";
import {
  checkServerIdentity,
  connect as tlsConnect,
  type ConnectionOptions,
  rootCertificates,
} from "node:tls";
import process from "node:process";
import type { Readable } from "node:stream";
import type {
  StreamOptions,
  TcpOptions,
  TlsConnectOptions,
  TlsOptions,
  Transport,
  TransportFactory,
} from "./transport.ts";
import { endChild } from "./_child.ts";

/** Above this many queued bytes the source is paused until reads drain it. */
const HIGH_WATER = 256 * 1024;

const closedError = () => new Error("Cannot write: the transport is closed");

/**
 * Turns a Node readable (pushing 'data' events) into pull-based `read(buf)`: arriving chunks are
 * queued, copied out on read, and the source is paused while the queue is large.
 */
class PullReader {
  #source: Readable;
  #queue: Uint8Array[] = [];
  /** Offset into `#queue[0]` of the first unread byte. */
  #head = 0;
  #queued = 0;
  #ended = false;
  #closed = false;
  #error: Error | null = null;
  #waiter: {
    buf: Uint8Array;
    resolve: (n: number | null) => void;
    reject: (e: Error) => void;
  } | null = null;
  #onData = (chunk: Uint8Array) => this.#push(chunk);
  #onEnd = () => this.#finish(null);
  #onError = (error: Error) => this.#finish(error);

  constructor(source: Readable) {
    this.#source = source;
    // Paused before the listener is attached, so attaching does not start the flow.
    source.pause();
    source.on("data", this.#onData);
    source.on("end", this.#onEnd);
    source.on("close", this.#onEnd);
    source.on("error", this.#onError);
  }

  /** True while a read waits for data. */
  get pending(): boolean {
    return this.#waiter !== null;
  }

  /** Bytes received but not read yet. */
  get buffered(): number {
    return this.#queued;
  }

  read(buf: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.resolve(null);
    if (this.#waiter !== null) {
      return Promise.reject(new Error("Cannot read: another read is pending"));
    }
    if (this.#queued > 0 || buf.length === 0) return Promise.resolve(this.#copyOut(buf));
    if (this.#error !== null) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      this.#waiter = { buf, resolve, reject };
      this.#source.resume();
    });
  }

  /** Stops listening and leaves the source paused; a pending read settles with end of stream. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#source.pause();
    this.#source.off("data", this.#onData);
    this.#source.off("end", this.#onEnd);
    this.#source.off("close", this.#onEnd);
    this.#source.off("error", this.#onError);
    // An error after this point must not crash the process as an unhandled 'error' event.
    this.#source.on("error", () => {});
    this.#queue = [];
    this.#queued = 0;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.resolve(null);
  }

  #push(chunk: Uint8Array): void {
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    const waiter = this.#waiter;
    if (waiter !== null) {
      this.#waiter = null;
      waiter.resolve(this.#copyOut(waiter.buf));
    } else if (this.#queued > HIGH_WATER) {
      this.#source.pause();
    }
  }

  #copyOut(buf: Uint8Array): number {
    let n = 0;
    while (n < buf.length && this.#queue.length > 0) {
      const chunk = this.#queue[0];
      const take = Math.min(chunk.length - this.#head, buf.length - n);
      buf.set(chunk.subarray(this.#head, this.#head + take), n);
      n += take;
      this.#head += take;
      if (this.#head === chunk.length) {
        this.#queue.shift();
        this.#head = 0;
      }
    }
    this.#queued -= n;
    // Keep data flowing ahead of the reader while the queue is small.
    if (this.#queued <= HIGH_WATER && this.#source.isPaused() && !this.#ended && !this.#closed) {
      this.#source.resume();
    }
    return n;
  }

  #finish(error: Error | null): void {
    if (error !== null) this.#error ??= error;
    else this.#ended = true;
    const waiter = this.#waiter;
    if (waiter === null) return;
    this.#waiter = null;
    if (this.#error !== null) waiter.reject(this.#error);
    else waiter.resolve(null);
  }
}

/** Resolves once a socket is connected (`event`), or rejects with its first error. */
function whenReady<T extends Socket>(socket: T, event: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onReady = () => {
      socket.off("error", onError);
      resolve(socket);
    };
    const onError = (error: Error) => {
      socket.off(event, onReady);
      socket.destroy();
      reject(error);
    };
    socket.once(event, onReady);
    socket.once("error", onError);
  });
}

/** Writes `data` to a writable, resolving once it has been handed to the kernel. */
function writeTo(
  stream: { write(data: Uint8Array, callback: (error?: Error | null) => void): boolean },
  data: Uint8Array,
): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(data, (error) => error ? reject(error) : resolve());
  });
}

/** The TLS options shared by implicit TLS and STARTTLS. */
function tlsOptions(options: TlsOptions): ConnectionOptions {
  return {
    // The name the certificate is checked against when there is no servername (STARTTLS
    // would otherwise check "localhost").
    host: options.hostname,
    // SNI must not carry an IP address (RFC 6066); the certificate is still checked against it.
    servername: isIP(options.hostname) ? undefined : options.hostname,
    // `ca` replaces Node's roots, so the system ones are kept beside the extra ones.
    ca: options.caCerts ? [...rootCertificates, ...options.caCerts] : undefined,
    rejectUnauthorized: options.verify !== false,
  };
}

/** A TCP or TLS socket. */
class SocketTransport implements Transport {
  readonly kind: "tcp" | "tls";
  #socket: Socket;
  #reader: PullReader;
  #closed = false;

  constructor(kind: "tcp" | "tls", socket: Socket) {
    this.kind = kind;
    this.#socket = socket;
    this.#reader = new PullReader(socket);
  }

  read(buf: Uint8Array): Promise<number | null> {
    return this.#reader.read(buf);
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.#closed) throw closedError();
    try {
      await writeTo(this.#socket, data);
    } catch (error) {
      if (this.#closed) throw closedError();
      throw error;
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#reader.close();
    const socket = this.#socket;
    if (socket.closed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once("close", () => resolve());
      socket.destroy();
    });
  }

  /** Hands the idle socket over for an upgrade; this transport is finished afterwards. */
  protected detach(): Socket {
    if (this.#closed) throw new Error("Cannot start TLS: the transport is closed");
    if (this.#reader.pending) throw new Error("Cannot start TLS while a read is pending");
    if (this.#reader.buffered > 0 || this.#socket.readableLength > 0) {
      // Bytes that arrived before the handshake must not pass as part of the TLS session.
      throw new Error("Cannot start TLS: the server sent data before the TLS handshake");
    }
    this.#closed = true;
    // Stops listening without destroying the socket: from now on TLS reads it.
    this.#reader.close();
    return this.#socket;
  }
}

/** A plain TCP socket, which STARTTLS can upgrade. */
class TcpTransport extends SocketTransport {
  constructor(socket: Socket) {
    super("tcp", socket);
  }

  async startTls(options: TlsOptions): Promise<Transport> {
    const plain = this.detach();
    const socket = tlsConnect({ socket: plain, ...tlsOptions(options) });
    try {
      await whenReady(socket, "secureConnect");
    } catch (error) {
      plain.destroy();
      throw error;
    }
    return new SocketTransport("tls", socket);
  }
}

/** A child process: reads its stdout, writes its stdin, drains its stderr. */
class ChildTransport implements Transport {
  readonly kind = "stream" as const;
  #child: ChildProcess;
  #reader: PullReader;
  #exited: Promise<void>;
  #closed = false;
  #closing: Promise<void> | null = null;

  constructor(child: ChildProcess, onStderr?: (chunk: Uint8Array) => void) {
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once("exit", () => resolve());
    });
    this.#reader = new PullReader(child.stdout!);
    // A broken pipe surfaces through the write callback; the event must not go unhandled.
    child.stdin!.on("error", () => {});
    // Stderr always flows, so a chatty child never blocks on a full pipe.
    child.stderr!.on("data", (chunk: Uint8Array) => {
      try {
        onStderr?.(chunk);
      } catch {
        // A failing callback must not stop the draining.
      }
    });
    child.stderr!.on("error", () => {});
  }

  read(buf: Uint8Array): Promise<number | null> {
    return this.#reader.read(buf);
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.#closed) throw closedError();
    try {
      await writeTo(this.#child.stdin!, data);
    } catch (error) {
      if (this.#closed) throw closedError();
      throw error;
    }
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#reader.close();
    this.#child.stdin!.end();
    await endChild(this.#exited, (signal) => this.#child.kill(signal));
    await this.#exited;
    // A grandchild may still hold the pipes open: do not wait for it.
    this.#child.stdout!.destroy();
    this.#child.stderr!.destroy();
    this.#child.stdin!.destroy();
  }
}

/** The transports of the Node runtime. */
export const nodeTransports: TransportFactory = {
  runtime: "node",

  async connect(options: TcpOptions): Promise<Transport> {
    const socket = await whenReady(
      // IMAP's small command/response exchanges stall under Nagle's algorithm.
      netConnect({ host: options.hostname, port: options.port, noDelay: true }),
      "connect",
    );
    return new TcpTransport(socket);
  },

  async connectTls(options: TlsConnectOptions): Promise<Transport> {
    const socket = await whenReady(
      tlsConnect({
        port: options.port,
        ...tlsOptions(options),
        host: options.address ?? options.hostname,
        // The certificate is checked against the name asked for, wherever the bytes go.
        checkServerIdentity: (_host, cert) => checkServerIdentity(options.hostname, cert),
      }),
      "secureConnect",
    );
    socket.setNoDelay(true);
    return new SocketTransport("tls", socket);
  },

  spawn(options: StreamOptions): Promise<Transport> {
    const [program, ...args] = typeof options.command === "string"
      ? ["sh", "-c", options.command]
      : options.command;
    if (program === undefined) {
      return Promise.reject(new TypeError("Stream command is empty: give a program to run"));
    }
    const child = spawnChild(program, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: options.env ? { ...process.env, ...options.env } : undefined,
      cwd: options.cwd,
    });
    return new Promise((resolve, reject) => {
      const onSpawn = () => {
        child.off("error", onError);
        resolve(new ChildTransport(child, options.onStderr));
      };
      const onError = (error: Error) => {
        child.off("spawn", onSpawn);
        reject(error);
      };
      child.once("spawn", onSpawn);
      child.once("error", onError);
    });
  },
};
