/**
 * The receivers of records handed to librdkafka, by the opaque number their delivery report
 * carries. Opaques are handed out in sequence, so a ring of slots indexed by the opaque does the
 * job of a Map without hashing: a Map's set, get and delete per record were about 0.3 µs, 4 % of
 * the bridge's main thread per message in bench:edge (see test/unit/kafka-in-flight.test.ts, which
 * holds it equal to a Map).
 *
 * The ring spans the opaques from the oldest still in flight to the newest; when a new one would
 * reach the oldest's slot the ring doubles. The span is bounded by the delivery timeout (librdkafka
 * reports every record within message.timeout.ms) times the produce rate, and the ring never shrinks.
 */
export class InFlightReceivers<T> {
  private slots: Array<T | undefined>;
  private mask: number;
  private next = 1;
  /** No opaque below this one is in flight. */
  private oldest = 1;
  private count = 0;

  constructor(initialSlots = 1 << 14) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(2, initialSlots)));
    this.slots = new Array<T | undefined>(size).fill(undefined);
    this.mask = size - 1;
  }

  get size(): number {
    return this.count;
  }

  /** The opaque the next add() returns: every one handed out so far is below it. */
  get nextOpaque(): number {
    return this.next;
  }

  /** Keeps `receiver` under a new opaque, which it returns. */
  add(receiver: T): number {
    if (this.next - this.oldest >= this.slots.length) this.grow();
    const opaque = this.next++;
    this.slots[opaque & this.mask] = receiver;
    this.count++;
    return opaque;
  }

  /** The receiver of `opaque`, forgotten; undefined when it is not in flight (settled, or dropped by clear()). */
  take(opaque: number): T | undefined {
    if (opaque < this.oldest || opaque >= this.next) return undefined;
    const slot = opaque & this.mask;
    const receiver = this.slots[slot];
    if (receiver === undefined) return undefined;
    this.slots[slot] = undefined;
    this.count--;
    if (this.count === 0) this.oldest = this.next;
    else if (opaque === this.oldest) this.advance();
    return receiver;
  }

  /** Every receiver still in flight, oldest first; none is kept afterwards. */
  clear(): T[] {
    const receivers: T[] = [];
    for (let opaque = this.oldest; opaque < this.next && receivers.length < this.count; opaque++) {
      const slot = opaque & this.mask;
      const receiver = this.slots[slot];
      if (receiver === undefined) continue;
      receivers.push(receiver);
      this.slots[slot] = undefined;
    }
    this.count = 0;
    this.oldest = this.next;
    return receivers;
  }

  private advance(): void {
    while (this.oldest < this.next && this.slots[this.oldest & this.mask] === undefined) this.oldest++;
  }

  private grow(): void {
    const size = this.slots.length * 2;
    const slots = new Array<T | undefined>(size).fill(undefined);
    const mask = size - 1;
    for (let opaque = this.oldest; opaque < this.next; opaque++) slots[opaque & mask] = this.slots[opaque & this.mask];
    this.slots = slots;
    this.mask = mask;
  }
}
