import { PipelineError, type ErrorContext } from './errors.ts';
import { SeriesIndex } from './series-index.ts';
import { WindowPool } from './window-pool.ts';
import { compareQueued, WindowSchedule } from './window-schedule.ts';
import { WindowState, type Series } from './window-state.ts';

export { findSeries, Series, WindowState } from './window-state.ts';

/** How a store keeps its windows; fixed for its life (the processor derives it from its spec). */
export interface WindowStoreOptions {
  /** Reuse purged windows (aligned windows only: see WindowPool). */
  readonly pooling: boolean;
  /**
   * How long after its last emitted window left the store a series' purgedThrough can still
   * matter (largest device clock shift + allowed lateness); 0 (the default) when clocks are not shifted.
   */
  readonly guardSpanMs?: number;
  /** Windows keep only their count (ProcessorSpec `aggregates: 'count'`). */
  readonly countOnly?: boolean;
  /**
   * Count-only aligned windows that are never emitted while stored (no 'reemit'): a reading is
   * counted in `series.counts[i]` (countReading) instead of absorbed into `series.windows[i]`;
   * `settleCount` brings a window's count up to date before it is read.
   */
  readonly countsInSeries?: boolean;
  /**
   * The same for tumbling windows: a reading of the series' `recent` window (while it is stored,
   * see purge) is counted in `series.recentCount` (countRecentReading); it is added to the window
   * when another becomes recent, or by `settleCount`.
   */
  readonly countsInRecent?: boolean;
  /** A series holding windows keeps its purgedThrough (in snapshots too), however old (sessions: see SeriesIndex.guarded). */
  readonly guardFilledSeries?: boolean;
}

/** Where a window is, for an error about it. */
function windowContext(window: WindowState): ErrorContext {
  const series = window.series;
  return { tenant: series.tenant, device: series.device, metric: series.metric, windowStart: window.start, windowEnd: window.end };
}

/**
 * The windows of one partition, indexed by series (tenant, device, metric) and by deadline. Its
 * snapshot form: window-store-snapshot.ts; its size: window-store-size.ts.
 *
 * A window is OPEN until the watermark passes its end; then it is emitted and either dropped or
 * RETAINED (late policy 'reemit') until the watermark passes end + allowed lateness. Its
 * `deadline` is whichever of those instants comes next; the deadline queue hands windows back
 * when the watermark reaches it.
 */
export class WindowStore {
  private readonly index: SeriesIndex;
  private readonly schedule = new WindowSchedule();
  private readonly pool: WindowPool;
  private readonly pooling: boolean;
  /** Windows keep only their count (WindowStoreOptions). */
  readonly countOnly: boolean;
  /** Readings of count-only aligned windows are counted in their series (WindowStoreOptions; see countReading). */
  readonly countsInSeries: boolean;
  /** Readings of count-only tumbling windows are counted in their series' recent window (WindowStoreOptions; see countRecentReading). */
  readonly countsInRecent: boolean;
  private open = 0;
  private retained = 0;
  /** The watermark of the last takeDue: empty series purged after watermark − guardSpanMs stay indexed. */
  private watermark = Number.NEGATIVE_INFINITY;
  /** Reused by takeDue: retained windows whose allowed lateness ran out. */
  private readonly expired: WindowState[] = [];

  constructor(options: WindowStoreOptions) {
    this.pooling = options.pooling;
    this.countOnly = options.countOnly ?? false;
    this.countsInSeries = options.countsInSeries ?? false;
    this.countsInRecent = options.countsInRecent ?? false;
    this.index = new SeriesIndex(options.guardSpanMs ?? 0, options.guardFilledSeries ?? false);
    this.pool = new WindowPool(this.countOnly);
  }

  /** Brings a window's count up to date with what the caller counted in its series (countsInSeries, countsInRecent); returns the window. */
  settleCount(window: WindowState): WindowState {
    if (this.countsInRecent && window.series.recent === window) this.settleRecent(window.series);
    if (!this.countsInSeries) return window;
    const series = window.series;
    const index = series.windows.indexOf(window);
    if (index >= 0) window.count = series.counts[index]!;
    return window;
  }

  /** settleCount for every window of `series`. */
  settleSeries(series: Series): void {
    if (this.countsInSeries) {
      const windows = series.windows;
      for (let i = 0; i < windows.length; i++) windows[i]!.count = series.counts[i]!;
    }
    if (this.countsInRecent && series.recent !== undefined) this.settleRecent(series);
  }

  /**
   * countsInRecent: counts a reading of the window starting at `start` in its series, if that is
   * the series' recent window; false (nothing counted) otherwise.
   */
  countRecentReading(series: Series, start: number): boolean {
    if (!this.countsInRecent || series.recent === undefined || series.recentStart !== start) return false;
    series.recentCount++;
    return true;
  }

  /** countsInSeries: counts a reading of the series' window at `index` (its place in `series.windows`). */
  countReading(series: Series, index: number): void {
    series.counts[index]!++;
  }

  openCount(): number {
    return this.open;
  }

  retainedCount(): number {
    return this.retained;
  }

  /** The earliest deadline of any window (+Infinity when none): nothing is due before it. */
  nextDeadline(): number {
    return this.schedule.next();
  }

  /** Distinct deadlines pending. */
  deadlineCount(): number {
    return this.schedule.size;
  }

  /** Whether a series' purgedThrough can still refuse a reading (see SeriesIndex.guarded). */
  isGuarded(series: Series, watermark: number): boolean {
    return this.index.guarded(series, watermark);
  }

  /** Changes when a head returned by deviceSeries may no longer be the device's head. */
  headsVersion(): number {
    return this.index.headsVersion();
  }

  /** The head of a device's series list. */
  deviceSeries(tenant: string, device: string): Series | undefined {
    return this.index.device(tenant, device);
  }

  getOrCreateSeries(tenant: string, device: string, metric: string): Series {
    return this.index.getOrCreate(tenant, device, metric);
  }

  /** Every series, in insertion order. */
  allSeries(): IterableIterator<Series> {
    return this.index.all();
  }

  /** Adds the readings counted in `series.recent` to its count (countsInRecent). */
  private settleRecent(series: Series): void {
    const pending = series.recentCount;
    if (pending === 0) return;
    series.recent!.count += pending;
    series.recentCount = 0;
  }

  /** The aligned window of `series` starting at `start` (open or retained), if any. */
  findAligned(series: Series, start: number): WindowState | undefined {
    const recent = series.recent;
    if (recent !== undefined && series.recentStart === start && recent.series === series && !recent.dead) return recent;
    const starts = series.starts;
    for (let i = starts.length - 1; i >= 0; i--) {
      const at = starts[i]!;
      if (at === start) {
        const window = series.windows[i]!;
        if (this.countsInRecent && recent !== undefined) this.settleRecent(series);
        series.recent = window;
        series.recentStart = start;
        return window;
      }
      if (at < start) return undefined;
    }
    return undefined;
  }

  /**
   * Index of the series' first window starting at or after `start` (windows.length: none). From
   * the front: a sliding reading's first window is nearly always the series' oldest open one.
   */
  firstAlignedFrom(series: Series, start: number): number {
    const starts = series.starts;
    let index = 0;
    while (index < starts.length && starts[index]! < start) index++;
    return index;
  }

  /** Adds a new aligned window, keeping the series' windows in ascending start order. */
  addAligned(series: Series, start: number, end: number, retainedUntil?: number, shiftMs = 0): WindowState {
    const window = this.pool.take(series, start, end);
    const windows = series.windows;
    if (windows.length === 0) this.index.filled();
    const starts = series.starts;
    let index = windows.length;
    while (index > 0 && starts[index - 1]! > start) index--;
    if (index === windows.length) {
      windows.push(window);
      starts.push(start);
      if (this.countsInSeries) series.counts.push(0);
    } else {
      windows.splice(index, 0, window);
      starts.splice(index, 0, start);
      if (this.countsInSeries) series.counts.splice(index, 0, 0);
    }
    if (this.countsInRecent && series.recent !== undefined) this.settleRecent(series);
    series.recent = window;
    series.recentStart = start;
    window.shiftMs = shiftMs;
    this.add(window, retainedUntil);
    return window;
  }

  addSession(series: Series, start: number, end: number, shiftMs = 0): WindowState {
    const window = new WindowState(series, start, end, this.countOnly);
    window.shiftMs = shiftMs;
    if (series.windows.length === 0) this.index.filled();
    series.windows.push(window);
    series.starts.push(start);
    this.add(window, undefined);
    return window;
  }

  /** An open session grew (a later reading, or a merge): it is due at its new end (see WindowSchedule.postpone). */
  extendSession(window: WindowState): void {
    const deadline = window.end + window.shiftMs;
    if (window.deadline === deadline) return;
    this.schedule.postpone(window, deadline);
  }

  /** Folds open session `other` into open session `target` (same series). */
  mergeSessions(target: WindowState, other: WindowState): void {
    // Checked before anything changes: folding a released session in would count its readings twice.
    if (other.dead || other === target) this.releasedTwice(other);
    target.merge(other);
    if (other.start < target.start) target.start = other.start;
    if (other.end > target.end) target.end = other.end;
    if (other.shiftMs > target.shiftMs) target.shiftMs = other.shiftMs;
    this.remove(other);
  }

  /**
   * A device's clock was found to run ahead: its open windows due later than end + `shiftMs`
   * (opened while it was learned) become due then. Only ever earlier, so no reading they could
   * still take on the device's clock arrives after them. The entry at the old deadline stays
   * queued, stale by its ticket.
   */
  closeEarlier(head: Series | undefined, shiftMs: number): void {
    for (let series = head; series !== undefined; series = series.sibling) {
      for (const window of series.windows) {
        if (window.emitted || window.shiftMs <= shiftMs) continue;
        window.shiftMs = shiftMs;
        this.schedule.enqueue(window, window.end + shiftMs);
      }
    }
  }

  /**
   * Takes every window whose deadline the watermark reached: open ones are pushed onto `due`
   * in emission order (the caller emits them, then calls `closed`); retained ones have run out
   * of allowed lateness and are dropped here.
   */
  takeDue(watermark: number, due: WindowState[]): void {
    this.watermark = watermark;
    const expired = this.expired;
    this.schedule.takeDue(watermark, due, expired);
    for (let i = 0; i < expired.length; i++) this.remove(expired[i]!);
    expired.length = 0;
  }

  /** An open window was emitted: retain it until `retainUntil`, or drop it (undefined). */
  closed(window: WindowState, retainUntil: number | undefined): void {
    if (window.emitted || window.dead) {
      throw new PipelineError('CORE_WINDOW_CLOSED_TWICE', 'a window was closed that is not open: it would be counted, retained or pooled twice', {
        context: windowContext(window),
      });
    }
    this.open--;
    window.emitted = true;
    if (retainUntil === undefined) {
      this.purge(window);
      return;
    }
    this.retained++;
    this.schedule.enqueue(window, retainUntil);
  }

  /** Every open window, in emission order. */
  openWindows(): WindowState[] {
    const out: WindowState[] = [];
    for (const series of this.allSeries()) for (const window of series.windows) if (!window.emitted) out.push(window);
    return out.sort(compareQueued);
  }

  clear(): void {
    this.index.clear();
    this.schedule.clear();
    this.open = 0;
    this.retained = 0;
    this.pool.clear();
  }

  earliestOffset(): number | null {
    let earliest = Number.POSITIVE_INFINITY;
    for (const series of this.allSeries()) {
      for (const window of series.windows) if (window.minOffset < earliest) earliest = window.minOffset;
    }
    return Number.isFinite(earliest) ? earliest : null;
  }

  /** The stamp the next queued window gets (the snapshot keeps it). */
  scheduleSeq(): number {
    return this.schedule.seq;
  }

  /** decodeStore (window-store-snapshot.ts): the series are about to be rebuilt. */
  beginRestore(): void {
    this.index.headsMoved();
  }

  /** decodeStore: a restored window joins its series (in snapshot order), open, or retained until `retainedUntil`. */
  adoptRestored(window: WindowState, retainedUntil: number | undefined): void {
    if (retainedUntil === undefined) {
      window.deadline = window.end + window.shiftMs;
      this.open++;
    } else {
      window.emitted = true;
      window.deadline = retainedUntil;
      this.retained++;
    }
    const series = window.series;
    if (series.windows.length === 0) this.index.filled();
    series.windows.push(window);
    series.starts.push(window.start);
    if (this.countsInSeries) series.counts.push(window.count);
  }

  /** decodeStore: queues the restored windows; `seq`: the snapshot's next stamp. */
  finishRestore(windows: WindowState[], seq: number): void {
    this.schedule.restore(windows, seq);
  }

  /** Counts and queues a new window: open, or retained until `retainedUntil`. */
  private add(window: WindowState, retainedUntil: number | undefined): void {
    if (retainedUntil === undefined) {
      this.open++;
      this.schedule.enqueue(window, window.end + window.shiftMs);
    } else {
      this.retained++;
      window.emitted = true;
      this.schedule.enqueue(window, retainedUntil);
    }
  }

  /** Drops a live window (an expired retained one, or a session merged away). */
  private remove(window: WindowState): void {
    if (window.emitted) this.retained--;
    else this.open--;
    this.purge(window);
  }

  private purge(window: WindowState): void {
    // Released twice, a pooled window would be handed to two series: one object, two windows' readings.
    if (window.dead) this.releasedTwice(window);
    window.dead = true;
    this.schedule.forget(window);
    const series = window.series;
    if (window.emitted && window.end > series.purgedThrough) series.purgedThrough = window.end;
    const windows = series.windows;
    const index = windows.indexOf(window);
    // The oldest window usually goes first: shift() trims in place, splice() allocates its result.
    if (index === 0) {
      windows.shift();
      series.starts.shift();
      if (this.countsInSeries) series.counts.shift();
    } else if (index > 0) {
      windows.splice(index, 1);
      series.starts.splice(index, 1);
      if (this.countsInSeries) series.counts.splice(index, 1);
    }
    if (series.recent === window) {
      if (this.countsInRecent) this.settleRecent(series);
      series.recent = undefined;
    }
    if (windows.length === 0) this.index.emptied(this.watermark);
    if (this.pooling) this.pool.release(window);
  }

  private releasedTwice(window: WindowState): never {
    throw new PipelineError('CORE_WINDOW_RELEASED_TWICE', 'a window was released that is not live: it would be pooled or counted twice', {
      context: windowContext(window),
    });
  }
}
