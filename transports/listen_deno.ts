/**
 * The Deno listener factory: `Deno.listen`/`Deno.listenTls` for servers, `Deno.connect`,
 * `Deno.connectTls` and `Deno.startTls` for a proxy's upstream side.
 *
 * @module
 */

import type { Listener, ListenerFactory, ServerTlsOptions, ServerTransport } from "./listen.ts";
import type { TcpOptions, TlsOptions, Transport } from "./transport.ts";

/** Wraps a Deno connection; reads after close give `null` instead of a BadResource error. */
class DenoConn implements ServerTransport, Transport {
  readonly kind: "tcp" | "tls";
  #conn: Deno.Conn;
  #closed = false;
  #onClose: (() => Promise<void>) | undefined;

  constructor(conn: Deno.Conn, kind: "tcp" | "tls", onClose?: () => Promise<void>) {
    this.#conn = conn;
    this.kind = kind;
    this.#onClose = onClose;
  }

  async read(buf: Uint8Array): Promise<number | null> {
    if (this.#closed) return null;
    try {
      return await this.#conn.read(buf);
    } catch (e) {
      if (this.#closed) return null;
      throw e;
    }
  }

  async write(data: Uint8Array): Promise<void> {
    let at = 0;
    while (at < data.length) at += await this.#conn.write(data.subarray(at));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed by the peer's error */ }
    await this.#onClose?.();
  }

  async startTls(options: TlsOptions | ServerTlsOptions): Promise<DenoConn> {
    if (this.kind !== "tcp") throw new Error("Connection is already TLS");
    if ("cert" in options) return await this.#serverStartTls(options);
    if (options.verify === false) {
      throw new Error("Deno cannot skip certificate verification for one connection");
    }
    this.#closed = true; // Deno.startTls takes the TCP resource over.
    const tls = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: options.hostname,
      caCerts: options.caCerts,
    });
    return new DenoConn(tls, "tls");
  }

  /**
   * Deno has no server-side STARTTLS, so the raw bytes are relayed to a private TLS listener
   * on loopback, whose accepted connection carries the decrypted stream.
   */
  async #serverStartTls(options: ServerTlsOptions): Promise<DenoConn> {
    const inner = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...options });
    let plain: Deno.TcpConn;
    let tls: Deno.TlsConn;
    try {
      [plain, tls] = await Promise.all([
        Deno.connect({ hostname: "127.0.0.1", port: inner.addr.port }),
        inner.accept(),
      ]);
    } finally {
      inner.close();
    }
    const raw = this.#conn;
    this.#closed = true;
    const relay = async (from: Deno.Conn, to: Deno.Conn) => {
      const buf = new Uint8Array(16384);
      try {
        for (;;) {
          const n = await from.read(buf);
          if (n === null) break;
          let at = 0;
          while (at < n) at += await to.write(buf.subarray(at, n));
        }
        await (to as Deno.TcpConn).closeWrite();
      } catch { /* either side closed: the other relay ends too */ }
    };
    const down = relay(plain, raw);
    const up = relay(raw, plain);
    return new DenoConn(tls, "tls", async () => {
      await down; // the TLS close_notify and FIN reach the client first
      for (const c of [raw, plain]) {
        try {
          c.close();
        } catch { /* closed already */ }
      }
      await up;
    });
  }
}

class DenoListener implements Listener {
  readonly hostname: string;
  readonly port: number;
  #listener: Deno.Listener;
  #tls: boolean;
  #closed = false;

  constructor(listener: Deno.Listener, tls: boolean) {
    this.#listener = listener;
    this.#tls = tls;
    const addr = listener.addr as Deno.NetAddr;
    this.hostname = addr.hostname;
    this.port = addr.port;
  }

  async accept(): Promise<ServerTransport | null> {
    if (this.#closed) return null;
    try {
      const conn = await this.#listener.accept();
      return new DenoConn(conn, this.#tls ? "tls" : "tcp");
    } catch (e) {
      if (this.#closed) return null;
      throw e;
    }
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch { /* closed already */ }
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Listening and dialling through the Deno namespace. */
export const denoListeners: ListenerFactory = {
  runtime: "deno",
  listen(options) {
    const hostname = options.hostname ?? "127.0.0.1";
    const port = options.port ?? 0;
    const listener = options.tls
      ? Deno.listenTls({ hostname, port, cert: options.tls.cert, key: options.tls.key })
      : Deno.listen({ hostname, port });
    return Promise.resolve(new DenoListener(listener, options.tls !== undefined));
  },
  async connect(options: TcpOptions & { tls?: TlsOptions }) {
    if (options.tls === undefined) {
      return new DenoConn(
        await Deno.connect({ hostname: options.hostname, port: options.port }),
        "tcp",
      );
    }
    if (options.tls.verify === false) {
      throw new Error("Deno cannot skip certificate verification for one connection");
    }
    const conn = await Deno.connectTls({
      hostname: options.tls.hostname,
      port: options.port,
      caCerts: options.tls.caCerts,
    });
    return new DenoConn(conn, "tls");
  },
};
