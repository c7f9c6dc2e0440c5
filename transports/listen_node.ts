/**
 * The Node listener factory: `node:net`/`node:tls` servers, and `net.connect`/`tls.connect` for a
 * proxy's upstream side. Public types live in `listen.ts`.
 *
 * @module
 */

import * as net from "node:net";
import * as tls from "node:tls";
import type { Listener, ListenerFactory, ServerTlsOptions, ServerTransport } from "./listen.ts";
import type { TcpOptions, TlsOptions, Transport } from "./transport.ts";

const HIGH_WATER = 1 << 16;

/** Turns a flowing Node socket into pull-based reads, pausing it while data piles up. */
class NodeConn implements ServerTransport, Transport {
  readonly kind: "tcp" | "tls";
  #socket: net.Socket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;
  #closed = false;
  #listeners: [string, (...args: unknown[]) => void][];

  constructor(socket: net.Socket, kind: "tcp" | "tls", head?: Uint8Array[]) {
    this.#socket = socket;
    this.kind = kind;
    for (const h of head ?? []) this.#push(h);
    const wake = () => {
      const w = this.#wake;
      this.#wake = undefined;
      w?.();
    };
    this.#listeners = [
      ["data", (chunk) => {
        this.#push(chunk as Uint8Array);
        wake();
      }],
      ["end", () => {
        this.#ended = true;
        wake();
      }],
      ["close", () => {
        this.#ended = true;
        wake();
      }],
      ["error", (e) => {
        this.#error ??= e as Error;
        wake();
      }],
    ];
    for (const [ev, fn] of this.#listeners) socket.on(ev, fn);
  }

  #push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered > HIGH_WATER) this.#socket.pause();
  }

  async read(buf: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0 && !this.#ended && !this.#error && !this.#closed) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    if (this.#chunks.length === 0) {
      if (this.#error && !this.#closed) throw this.#error;
      return null;
    }
    const first = this.#chunks[0];
    const n = Math.min(first.length, buf.length);
    buf.set(first.subarray(0, n));
    if (n === first.length) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#buffered -= n;
    if (this.#buffered <= HIGH_WATER) this.#socket.resume();
    return n;
  }

  write(data: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (err) => err ? reject(err) : resolve());
    });
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#socket.destroy();
      this.#wake?.();
    }
    return Promise.resolve();
  }

  /** Hands the socket over: stops listening and gives back what was read ahead. */
  #detach(): Uint8Array[] {
    this.#socket.pause();
    for (const [ev, fn] of this.#listeners) this.#socket.off(ev, fn);
    this.#closed = true;
    const rest = this.#chunks;
    this.#chunks = [];
    return rest;
  }

  startTls(options: TlsOptions | ServerTlsOptions): Promise<NodeConn> {
    if (this.kind !== "tcp") return Promise.reject(new Error("Connection is already TLS"));
    const socket = this.#socket;
    const ahead = this.#detach();
    // Bytes read ahead (the client's first handshake bytes) go back before TLS takes over.
    for (const chunk of ahead.reverse()) socket.unshift(chunk);
    if ("cert" in options) {
      const secure = new tls.TLSSocket(socket, {
        isServer: true,
        secureContext: tls.createSecureContext({ cert: options.cert, key: options.key }),
      });
      return Promise.resolve(new NodeConn(secure, "tls"));
    }
    return new Promise((resolve, reject) => {
      const secure = tls.connect({
        socket,
        servername: options.hostname,
        ca: options.caCerts,
        rejectUnauthorized: options.verify !== false,
      });
      secure.once("secureConnect", () => resolve(new NodeConn(secure, "tls")));
      secure.once("error", reject);
    });
  }
}

class NodeListener implements Listener {
  readonly hostname: string;
  readonly port: number;
  #server: net.Server;
  #kind: "tcp" | "tls";
  #queue: net.Socket[] = [];
  #waiters: ((s: net.Socket | null) => void)[] = [];
  #closed = false;

  constructor(server: net.Server, kind: "tcp" | "tls", hostname: string, port: number) {
    this.#server = server;
    this.#kind = kind;
    this.hostname = hostname;
    this.port = port;
    server.on(kind === "tls" ? "secureConnection" : "connection", (s: net.Socket) => {
      const w = this.#waiters.shift();
      if (w) w(s);
      else this.#queue.push(s);
    });
  }

  async accept(): Promise<ServerTransport | null> {
    const queued = this.#queue.shift();
    const socket = queued ?? (this.#closed ? null : await new Promise<net.Socket | null>(
      (resolve) => this.#waiters.push(resolve),
    ));
    return socket === null ? null : new NodeConn(socket, this.#kind);
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(null);
    for (const s of this.#queue.splice(0)) s.destroy();
    // server.close() calls back only once every accepted connection has ended: do not wait.
    this.#server.close();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Listening and dialling through `node:net` and `node:tls`. */
export const nodeListeners: ListenerFactory = {
  runtime: "node",
  listen(options) {
    const hostname = options.hostname ?? "127.0.0.1";
    const server = options.tls
      ? tls.createServer({ cert: options.tls.cert, key: options.tls.key })
      : net.createServer();
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, hostname, () => {
        server.off("error", reject);
        const addr = server.address() as net.AddressInfo;
        resolve(new NodeListener(server, options.tls ? "tls" : "tcp", hostname, addr.port));
      });
    });
  },
  connect(options: TcpOptions & { tls?: TlsOptions }) {
    return new Promise((resolve, reject) => {
      const t = options.tls;
      const socket = t === undefined
        ? net.connect({ host: options.hostname, port: options.port })
        : tls.connect({
          host: options.hostname,
          port: options.port,
          servername: t.hostname,
          ca: t.caCerts,
          rejectUnauthorized: t.verify !== false,
        });
      socket.once(t === undefined ? "connect" : "secureConnect", () => {
        socket.off("error", reject);
        resolve(new NodeConn(socket, t === undefined ? "tcp" : "tls"));
      });
      socket.once("error", reject);
    });
  },
};
