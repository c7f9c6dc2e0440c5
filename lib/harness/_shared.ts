/**
 * Byte helpers and a web-stream transport shared by the harness modules and its scripts.
 * Runtime-neutral: web streams and typed arrays only.
 *
 * @module
 */

import type { ServerTransport } from "../../transports/listen.ts";

/**
 * Joins byte arrays into a new one (never one of the parts, so the result may be kept).
 *
 * @param parts the arrays, in order
 * @returns their bytes, one after the other
 */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Tells whether two byte arrays hold the same bytes.
 *
 * @param a one array
 * @param b the other
 * @returns `true` when they have the same length and bytes
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** How {@link streamTransport} lets go of its streams on close. */
export interface StreamTransportOptions {
  /**
   * Cancel the readable (which ends a pending read and tells its source to stop); by default
   * only its lock is released, leaving the stream to its owner.
   */
  cancel?: boolean;
  /** Runs last, once, when the transport is closed (e.g. to reap a child process). */
  onClose?: () => Promise<void>;
}

/**
 * A byte-stream transport over a pair of web streams, such as a process's stdin and stdout.
 *
 * @param readable where the bytes come from
 * @param writable where the bytes go
 * @param options what `close()` does to the streams besides closing the writer
 * @returns the transport; `close()` is idempotent and reads after it give end of stream
 */
export function streamTransport(
  readable: ReadableStream<Uint8Array>,
  writable: WritableStream<Uint8Array>,
  options: StreamTransportOptions = {},
): ServerTransport {
  const reader = readable.getReader();
  const writer = writable.getWriter();
  let pending: Uint8Array = new Uint8Array(0);
  let closed = false;
  return {
    kind: "stream",
    async read(buf) {
      if (pending.length === 0) {
        if (closed) return null;
        const r = await reader.read();
        if (r.done || closed) return null;
        pending = r.value;
      }
      const n = Math.min(buf.length, pending.length);
      buf.set(pending.subarray(0, n));
      pending = pending.subarray(n);
      return n;
    },
    async write(data) {
      await writer.write(data);
    },
    async close() {
      if (closed) return;
      closed = true;
      await writer.close().catch(() => {/* the reader went away */});
      if (options.cancel) await reader.cancel().catch(() => {});
      else reader.releaseLock();
      await options.onClose?.();
    },
  };
}
