import { WindowAggregate, type AggregateTuple } from './aggregate.ts';
import { DeadlineQueue } from './deadlines.ts';
import { PipelineError, type ErrorContext } from './errors.ts';
import { SeriesIndex } from './series-index.ts';
import { WindowState, type Series } from './window-state.ts';

export { findSeries, Series, WindowState } from './window-state.ts';

/**
 * A series in a snapshot: [tenant, device, metric, windows as [start, end, emitted, seq, aggregate,
 * shiftMs?], purgedThrough?]. The optional fields are written only when they matter.
 */
export type SeriesTuple =
  | [tenant: string, device: string, metric: string, windows: WindowTuple[]]
  | [tenant: string, device: string, metric: string, windows: WindowTuple[], purgedThrough: number];
type WindowTuple =
  | [start: number, end: number, emitted: 0 | 1, seq: number, aggregate: AggregateTuple]
  | [start: number, end: number, emitted: 0 | 1, seq: number, aggregate: AggregateTuple, shiftMs: number];

export interface StateBytes {
  readonly bytes: number;
  /** The part of `bytes` that the windows (with their deadline entries) make up. */
  readonly windowBytes: number;
  /** What a window adds when it opens, before it holds readings. */
  readonly freshWindowBytes: number;
}

export interface StoreSnapshot {
  readonly seq: number;
  readonly series: SeriesTuple[];
}

/** Purged windows kept for reuse. */
const MAX_POOLED = 65_536;

/** Where a window is, for an error about it. */
function windowContext(window: WindowState): ErrorContext {
  const series = window.series;
  return { tenant: series.tenant, device: series.device, metric: series.metric, windowStart: window.start, windowEnd: window.end };
}

/**
 * Emission order: by deadline, then by when the window entered the queue. That is a function of
 * the record sequence, and the snapshot keeps the stamps, so a restored processor emits in the
 * same order — without sorting thousands of windows by name at every window boundary.
 */
export function compareQueued(a: WindowState, b: WindowState): number {
  return a.deadline - b.deadline || a.seq - b.seq;
}

/**
 * The windows of one partition, indexed by series (tenant, device, metric) and by deadline.
 *
 * A window is OPEN until the watermark passes its end; then it is emitted and either dropped or
 * RETAINED (late policy 'reemit') until the watermark passes end + allowed lateness. Its
 * `deadline` is whichever of those instants comes next; the deadline queue hands windows back
 * when the watermark reaches it.
 */
export class WindowStore {
  private readonly index: SeriesIndex;
  private readonly deadlines = new DeadlineQueue<WindowState>();
  private open = 0;
  private retained = 0;
  /**
   * Purged aligned windows, reused for new ones: a window lives through many young-generation
   * collections, so allocating one per series and period is what made the GC expensive.
   * (Sessions are not pooled: a merged-away session may still sit in the deadline queue.)
   */
  private readonly pool: WindowState[] = [];
  private nextSeq = 0;
  /** The next deadline-queue ticket (see WindowState.ticket). */
  private nextTicket = 1;
  /** The watermark of the last takeDue: empty series purged after watermark − guardSpanMs stay indexed. */
  private watermark = Number.NEGATIVE_INFINITY;
  private freshWindowBytes: number | undefined;

  /**
   * `guardSpanMs`: how long after its last emitted window left the store a series' purgedThrough
   * can still matter (largest device clock shift + allowed lateness); 0 when clocks are not shifted.
   */
  constructor(
    private readonly pooling: boolean,
    guardSpanMs = 0,
    /** Windows keep only their count (ProcessorSpec `aggregates: 'count'`). */
    private readonly countOnly = false,
    /**
     * Count-only aligned windows that are never emitted while stored (no 'reemit'): the caller
     * counts a reading in `series.counts[i]` instead of absorbing it into `series.windows[i]`;
     * `settleCount` brings a window's count up to date before it is read.
     */
    readonly countsInSeries = false,
    /**
     * The same for tumbling windows: the caller counts a reading of the series' `recent` window
     * (while it is stored, see purge) in `series.recentCount`; it is added to the window when
     * another becomes recent, or by `settleCount`.
     */
    readonly countsInRecent = false,
    /** A series holding windows keeps its purgedThrough (in snapshots too), however old (sessions: see SeriesIndex.guarded). */
    guardFilledSeries = false,
  ) {
    this.index = new SeriesIndex(guardSpanMs, guardFilledSeries);
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

  openCount(): number {
    return this.open;
  }

  retainedCount(): number {
    return this.retained;
  }

  /** The earliest deadline of any window (+Infinity when none): nothing is due before it. */
  nextDeadline(): number {
    return this.deadlines.next();
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
    const pooled = this.pool.pop();
    let window: WindowState;
    if (pooled === undefined) window = new WindowState(series, start, end, this.countOnly);
    else {
      pooled.reuse(series, start, end);
      window = pooled;
    }
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
    this.schedule(window, retainedUntil);
    return window;
  }

  addSession(series: Series, start: number, end: number, shiftMs = 0): WindowState {
    const window = new WindowState(series, start, end, this.countOnly);
    window.shiftMs = shiftMs;
    if (series.windows.length === 0) this.index.filled();
    series.windows.push(window);
    series.starts.push(start);
    this.schedule(window, undefined);
    return window;
  }

  /**
   * An open session grew (a later reading, or a merge): it is due at its new end. It is stamped
   * now (the emission order is as if it were queued again now) but stays queued at its earlier
   * deadline: takeDue queues it at the later one when that comes. Otherwise every reading of a
   * session would add a heap entry and a bucket, nearly all of them stale by the time they are due.
   */
  extendSession(window: WindowState): void {
    const deadline = window.end + window.shiftMs;
    if (window.deadline === deadline) return;
    window.deadline = deadline;
    window.seq = this.nextSeq++;
    if (window.queuedAt > deadline) this.queue(window, deadline);
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
        this.enqueue(window, window.end + shiftMs);
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
        if (window.emitted) this.remove(window);
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
    this.enqueue(window, retainUntil);
  }

  /** Every open window, in emission order. */
  openWindows(): WindowState[] {
    const out: WindowState[] = [];
    for (const series of this.allSeries()) for (const window of series.windows) if (!window.emitted) out.push(window);
    return out.sort(compareQueued);
  }

  clear(): void {
    this.index.clear();
    this.deadlines.clear();
    this.open = 0;
    this.retained = 0;
    this.pool.length = 0;
  }

  earliestOffset(): number | null {
    let earliest = Number.POSITIVE_INFINITY;
    for (const series of this.allSeries()) {
      for (const window of series.windows) if (window.minOffset < earliest) earliest = window.minOffset;
    }
    return Number.isFinite(earliest) ? earliest : null;
  }

  estimatedBytes(): number {
    return this.estimateBytes().bytes;
  }

  /** The estimate, and the part of it that the windows (with their deadline entries) make up. */
  estimateBytes(): StateBytes {
    let seriesBytes = 0;
    let windowBytes = 0;
    for (const series of this.allSeries()) {
      seriesBytes += 120 + (series.tenant.length + series.device.length + series.metric.length) * 2;
      const windows = series.windows;
      for (let i = 0; i < windows.length; i++) {
        const window = windows[i]!;
        if (this.countsInSeries) window.count = series.counts[i]!;
        if (this.countsInRecent && series.recent === window) this.settleRecent(series);
        windowBytes += 48 + window.estimatedBytes();
      }
    }
    windowBytes += this.deadlines.size * 64;
    this.freshWindowBytes ??= 48 + new WindowAggregate(0, 0, this.countOnly).estimatedBytes() + 64;
    return { bytes: seriesBytes + windowBytes, windowBytes, freshWindowBytes: this.freshWindowBytes };
  }

  /** `watermark`: the partition's, which decides whose purgedThrough still matters. */
  encode(watermark: number): StoreSnapshot {
    const series: SeriesTuple[] = [];
    for (const one of this.allSeries()) {
      const guarded = this.index.guarded(one, watermark);
      if (one.windows.length === 0 && !guarded) continue;
      const windows = one.windows.map((window): WindowTuple => {
        const tuple: WindowTuple = [window.start, window.end, window.emitted ? 1 : 0, window.seq, this.settleCount(window).encode()];
        return window.shiftMs === 0 ? tuple : [...tuple, window.shiftMs];
      });
      series.push(guarded ? [one.tenant, one.device, one.metric, windows, one.purgedThrough] : [one.tenant, one.device, one.metric, windows]);
    }
    return { seq: this.nextSeq, series };
  }

  /**
   * Rebuilds windows from `encode()`'s output into this empty store. `retainUntil(closesAt)` (end + the window's shift) gives a
   * retained window's deadline under the current late policy, or undefined when it is no longer
   * retained.
   */
  decode(snapshot: unknown, retainUntil: (closesAt: number) => number | undefined): void {
    const state = snapshot as Partial<StoreSnapshot> | null;
    if (typeof state !== 'object' || state === null || typeof state.seq !== 'number' || !Array.isArray(state.series)) {
      throw new PipelineError('CORE_SNAPSHOT_INVALID', 'snapshot windows are malformed');
    }
    this.index.headsMoved();
    const queued: WindowState[] = [];
    for (const tuple of state.series) {
      if (!Array.isArray(tuple) || (tuple.length !== 4 && tuple.length !== 5) || !Array.isArray(tuple[3])) {
        throw new PipelineError('CORE_SNAPSHOT_INVALID', 'snapshot series entry is malformed');
      }
      const [tenant, device, metric, windows, purgedThrough] = tuple;
      const series = this.getOrCreateSeries(tenant, device, metric);
      if (typeof purgedThrough === 'number') series.purgedThrough = purgedThrough;
      for (const [start, end, emitted, seq, aggregate, shiftMs] of windows) {
        const window = new WindowState(series, start, end, this.countOnly);
        window.restore(aggregate);
        window.seq = seq;
        window.shiftMs = typeof shiftMs === 'number' ? shiftMs : 0;
        if (emitted === 1) {
          const until = retainUntil(end + window.shiftMs);
          if (until === undefined) {
            if (end > series.purgedThrough) series.purgedThrough = end;
            continue;
          }
          window.emitted = true;
          window.deadline = until;
          this.retained++;
        } else {
          window.deadline = end + window.shiftMs;
          this.open++;
        }
        series.windows.push(window);
        series.starts.push(start);
        if (this.countsInSeries) series.counts.push(window.count);
        queued.push(window);
      }
      if (series.windows.length > 0) this.index.filled();
    }
    // Queue in stamp order: windows due together come out in the order they did before.
    queued.sort((a, b) => a.seq - b.seq);
    for (const window of queued) this.queue(window, window.deadline);
    this.nextSeq = state.seq;
  }

  private schedule(window: WindowState, retainedUntil: number | undefined): void {
    if (retainedUntil === undefined) {
      this.open++;
      this.enqueue(window, window.end + window.shiftMs);
    } else {
      this.retained++;
      window.emitted = true;
      this.enqueue(window, retainedUntil);
    }
  }

  private enqueue(window: WindowState, deadline: number): void {
    window.deadline = deadline;
    window.seq = this.nextSeq++;
    this.queue(window, deadline);
  }

  private queue(window: WindowState, deadline: number): void {
    window.queuedAt = deadline;
    window.ticket = this.nextTicket++;
    this.deadlines.add(deadline, window, window.ticket);
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
    window.ticket = 0;
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
    if (this.pooling && this.pool.length < MAX_POOLED) this.pool.push(window);
  }

  private releasedTwice(window: WindowState): never {
    throw new PipelineError('CORE_WINDOW_RELEASED_TWICE', 'a window was released that is not live: it would be pooled or counted twice', {
      context: windowContext(window),
    });
  }
}
