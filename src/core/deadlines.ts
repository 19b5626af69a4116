/** One deadline's entries: `tickets[i]` is the ticket `items[i]` was queued with (parallel arrays: no object per entry). */
export interface DeadlineBucket<T> {
  readonly items: T[];
  readonly tickets: number[];
}

/**
 * Items grouped by a numeric deadline, taken out in deadline order: a binary min-heap of the
 * distinct deadlines plus one bucket per deadline. Tumbling windows of one period share one end,
 * so the heap stays tiny however many series there are.
 *
 * Items are never removed from a bucket; each entry carries the owner's `ticket` for it, and the
 * owner skips an entry whose ticket is no longer the item's current one (a session that grew, a
 * window moved earlier, merged away, or purged and reused for another series). The item alone
 * cannot say which of its entries is live: a pooled object is queued again as a new window, and
 * possibly at a deadline where an entry of its previous life still waits.
 */
export class DeadlineQueue<T> {
  private readonly heap: number[] = [];
  private readonly buckets = new Map<number, DeadlineBucket<T>>();

  add(deadline: number, item: T, ticket: number): void {
    const bucket = this.buckets.get(deadline);
    if (bucket) {
      bucket.items.push(item);
      bucket.tickets.push(ticket);
      return;
    }
    this.buckets.set(deadline, { items: [item], tickets: [ticket] });
    this.push(deadline);
  }

  /** The smallest deadline, or +Infinity when empty. */
  next(): number {
    return this.heap.length === 0 ? Number.POSITIVE_INFINITY : this.heap[0]!;
  }

  /** Removes and returns the bucket of the smallest deadline: entries in the order they were added. */
  takeNext(): DeadlineBucket<T> {
    const deadline = this.pop();
    const bucket = this.buckets.get(deadline) ?? { items: [], tickets: [] };
    this.buckets.delete(deadline);
    return bucket;
  }

  clear(): void {
    this.heap.length = 0;
    this.buckets.clear();
  }

  /** Distinct deadlines pending. */
  get size(): number {
    return this.heap.length;
  }

  private push(value: number): void {
    const heap = this.heap;
    let index = heap.length;
    heap.push(value);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (heap[parent]! <= value) break;
      heap[index] = heap[parent]!;
      index = parent;
    }
    heap[index] = value;
  }

  private pop(): number {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    const length = heap.length;
    if (length === 0) return top;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && heap[right]! < heap[left]! ? right : left;
      if (heap[child]! >= last) break;
      heap[index] = heap[child]!;
      index = child;
    }
    heap[index] = last;
    return top;
  }
}
