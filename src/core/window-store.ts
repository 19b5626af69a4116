import { WindowAggregate, type AggregateTuple } from './aggregate.ts';
import { DeadlineQueue } from './deadlines.ts';
import { PipelineError } from './errors.ts';

/**
 * The windows of one partition, indexed by series (tenant, device, metric) and by deadline.
 *
 * A window is OPEN until the watermark passes its end; then it is emitted and either dropped or
 * RETAINED (late policy 'reemit') until the watermark passes end + allowed lateness. Its
 * `deadline` is whichever of those instants comes next; the deadline queue hands windows back
 * when the watermark reaches it.
 */
export class WindowState extends WindowAggregate {
  /** Stamp of the window's latest entry into the deadline queue: orders windows due together. */
  seq = 0;
  emitted = false;
  /** Merged away or purged: its entries left in the deadline queue are stale. */
  dead = false;
  /** The device's clock shift when the window opened: it closes at end + shiftMs (see device-clock.ts). */
  shiftMs = 0;
  /** Deadline of the window's live entry in the deadline queue (+Infinity: none); see extendSession. */
  queuedAt = Number.POSITIVE_INFINITY;

  constructor(
    public series: Series,
    start: number,
    end: number,
    countOnly = false,
  ) {
    super(start, end, countOnly);
  }

  /** Makes a purged window new again, for another series or period (see WindowStore's pool). */
  reuse(series: Series, start: number, end: number): void {
    this.reset(start, end);
    this.series = series;
    this.emitted = false;
    this.dead = false;
    this.shiftMs = 0;
    this.queuedAt = Number.POSITIVE_INFINITY;
  }
}

export class Series {
  /** Aligned windows: ascending start. Sessions: creation order (kept across snapshots). */
  readonly windows: WindowState[] = [];
  /**
   * Aligned windows: `windows[i].start`, as unboxed doubles in one array, so that finding a
   * reading's windows reads no window. (Sessions keep it only in step: their starts move.)
   */
  readonly starts: number[] = [];
  /**
   * Stores that keep counts in series (see WindowStore): `windows[i]`'s count, in step with
   * `starts`, so that a reading counted in its windows reads no window (a sliding reading has
   * several). The window's own `count` is brought up to date only when it is read.
   */
  readonly counts: number[] = [];
  /** The window a reading of this series touched last: usually the next one's too. */
  recent: WindowState | undefined = undefined;
  /** `recent`'s start, kept here so that a hit reads no window cells. */
  recentStart = Number.NaN;
  /**
   * Stores that keep counts in recent (see WindowStore): readings counted in `recent` but not yet
   * added to its count, so that a reading counted in the window it touched last reads no window.
   */
  recentCount = 0;
  /** The device's next series (another metric): a device's series form a short list. */
  sibling: Series | undefined = undefined;
  /**
   * The largest end of this series' emitted windows that have left the store. A window ending
   * there or before may have been emitted already, so it must not be opened again from scratch
   * (a second row for the same key) when the device's clock shift grew since, or its clock was set
   * back (a device ahead whose clock was fixed).
   */
  purgedThrough = Number.NEGATIVE_INFINITY;

  constructor(
    readonly tenant: string,
    readonly device: string,
    readonly metric: string,
  ) {}
}

/**
 * The series of a device's `metric`, from the head of its list. Metric names are property keys
 * of the decoded reading, which V8 interns, so `===` compares pointers.
 */
export function findSeries(head: Series | undefined, metric: string): Series | undefined {
  let series = head;
  while (series !== undefined && series.metric !== metric) series = series.sibling;
  return series;
}

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

/** Empty series kept indexed before a sweep is considered. */
const EMPTY_SERIES_SLACK = 4096;
/** Purged windows kept for reuse. */
const MAX_POOLED = 65_536;

/**
 * Emission order: by deadline, then by when the window entered the queue. That is a function of
 * the record sequence, and the snapshot keeps the stamps, so a restored processor emits in the
 * same order — without sorting thousands of windows by name at every window boundary.
 */
export function compareQueued(a: WindowState, b: WindowState): number {
  return a.deadline - b.deadline || a.seq - b.seq;
}

export class WindowStore {
  /**
   * tenant → device → the device's series list. Nested maps look up the strings of a decoded
   * record as they are (their hashes are cached), where one composite key would be built and
   * hashed anew for every reading.
   */
  private readonly tenants = new Map<string, Map<string, Series>>();
  /** Counts changes that may move a device's head series other than by creating it (sweep, clear, decode). */
  private headsEpoch = 0;
  private readonly deadlines = new DeadlineQueue<WindowState>();
  private open = 0;
  private retained = 0;
  /** Indexed series, and how many of them hold no window. */
  private seriesTotal = 0;
  private emptySeries = 0;
  /**
   * Purged aligned windows, reused for new ones: a window lives through many young-generation
   * collections, so allocating one per series and period is what made the GC expensive.
   * (Sessions are not pooled: a merged-away session may still sit in the deadline queue.)
   */
  private readonly pool: WindowState[] = [];
  private nextSeq = 0;
  /** The watermark of the last takeDue: empty series purged after watermark − guardSpanMs stay indexed. */
  private watermark = Number.NEGATIVE_INFINITY;
  /** Empty series tolerated before a sweep (grows when a sweep keeps guarded series). */
  private sweepSlack = EMPTY_SERIES_SLACK;
  private freshWindowBytes: number | undefined;

  /**
   * `guardSpanMs`: how long after its last emitted window left the store a series' purgedThrough
   * can still matter (largest device clock shift + allowed lateness); 0 when clocks are not shifted.
   */
  constructor(
    private readonly pooling: boolean,
    private readonly guardSpanMs = 0,
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
  ) {}

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

  /** Changes when a head returned by deviceSeries may no longer be the device's head (see headsEpoch). */
  headsVersion(): number {
    return this.headsEpoch;
  }

  /** The head of a device's series list. */
  deviceSeries(tenant: string, device: string): Series | undefined {
    return this.tenants.get(tenant)?.get(device);
  }

  getOrCreateSeries(tenant: string, device: string, metric: string): Series {
    let devices = this.tenants.get(tenant);
    if (devices === undefined) {
      devices = new Map();
      this.tenants.set(tenant, devices);
    }
    const head = devices.get(device);
    let series = findSeries(head, metric);
    if (series === undefined) {
      series = new Series(tenant, device, metric);
      if (head === undefined) devices.set(device, series);
      else {
        let tail = head;
        while (tail.sibling !== undefined) tail = tail.sibling;
        tail.sibling = series;
      }
      this.seriesTotal++;
      this.emptySeries++;
    }
    return series;
  }

  /** Every series, in insertion order. */
  *allSeries(): IterableIterator<Series> {
    for (const devices of this.tenants.values()) {
      for (const head of devices.values()) {
        for (let series: Series | undefined = head; series !== undefined; series = series.sibling) yield series;
      }
    }
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
    if (windows.length === 0) this.emptySeries--;
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
    if (series.windows.length === 0) this.emptySeries--;
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
    target.merge(other);
    if (other.start < target.start) target.start = other.start;
    if (other.end > target.end) target.end = other.end;
    if (other.shiftMs > target.shiftMs) target.shiftMs = other.shiftMs;
    this.remove(other);
  }

  /**
   * A device's clock was found to run ahead: its open windows due later than end + `shiftMs`
   * (opened while it was learned) become due then. Only ever earlier, so no reading they could
   * still take on the device's clock arrives after them.
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
      for (const window of deadlines.takeNext()) {
        if (window.dead || window.queuedAt !== deadline) continue;
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
    this.headsEpoch++;
    this.tenants.clear();
    this.seriesTotal = 0;
    this.emptySeries = 0;
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
      const guarded = this.guarded(one, watermark);
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
    this.headsEpoch++;
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
      if (series.windows.length > 0) this.emptySeries--;
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
    this.deadlines.add(deadline, window);
  }

  /** Drops a live window (an expired retained one, or a session merged away). */
  private remove(window: WindowState): void {
    if (window.emitted) this.retained--;
    else this.open--;
    this.purge(window);
  }

  private purge(window: WindowState): void {
    window.dead = true;
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
    if (windows.length === 0) this.forget();
    if (this.pooling && this.pool.length < MAX_POOLED) this.pool.push(window);
  }

  /**
   * A series without windows stays indexed (its device will most likely send again soon), until
   * empty series outnumber live ones: then they are swept. Which series are indexed never
   * changes the output, only memory.
   */
  private forget(): void {
    this.emptySeries++;
    if (this.emptySeries > this.sweepSlack && this.emptySeries * 2 > this.seriesTotal) this.sweep();
  }

  /** Whether an empty series must stay indexed: its purgedThrough can still refuse a reading. */
  private guarded(series: Series, watermark: number): boolean {
    return this.guardSpanMs > 0 && series.purgedThrough > watermark - this.guardSpanMs;
  }

  private sweep(): void {
    this.headsEpoch++;
    for (const [tenant, devices] of this.tenants) {
      for (const [device, head] of devices) {
        let first: Series | undefined;
        let last: Series | undefined;
        for (let series: Series | undefined = head; series !== undefined; series = series.sibling) {
          if (series.windows.length === 0 && !this.guarded(series, this.watermark)) continue;
          if (last === undefined) first = series;
          else last.sibling = series;
          last = series;
        }
        if (last !== undefined) last.sibling = undefined;
        if (first === undefined) devices.delete(device);
        else if (first !== head) devices.set(device, first);
      }
      if (devices.size === 0) this.tenants.delete(tenant);
    }
    let kept = 0;
    for (const series of this.allSeries()) if (series.windows.length === 0) kept++;
    this.seriesTotal -= this.emptySeries - kept;
    this.emptySeries = kept;
    // Guarded series expire with the watermark; until then, do not sweep again at every purge.
    this.sweepSlack = Math.max(EMPTY_SERIES_SLACK, 2 * kept);
  }
}
