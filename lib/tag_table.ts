/**
 * The pending commands of a connection, by tag number.
 *
 * Tags are taken in increasing order and mostly completed in order, so the table is a window of an
 * array: entry `n` sits at `n - base`, and the base moves past completed commands. A command sets
 * and deletes one entry per round trip; a `Map` did that with hashing and, every few commands, a
 * rehash in the runtime. Numbers outside the window (a caller who rewinds `tagnum`, or a jump
 * of more than {@link WINDOW_MAX}) go to a `Map`, so every number works. (A command sent alone on
 * an idle connection, the common case, is in no table: the client keeps it in a slot of its own.)
 *
 * @module
 */

/** The most slots the window spans; a number further ahead goes to the overflow map. */
const WINDOW_MAX = 4096;

/** Pending entries by non-negative integer key (a tag's number). */
export class TagTable<P> {
  /** Entry `_base + i` at index `i`; holes are completed commands. */
  private _slots: (P | undefined)[] = [];
  private _base = 0;
  /** Slots before this index are all holes. */
  private _head = 0;
  /** Entries in the window. */
  private _inWindow = 0;
  /** Entries outside the window. */
  private _other: Map<number, P> | null = null;

  /**
   * How many entries the table holds (counted, not a getter: asked before every command; not to
   * be set from outside).
   */
  size = 0;

  /**
   * The entry for `n`.
   *
   * @param n the key
   * @returns the entry, or undefined
   */
  get(n: number): P | undefined {
    const i = n - this._base;
    if (i >= 0 && i < this._slots.length) {
      const p = this._slots[i];
      if (p !== undefined) return p;
    }
    return this._other?.get(n);
  }

  /**
   * The entry with the lowest key in the window: the oldest command, whose answer usually comes
   * first.
   *
   * @returns the entry, or undefined when the window is empty
   */
  oldest(): P | undefined {
    // One exit at the end (V8 optimises a function sooner when its calls run to its end).
    let found: P | undefined;
    if (this._inWindow > 0) {
      const slots = this._slots;
      for (let i = this._head; i < slots.length && found === undefined; i++) found = slots[i];
    }
    return found;
  }

  /**
   * Adds or replaces the entry for `n`.
   *
   * @param n the key
   * @param p the entry
   */
  set(n: number, p: P): void {
    if (this._inWindow === 0) {
      // Every slot is a hole: the window starts again at n, over the same array (setting an
      // array's length is a call into the runtime).
      this._base = n;
      this._head = 0;
    }
    const i = n - this._base;
    if (i < this._head || i > this._slots.length + WINDOW_MAX || !Number.isSafeInteger(n)) {
      const other = this._other ??= new Map();
      if (!other.has(n)) this.size++;
      other.set(n, p);
      return;
    }
    if (this._other !== null && this._other.delete(n)) this.size--;
    while (this._slots.length < i) this._slots.push(undefined);
    if (this._slots[i] === undefined) {
      this._inWindow++;
      this.size++;
    }
    this._slots[i] = p;
  }

  /**
   * Removes the entry for `n`, if any.
   *
   * @param n the key
   */
  delete(n: number): void {
    // One exit at the end (V8 optimises a function sooner when its calls run to its end).
    const slots = this._slots;
    const i = n - this._base;
    if (i < 0 || i >= slots.length || slots[i] === undefined) {
      if (this._other?.delete(n)) this.size--;
    } else {
      slots[i] = undefined;
      this.size--;
      if (--this._inWindow === 0) {
        // Kept for the next window, unless a long pipeline made it large.
        if (slots.length > 64) this._slots = [];
      } else if (i === this._head) this.#advance(i);
    }
  }

  /**
   * Moves the window's start past the hole at `i`, the oldest slot: it starts at the oldest
   * command still pending, and holes before it are cut off in batches, so that a long pipeline
   * costs O(1) per command.
   */
  #advance(i: number): void {
    const slots = this._slots;
    let k = i + 1;
    while (slots[k] === undefined) k++;
    this._head = k;
    if (k >= 64 && 2 * k >= slots.length) {
      slots.splice(0, k);
      this._base += k;
      this._head = 0;
    }
  }

  /**
   * The entries, oldest first (the overflow map's after the window's).
   *
   * @returns a snapshot of the entries
   */
  values(): P[] {
    const out: P[] = [];
    const slots = this._slots;
    for (let i = this._head; i < slots.length; i++) if (slots[i] !== undefined) out.push(slots[i]!);
    if (this._other !== null) { for (const p of this._other.values()) out.push(p); }
    return out;
  }

  /** Removes every entry. */
  clear(): void {
    this._slots = [];
    this._head = 0;
    this._inWindow = 0;
    this.size = 0;
    this._other = null;
  }
}
