import { findSeries, Series } from './window-state.ts';

/** Empty series kept indexed before a sweep is considered. */
const EMPTY_SERIES_SLACK = 4096;

/**
 * The series of one partition: tenant → device → the device's series list. Nested maps look up
 * the strings of a decoded record as they are (their hashes are cached), where one composite key
 * would be built and hashed anew for every reading.
 *
 * A series without windows stays indexed (its device will most likely send again soon), until
 * empty series outnumber live ones: then they are swept. Which series are indexed never changes
 * the output, only memory. The window store tells the index when a series gains its first window
 * (`filled`) and loses its last (`emptied`).
 */
export class SeriesIndex {
  private readonly tenants = new Map<string, Map<string, Series>>();
  /** Counts changes that may move a device's head series other than by creating it (sweep, clear, decode). */
  private headsEpoch = 0;
  /** Indexed series, and how many of them hold no window. */
  private total = 0;
  private empty = 0;
  /** Empty series tolerated before a sweep (grows when a sweep keeps guarded series). */
  private sweepSlack = EMPTY_SERIES_SLACK;

  /**
   * `guardSpanMs`: how long after its last emitted window left the store a series' purgedThrough
   * can still matter (see the processor: shift, allowed lateness, session gap); 0 when never.
   * `guardFilled`: while a series holds windows its purgedThrough matters at any age (sessions: a
   * reading before it that reaches an open session would move that session's start back into the
   * span of one emitted and gone).
   */
  constructor(
    private readonly guardSpanMs: number,
    private readonly guardFilled = false,
  ) {}

  /** Changes when a head returned by `device` may no longer be the device's head. */
  headsVersion(): number {
    return this.headsEpoch;
  }

  /** Heads handed out before may no longer be heads (the owner rebuilt its series). */
  headsMoved(): void {
    this.headsEpoch++;
  }

  /** The head of a device's series list. */
  device(tenant: string, device: string): Series | undefined {
    return this.tenants.get(tenant)?.get(device);
  }

  getOrCreate(tenant: string, device: string, metric: string): Series {
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
      this.total++;
      this.empty++;
    }
    return series;
  }

  /** Every series, in insertion order. */
  *all(): IterableIterator<Series> {
    for (const devices of this.tenants.values()) {
      for (const head of devices.values()) {
        for (let series: Series | undefined = head; series !== undefined; series = series.sibling) yield series;
      }
    }
  }

  /** An empty series got a window. */
  filled(): void {
    this.empty--;
  }

  /** A series lost its last window; `watermark`: the partition's, which decides whose purgedThrough still matters. */
  emptied(watermark: number): void {
    this.empty++;
    if (this.empty > this.sweepSlack && this.empty * 2 > this.total) this.sweep(watermark);
  }

  /** Whether a series' purgedThrough can still refuse a reading (an empty series then stays indexed, a snapshot keeps it). */
  guarded(series: Series, watermark: number): boolean {
    if (this.guardFilled && series.windows.length > 0 && series.purgedThrough !== Number.NEGATIVE_INFINITY) return true;
    return this.guardSpanMs > 0 && series.purgedThrough > watermark - this.guardSpanMs;
  }

  clear(): void {
    this.headsEpoch++;
    this.tenants.clear();
    this.total = 0;
    this.empty = 0;
  }

  private sweep(watermark: number): void {
    this.headsEpoch++;
    for (const [tenant, devices] of this.tenants) {
      for (const [device, head] of devices) {
        let first: Series | undefined;
        let last: Series | undefined;
        for (let series: Series | undefined = head; series !== undefined; series = series.sibling) {
          if (series.windows.length === 0 && !this.guarded(series, watermark)) continue;
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
    for (const series of this.all()) if (series.windows.length === 0) kept++;
    this.total -= this.empty - kept;
    this.empty = kept;
    // Guarded series expire with the watermark; until then, do not sweep again at every purge.
    this.sweepSlack = Math.max(EMPTY_SERIES_SLACK, 2 * kept);
  }
}
