import { WindowState, type Series } from './window-state.ts';

/** Purged windows kept for reuse. */
const MAX_POOLED = 65_536;

/**
 * Purged aligned windows, reused for new ones: a window lives through many young-generation
 * collections, so allocating one per series and period is what made the GC expensive. The store
 * decides what may be pooled (sessions are not: a merged-away session may still sit in the
 * deadline queue) and that nothing is released twice.
 */
export class WindowPool {
  private readonly windows: WindowState[] = [];

  constructor(
    /** Windows keep only their count (ProcessorSpec `aggregates: 'count'`). */
    private readonly countOnly: boolean,
  ) {}

  /** A new window [start, end) of `series`: a pooled one made new, or a fresh one. */
  take(series: Series, start: number, end: number): WindowState {
    const pooled = this.windows.pop();
    if (pooled === undefined) return new WindowState(series, start, end, this.countOnly);
    pooled.reuse(series, start, end);
    return pooled;
  }

  /** Keeps a purged window for reuse (while the pool has room). */
  release(window: WindowState): void {
    if (this.windows.length < MAX_POOLED) this.windows.push(window);
  }

  /** The pooled windows (a consistency check reads them; do not change). */
  pooled(): readonly WindowState[] {
    return this.windows;
  }

  clear(): void {
    this.windows.length = 0;
  }
}
