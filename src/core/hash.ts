/**
 * Fast, deterministic 53-bit string hashing for reading ids, and a compact set of such hashes.
 *
 * Windows remember which reading ids they absorbed (to count a redelivery once) and keep a
 * bottom-k sample ordered by id hash; both need a hash that is identical in every process and
 * every run, cheap enough for millions of readings per second, and wide enough that two distinct
 * ids in one window practically never collide (53 bits: ~1e-7 for a million ids in one window).
 * cyrb53 (public domain, bryc) fits; a cryptographic hash would cost ten times more for nothing.
 */

/** cyrb53: two 32-bit multiply-xorshift lanes combined into 53 bits. Never returns 0. */
export function hashId(id: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < id.length; i++) {
    const ch = id.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  const hash = 4294967296 * (2097151 & h2) + (h1 >>> 0);
  // 0 marks an empty slot in HashSet53; giving it up costs one value in 2^53.
  return hash === 0 ? 1 : hash;
}

const EMPTY = 0;
const MIN_SLOTS = 8;
const MAX_KEPT_SLOTS = 64;

/**
 * Zero-filled arrays of doubles by length, to copy from: `slice()` of a packed double array is
 * one fast on-heap allocation that keeps the unboxed-double element kind.
 */
const zeroTemplates = new Map<number, number[]>();

/**
 * A zeroed array of `length` unboxed doubles. (Not a Float64Array: V8 allocates typed arrays
 * above 64 bytes off-heap, which costs ~200 ns each; a window allocates several.)
 */
export function zeroDoubles(length: number): number[] {
  let template = zeroTemplates.get(length);
  if (template === undefined) {
    template = Array.from({ length }, () => 0.5).fill(0);
    zeroTemplates.set(length, template);
  }
  return template.slice();
}

/**
 * An open-addressing set of 53-bit hashes (non-zero integers) in an array of unboxed doubles:
 * 8 bytes per slot, no per-entry objects. The low 32 bits of a cyrb53 hash are well mixed, so
 * they index the table directly.
 */
export class HashSet53 {
  private slots: number[];
  private mask: number;
  private used = 0;

  /** `expected`: how many hashes the set should hold before it first grows. */
  constructor(expected = 0) {
    let size = MIN_SLOTS;
    while (size < expected * 2) size *= 2;
    this.slots = zeroDoubles(size);
    this.mask = size - 1;
  }

  get size(): number {
    return this.used;
  }

  /** Bytes held by the table (for state-size estimates). */
  get byteLength(): number {
    return this.slots.length * 8;
  }

  has(hash: number): boolean {
    return this.slots[this.slotOf(hash)] === hash;
  }

  /** Adds the hash; false when it was already present. */
  add(hash: number): boolean {
    const slots = this.slots;
    const index = this.slotOf(hash);
    if (slots[index] === hash) return false;
    slots[index] = hash;
    this.used++;
    // Keep the load at most 1/2 so that probes stay short.
    if (this.used * 2 > slots.length) this.grow();
    return true;
  }

  /** The slot that holds `hash`, or else the empty slot where it belongs (linear probing; the load stays ≤ 1/2). */
  private slotOf(hash: number): number {
    const slots = this.slots;
    const mask = this.mask;
    let index = (hash >>> 0) & mask;
    for (;;) {
      const slot = slots[index]!;
      if (slot === hash || slot === EMPTY) return index;
      index = (index + 1) & mask;
    }
  }

  /** Empties the set; a table that grew large is given back rather than kept. */
  clear(): void {
    if (this.slots.length > MAX_KEPT_SLOTS) {
      this.slots = zeroDoubles(MIN_SLOTS);
      this.mask = MIN_SLOTS - 1;
    } else if (this.used > 0) {
      this.slots.fill(0);
    }
    this.used = 0;
  }

  /** The hashes in table order (order carries no meaning). */
  values(): number[] {
    const out: number[] = [];
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i]!;
      if (slot !== EMPTY) out.push(slot);
    }
    return out;
  }

  private grow(): void {
    const old = this.slots;
    const slots = zeroDoubles(old.length * 2);
    const mask = slots.length - 1;
    for (let i = 0; i < old.length; i++) {
      const hash = old[i]!;
      if (hash === EMPTY) continue;
      let index = (hash >>> 0) & mask;
      while (slots[index] !== EMPTY) index = (index + 1) & mask;
      slots[index] = hash;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
