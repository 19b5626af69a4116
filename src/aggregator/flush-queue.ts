/**
 * The aggregator's flushes, in order and one at a time: each batch is written after the one
 * before it settled, and a batch queued behind a failed one fails without being written. So the
 * promise a batch's enqueue returns resolves exactly when that batch AND every batch queued
 * before it are durable: the condition for committing the offsets they cover.
 *
 * The writer records its own failures (the runner marks itself failed); the queue only keeps the
 * order and bounds how many batches wait, which is the loop's backpressure when the sink is slower
 * than processing.
 */
export class FlushQueue<Batch> {
  private tail: Promise<void> = Promise.resolve();
  /** The batches not yet settled, oldest first (as promises that never reject). */
  private readonly unfinished: Promise<void>[] = [];

  constructor(
    private readonly write: (batch: Batch) => Promise<void>,
    /** How many batches may be queued or being written before room() waits. */
    private readonly maxUnfinished: number,
  ) {
    if (!Number.isInteger(maxUnfinished) || maxUnfinished < 1) throw new RangeError(`maxUnfinished must be a positive integer, got ${maxUnfinished}`);
  }

  /** Resolves when the batch and all batches before it are written; rejects when any of them failed. */
  enqueue(batch: Batch): Promise<void> {
    const durable = this.tail.then(() => this.write(batch));
    this.tail = durable;
    const settled = durable.then(
      () => undefined,
      () => undefined,
    );
    this.unfinished.push(settled);
    void settled.then(() => {
      const index = this.unfinished.indexOf(settled);
      if (index >= 0) this.unfinished.splice(index, 1);
    });
    return durable;
  }

  /** Batches queued or being written. */
  get size(): number {
    return this.unfinished.length;
  }

  /** Resolves once fewer than maxUnfinished batches are queued or being written. */
  async room(): Promise<void> {
    while (this.unfinished.length >= this.maxUnfinished) await this.unfinished[0];
  }

  /** Resolves when every batch queued so far settled, whatever the outcome. */
  async settled(): Promise<void> {
    while (this.unfinished.length > 0) await this.unfinished[this.unfinished.length - 1];
  }
}
