/**
 * Picks the transports of the runtime the code runs on: Deno's or Node's.
 *
 * Nothing runtime-specific is touched when this module loads; the choice is made, and the
 * runtime's module imported, on the first call of {@linkcode getTransports}.
 *
 * @example Talk to a child process on whichever runtime this is
 * ```ts
 * import { getTransports } from "./mod.ts";
 * const transports = await getTransports();
 * const transport = await transports.spawn({ command: ["cat"] });
 * await transport.write(new TextEncoder().encode("a1 NOOP\r\n"));
 * const buf = new Uint8Array(64);
 * const n = await transport.read(buf);
 * console.log(new TextDecoder().decode(buf.subarray(0, n ?? 0))); // "a1 NOOP\r\n"
 * await transport.close();
 * ```
 *
 * @module
 */

import type { TransportFactory } from "./transport.ts";

export type {
  StreamOptions,
  TcpOptions,
  TlsConnectOptions,
  TlsOptions,
  Transport,
  TransportFactory,
} from "./transport.ts";

let cached: Promise<TransportFactory> | undefined;

/**
 * Returns the transports of the current runtime (Deno when `Deno` is a global, else Node).
 *
 * @returns the runtime's {@linkcode TransportFactory}, the same object on every call.
 */
export function getTransports(): Promise<TransportFactory> {
  cached ??= "Deno" in globalThis
    ? import("./deno.ts").then((module) => module.denoTransports)
    : import("./node.ts").then((module) => module.nodeTransports);
  return cached;
}
