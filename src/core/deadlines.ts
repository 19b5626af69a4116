/**
 * Items grouped by a numeric deadline, taken out in deadline order: a binary min-heap of the
 * distinct deadlines plus one bucket per deadline. Tumbling windows of one period share one end,
 * so the heap stays tiny however many series there are.
 *
 * Items are never removed from a bucket; the owner marks them stale (a session that grew, a
 * window that was merged away) and skips them when their bucket comes due.
 */
export class DeadlineQueue<T> {
  private readonly heap: number[] = [];
  private readonly buckets = new Map<number, T[]>();

  add(deadline: number, item: T): void {
    const bucket = this.buckets.get(deadline);
    if (bucket) {
      bucket.push(item);
      return;
    }
    this.buckets.set(deadline, [item]);
    this.push(deadline);
  }

  /** The smallest deadline, or +Infinity when empty. */
  next(): number {
    return this.heap.length === 0 ? Number.POSITIVE_INFINITY : this.heap[0]!;
  }

  /** Removes and returns the bucket of the smallest deadline. */
  takeNext(): T[] {
    const deadline = this.pop();
    const bucket = this.buckets.get(deadline) ?? [];
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
