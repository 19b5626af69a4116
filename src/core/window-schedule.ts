import { DeadlineQueue } from './deadlines.ts';
import type { WindowState } from './window-state.ts';

/**
 * Emission order: by deadline, then by when the window entered the queue. That is a function of
 * the record sequence, and the snapshot keeps the stamps, so a restored processor emits in the
 * same order — without sorting thousands of windows by name at every window boundary.
 */
export function compareQueued(a: WindowState, b: WindowState): number {
  return a.deadline - b.deadline || a.seq - b.seq;
}

/**
 * When the windows of one store are due, and in which order they come out: the deadline queue,
 * the stamps that order windows due together (`WindowState.seq`) and the tickets that tell a
 * window's live entry from stale ones (`WindowState.ticket`). It decides nothing about a window's
 * life: the store does (window-store.ts).
 */
export class WindowSchedule {
  private readonly deadlines = new DeadlineQueue<WindowState>();
  /** The next stamp; kept in snapshots. */
  private nextSeq = 0;
  /** The next deadline-queue ticket (see WindowState.ticket). */
  private nextTicket = 1;

  /** The earliest deadline of any window (+Infinity when none): nothing is due before it. */
  next(): number {
    return this.deadlines.next();
  }

  /** Distinct deadlines pending. */
  get size(): number {
    return this.deadlines.size;
  }

  /** The stamp the next queued window gets (snapshots). */
  get seq(): number {
    return this.nextSeq;
  }

  /** Queues `window` due at `deadline`, stamped now. */
  enqueue(window: WindowState, deadline: number): void {
    window.deadline = deadline;
    window.seq = this.nextSeq++;
    this.queue(window, deadline);
  }

  /**
   * An open session grew: it is due at `deadline`, stamped now (the emission order is as if it were
   * queued again now), but stays queued at its earlier deadline: takeDue queues it at the later one
   * when that comes. Otherwise every reading of a session would add a heap entry and a bucket,
   * nearly all of them stale by the time they are due.
   */
  postpone(window: WindowState, deadline: number): void {
    window.deadline = deadline;
    window.seq = this.nextSeq++;
    if (window.queuedAt > deadline) this.queue(window, deadline);
  }

  /** Queues windows restored from a snapshot, keeping their stamps and deadlines; `seq`: the snapshot's next stamp. */
  restore(windows: WindowState[], seq: number): void {
    // Queue in stamp order: windows due together come out in the order they did before.
    windows.sort((a, b) => a.seq - b.seq);
    for (const window of windows) this.queue(window, window.deadline);
    this.nextSeq = seq;
  }

  /** `window` has left the store: none of its entries is live any more. */
  forget(window: WindowState): void {
    window.ticket = 0;
  }

  /**
   * Takes every window whose deadline `watermark` reached: open ones onto `due` in emission order,
   * emitted (retained) ones onto `expired` in the order they come.
   */
  takeDue(watermark: number, due: WindowState[], expired: WindowState[]): void {
    const deadlines = this.deadlines;
    while (deadlines.next() <= watermark) {
      const deadline = deadlines.next();
      const from = due.length;
      let inStampOrder = true;
      const { items, tickets } = deadlines.takeNext();
      for (let i = 0; i < items.length; i++) {
        const window = items[i]!;
        // A stale entry: the window was queued again since, or purged (and maybe reused).
        if (tickets[i] !== window.ticket) continue;
        if (window.deadline !== deadline) {
          // A session that grew since it was queued: queued again at its current end.
          this.queue(window, window.deadline);
          continue;
        }
        if (window.emitted) expired.push(window);
        else {
          if (due.length > from && due[due.length - 1]!.seq > window.seq) inStampOrder = false;
          due.push(window);
        }
      }
      // A session queued again joins its bucket after windows stamped later than it: reorder.
      if (!inStampOrder) {
        const bucket = due.splice(from).sort(compareQueued);
        for (let i = 0; i < bucket.length; i++) due.push(bucket[i]!);
      }
    }
  }

  clear(): void {
    this.deadlines.clear();
  }

  private queue(window: WindowState, deadline: number): void {
    window.queuedAt = deadline;
    window.ticket = this.nextTicket++;
    this.deadlines.add(deadline, window, window.ticket);
  }
}
