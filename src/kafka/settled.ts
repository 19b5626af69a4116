/**
 * Waits for a count (records in flight) to reach zero. Whoever lowers the count calls check(), so
 * a wait resolves on the event that settled the last record, not on a polling tick; a timeout
 * bounds it and rejects with the caller's typed error.
 */
export class SettledWaiter {
  private waiters: Array<() => void> = [];

  constructor(private readonly count: () => number) {}

  /** After anything that may have settled the last record; on the hot path one length check. */
  check(): void {
    if (this.waiters.length === 0 || this.count() > 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const settled of waiters) settled();
  }

  /** Resolves once the count is zero; rejects with `timeoutError()` after `timeoutMs`. */
  wait(timeoutMs: number, timeoutError: () => Error): Promise<void> {
    if (this.count() === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const settled = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter !== settled);
        reject(timeoutError());
      }, Math.max(0, timeoutMs));
      this.waiters.push(settled);
    });
  }
}
