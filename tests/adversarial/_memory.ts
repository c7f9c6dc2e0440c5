/**
 * An in-memory server for the end-to-end property tests: the client runs unchanged over a
 * transport whose server side is a function of what the client wrote, with the server's bytes
 * cut into chunks of any sizes. Also a strict parser of client commands, to read back what the
 * encoder put on the wire.
 *
 * @module
 */

import type { Transport, TransportFactory } from "../../transports/transport.ts";

const encoder = new TextEncoder();

/** One argument as a strict server reads it. */
export type ParsedArg =
  | { kind: "atom"; value: string }
  | { kind: "quoted"; value: string }
  | { kind: "literal"; value: Uint8Array; sync: boolean; binary: boolean };

/** One command as a strict server reads it. */
export interface ParsedCommand {
  tag: string;
  name: string;
  args: ParsedArg[];
}

/** A protocol error found by the strict parser. */
export class StrictParseError extends Error {
  override name = "StrictParseError";
}

/**
 * RFC 3501 list-char (ATOM-CHAR, list-wildcards, resp-specials): the widest bare token a server
 * reads as an astring or a LIST pattern. Not `(`, `)`, `{`, SP, CTL, `"` or `\`.
 */
const ATOM_CHAR = /[\x21\x23-\x27\x2a-\x5b\x5d-\x7a\x7c-\x7e]/;

/**
 * Reads commands from a client byte stream, strictly (RFC 3501 / RFC 7888 syntax for atoms,
 * quoted strings and literals; flags' leading backslash allowed). Incomplete input waits.
 */
export class StrictCommandParser {
  #buf = new Uint8Array(0);
  #pos = 0;
  /** Called when a synchronising literal marker was read and its bytes are awaited. */
  onSyncLiteral: () => void = () => {};
  #awaiting = -1;

  /** Adds client bytes; returns the commands completed by them. */
  push(bytes: Uint8Array): ParsedCommand[] {
    const next = new Uint8Array(this.#buf.length - this.#pos + bytes.length);
    next.set(this.#buf.subarray(this.#pos));
    next.set(bytes, this.#buf.length - this.#pos);
    this.#buf = next;
    this.#pos = 0;
    const out: ParsedCommand[] = [];
    for (;;) {
      const cmd = this.#tryParse();
      if (cmd === null) return out;
      out.push(cmd);
    }
  }

  /** Parses one command from #pos, or returns null (leaving #pos) when more bytes are needed. */
  #tryParse(): ParsedCommand | null {
    const b = this.#buf;
    let i = this.#pos;
    const need = () => {
      throw NEED;
    };
    const line = (): string => {
      const lf = b.indexOf(0x0a, i);
      if (lf === -1) need();
      if (b[lf - 1] !== 0x0d) throw new StrictParseError("bare LF");
      return "";
    };
    try {
      line();
      const word = (): string => {
        let s = "";
        while (i < b.length && b[i] !== 0x20 && b[i] !== 0x0d) s += String.fromCharCode(b[i++]);
        return s;
      };
      const tag = word();
      if (!/^[A-Za-z0-9]+$/.test(tag)) throw new StrictParseError(`bad tag ${tag}`);
      if (b[i++] !== 0x20) throw new StrictParseError("no space after tag");
      let name = word();
      if (name === "UID") {
        i++;
        name += " " + word();
      }
      const args: ParsedArg[] = [];
      for (;;) {
        if (i >= b.length) need();
        if (b[i] === 0x0d) {
          if (i + 1 >= b.length) need();
          if (b[i + 1] !== 0x0a) throw new StrictParseError("CR without LF");
          i += 2;
          break;
        }
        if (b[i] !== 0x20) throw new StrictParseError(`expected space at ${i}`);
        i++;
        if (i >= b.length) need();
        const c = b[i];
        if (c === 0x22) {
          i++;
          let s = "";
          const bytes: number[] = [];
          for (;;) {
            if (i >= b.length) need();
            const d = b[i++];
            if (d === 0x22) break;
            if (d === 0x0d || d === 0x0a || d === 0) {
              throw new StrictParseError("CR/LF/NUL in quoted");
            }
            if (d === 0x5c) {
              if (i >= b.length) need();
              const e = b[i++];
              if (e !== 0x22 && e !== 0x5c) throw new StrictParseError("bad escape");
              bytes.push(e);
            } else bytes.push(d);
          }
          s = new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(bytes));
          args.push({ kind: "quoted", value: s });
          continue;
        }
        if (c === 0x7b || (c === 0x7e && b[i + 1] === 0x7b)) {
          const binary = c === 0x7e;
          i += binary ? 2 : 1;
          let digits = "";
          while (i < b.length && b[i] >= 0x30 && b[i] <= 0x39) {
            digits += String.fromCharCode(b[i++]);
          }
          let sync = true;
          if (b[i] === 0x2b) {
            sync = false;
            i++;
          }
          if (b[i] !== 0x7d || b[i + 1] !== 0x0d || b[i + 2] !== 0x0a || digits === "") {
            throw new StrictParseError("bad literal marker");
          }
          i += 3;
          const n = Number(digits);
          if (b.length - i < n) {
            if (sync && this.#awaiting !== i) {
              this.#awaiting = i;
              this.onSyncLiteral();
            }
            need();
          }
          args.push({ kind: "literal", value: b.slice(i, i + n), sync, binary });
          i += n;
          continue;
        }
        if (c === 0x28) {
          // A parenthesised list, kept as its text (only atoms and quoted strings inside).
          let depth = 0;
          let s = "";
          for (;;) {
            if (i >= b.length) need();
            const d = b[i++];
            if (d === 0x0d || d === 0x0a) throw new StrictParseError("unclosed list");
            s += String.fromCharCode(d);
            if (d === 0x28) depth++;
            if (d === 0x29 && --depth === 0) break;
          }
          args.push({ kind: "atom", value: s });
          continue;
        }
        let s = "";
        if (b[i] === 0x5c) s += String.fromCharCode(b[i++]);
        while (i < b.length && ATOM_CHAR.test(String.fromCharCode(b[i]))) {
          s += String.fromCharCode(b[i++]);
        }
        if (s === "" || s === "\\") throw new StrictParseError(`bad atom at ${i}`);
        args.push({ kind: "atom", value: s });
      }
      this.#pos = i;
      this.#awaiting = -1;
      return { tag, name, args };
    } catch (e) {
      if (e === NEED) return null;
      throw e;
    }
  }
}

const NEED = Symbol("need more");

/** What the server function sees and returns. */
export type ServerFn = (cmd: ParsedCommand) => string | Uint8Array;

/** An in-memory transport pair: the client's side, plus what the client wrote. */
export interface MemoryServer {
  /** Transports whose `connect` returns the client side. */
  factory: TransportFactory;
  /** Everything the client wrote. */
  written(): Uint8Array;
  /** The size of each write, in order. */
  writeSizes(): number[];
  /** The commands the strict parser read. */
  commands: ParsedCommand[];
  /** Parse errors of the client's bytes (should stay empty). */
  errors: unknown[];
  /** Ends the stream (EOF) once what is queued has been read. */
  end(): void;
}

/**
 * Creates an in-memory server: `greeting` first, then for each command the client completes,
 * `serve(command)`; `+ go` for each synchronising literal. Reads are cut by `chunks` (sizes used
 * in turn, cycling; default: whole). With `writeDelayMs`, a write settles only that long after
 * the server has seen (and answered) its bytes, as a slow runtime may report it.
 */
export function memoryServer(
  greeting: string | Uint8Array,
  serve: ServerFn,
  chunks: number[] = [],
  writeDelayMs = 0,
): MemoryServer {
  const out: Uint8Array[] = [];
  let queue: Uint8Array[] = [typeof greeting === "string" ? encoder.encode(greeting) : greeting];
  let chunkIndex = 0;
  let waiter: (() => void) | null = null;
  let closed = false;
  let ending = false;
  const parser = new StrictCommandParser();
  const commands: ParsedCommand[] = [];
  const errors: unknown[] = [];
  const enqueue = (data: string | Uint8Array) => {
    queue.push(typeof data === "string" ? encoder.encode(data) : data);
    const w = waiter;
    waiter = null;
    w?.();
  };
  parser.onSyncLiteral = () => enqueue("+ go\r\n");
  const transport: Transport = {
    kind: "tcp",
    async read(buf: Uint8Array): Promise<number | null> {
      while (!closed && queue.every((q) => q.length === 0)) {
        if (ending) return null;
        await new Promise<void>((r) => (waiter = r));
      }
      if (closed) return null;
      queue = queue.filter((q) => q.length > 0);
      const head = queue[0];
      const size = chunks.length > 0 ? chunks[chunkIndex++ % chunks.length] : head.length;
      const n = Math.max(1, Math.min(size, head.length, buf.length));
      buf.set(head.subarray(0, n));
      queue[0] = head.subarray(n);
      return n;
    },
    write(data: Uint8Array): Promise<void> {
      if (closed) return Promise.reject(new Error("closed"));
      out.push(data.slice());
      try {
        for (const cmd of parser.push(data)) {
          commands.push(cmd);
          enqueue(serve(cmd));
        }
      } catch (e) {
        errors.push(e);
      }
      if (writeDelayMs === 0) return Promise.resolve();
      return new Promise((resolve) => setTimeout(resolve, writeDelayMs));
    },
    close(): Promise<void> {
      closed = true;
      const w = waiter;
      waiter = null;
      w?.();
      return Promise.resolve();
    },
  };
  return {
    factory: {
      runtime: "deno",
      connect: () => Promise.resolve(transport),
      connectTls: () => Promise.reject(new Error("no TLS in memory")),
      spawn: () => Promise.reject(new Error("no children in memory")),
    },
    written() {
      const n = out.reduce((s, b) => s + b.length, 0);
      const all = new Uint8Array(n);
      let at = 0;
      for (const b of out) all.set(b, (at += b.length) - b.length);
      return all;
    },
    writeSizes: () => out.map((b) => b.length),
    commands,
    errors,
    end() {
      ending = true;
      const w = waiter;
      waiter = null;
      w?.();
    },
  };
}
