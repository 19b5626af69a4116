import type { ProcessorSpec, ProcessorStats } from '../../src/core/processor-spec.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import { ModelClock, modelDeviceClocks } from './clock.ts';
import { rowOf, type Absorbed } from './row-values.ts';

/**
 * The reference model of the aggregation core (issue 16): given a partition's records in offset
 * order and a ProcessorSpec, the rows, late readings and counters a PartitionProcessor must emit.
 * Written for clarity: windows are plain objects holding the list of readings they absorbed, found
 * by scanning, and closed by scanning every window after each record; rows are computed from
 * scratch (row-values.ts). No pooling, no deadline queue, no caches, no snapshots.
 *
 * The rules, for each record in offset order:
 * 1. A tick, or a reading with finite times, advances the partition clock (clock.ts); then every
 *    OPEN window with end + shift ≤ WM is emitted, and kept RETAINED until end + shift + allowed
 *    lateness if the policy is 'reemit' and that lies past WM, else it is gone; every retained
 *    window whose time ran out (≤ WM) is gone. A window gone after being emitted raises its
 *    series' purgedThrough to its end.
 * 2. The reading's device shift is learned (clock.ts). A device that just entered "ahead" has its
 *    open windows with a larger shift moved to the new (earlier) shift; they close at the next
 *    record's step 1.
 * 3. Each finite metric value goes to its series (tenant, device, metric): aligned windows or
 *    sessions, below. A value that missed a window goes to the late topic ('late-topic', once per
 *    reading and metric) or is dropped.
 * At the end, `flush` emits every open window (PartitionProcessor.flushAll).
 */
export type LogEntry =
  | { readonly kind: 'tick'; readonly ingestTime: number }
  /** One Kafka record: a single reading or a batch, all at one offset. */
  | { readonly kind: 'readings'; readonly readings: readonly ReadingRecord[] };

export interface LateReading {
  readonly id: string;
  readonly metric: string;
  readonly offset: number;
}

/** The counters the model keeps (ProcessorStats without skippedRecords: the model never skips). */
export type ModelStats = Omit<ProcessorStats, 'skippedRecords'>;

export interface ModelRun {
  /** Every row emitted, in the model's order (the order is not part of the contract). */
  readonly rows: AggregateRow[];
  readonly late: LateReading[];
  readonly stats: ModelStats;
}

interface ModelWindow {
  start: number;
  end: number;
  shiftMs: number;
  state: 'open' | 'retained';
  retainUntil: number;
  readonly readings: Absorbed[];
  lateReadings: number;
}

interface ModelSeries {
  readonly tenant: string;
  readonly device: string;
  readonly metric: string;
  /** Creation order (sessions: the first of several candidates is the one that wins). */
  readonly windows: ModelWindow[];
  /** Largest end of an emitted window that is gone: such a window is never opened again. */
  purgedThrough: number;
}

export function referenceRun(spec: ProcessorSpec, log: readonly LogEntry[], flush: boolean): ModelRun {
  const model = new ReferenceCore(spec);
  log.forEach((entry, offset) => model.record(entry, offset));
  if (flush) model.flush();
  return { rows: model.rows, late: model.late, stats: model.stats };
}

class ReferenceCore {
  readonly rows: AggregateRow[] = [];
  readonly late: LateReading[] = [];
  readonly stats: ModelStats = {
    readings: 0,
    ticks: 0,
    values: 0,
    duplicates: 0,
    lateDropped: 0,
    lateToTopic: 0,
    lateAbsorbed: 0,
    rowsEmitted: 0,
    rowsUpdated: 0,
    windowsOpened: 0,
    eventTimeAhead: 0,
    invalidReadings: 0,
    invalidValues: 0,
  };
  private readonly clock: ModelClock;
  private readonly deviceClocks;
  private readonly series: ModelSeries[] = [];
  private readonly allowedLatenessMs: number;

  constructor(private readonly spec: ProcessorSpec) {
    this.clock = new ModelClock(spec);
    this.deviceClocks = modelDeviceClocks(spec);
    this.allowedLatenessMs = spec.latePolicy.kind === 'reemit' ? spec.latePolicy.allowedLatenessMs : 0;
  }

  record(entry: LogEntry, offset: number): void {
    if (entry.kind === 'tick') {
      this.stats.ticks++;
      if (!Number.isFinite(entry.ingestTime)) {
        this.stats.invalidReadings++;
        return;
      }
      this.clock.tick(entry.ingestTime);
      this.closeDue();
      return;
    }
    for (const reading of entry.readings) this.reading(reading, offset);
  }

  flush(): void {
    for (const series of this.series) for (const window of series.windows) if (window.state === 'open') this.emit(series, window, false);
    this.series.length = 0;
  }

  private reading(reading: ReadingRecord, offset: number): void {
    const eventTime = reading.eventTime + 0;
    const ingestTime = reading.ingestTime;
    if (!Number.isFinite(eventTime) || !Number.isFinite(ingestTime)) {
      this.stats.invalidReadings++;
      return;
    }
    this.stats.readings++;
    if (eventTime > ingestTime) this.stats.eventTimeAhead++;
    this.clock.reading(eventTime, ingestTime);
    this.closeDue();
    const watermark = this.clock.watermark();
    const shiftMs = this.deviceClocks.observe(reading.tenant, reading.device, eventTime, ingestTime);
    if (shiftMs < 0 && this.deviceClocks.takeEnteredAhead()) {
      for (const series of this.series) {
        if (series.tenant !== reading.tenant || series.device !== reading.device) continue;
        for (const window of series.windows) if (window.state === 'open' && window.shiftMs > shiftMs) window.shiftMs = shiftMs;
      }
    }
    for (const metric of Object.keys(reading.metrics)) {
      const raw = reading.metrics[metric];
      if (typeof raw !== 'number' || !Number.isFinite(raw)) {
        this.stats.invalidValues++;
        continue;
      }
      this.stats.values++;
      // -0 counts as 0 (min, max, first and last would otherwise depend on which zero came first).
      const value: Absorbed = { id: reading.id, value: raw + 0, eventTime, ingestTime };
      const missed =
        this.spec.window.kind === 'session'
          ? this.session(reading, metric, value, watermark, shiftMs)
          : this.aligned(reading, metric, value, watermark, shiftMs);
      if (!missed) continue;
      if (this.spec.latePolicy.kind === 'late-topic') {
        this.stats.lateToTopic++;
        this.late.push({ id: reading.id, metric, offset });
      } else {
        this.stats.lateDropped++;
      }
    }
  }

  /**
   * Tumbling and sliding: the value belongs to every window [start, start + size) with start a
   * multiple of the slide and start ≤ t < start + size. Each decides for itself: a window that
   * exists takes it (unless it holds the id; a retained one is re-emitted at once); a window
   * that does not exist opens if end + shift > WM and it was never emitted and gone
   * (end > purgedThrough); else, under 'reemit' with end + shift + allowed > WM (and the same
   * purgedThrough condition), it opens retained and is emitted at once; else the value missed it.
   * Returns whether the value missed any window.
   */
  private aligned(reading: ReadingRecord, metric: string, value: Absorbed, watermark: number, shiftMs: number): boolean {
    const window = this.spec.window;
    const sizeMs = window.kind === 'session' ? 0 : window.sizeMs;
    const slideMs = window.kind === 'sliding' ? window.slideMs : sizeMs;
    const t = value.eventTime;
    const lastStart = t - (((t % slideMs) + slideMs) % slideMs);
    let missed = false;
    let duplicate = false;
    let absorbedLate = false;
    for (let start = lastStart - sizeMs + slideMs; start <= lastStart; start += slideMs) {
      const end = start + sizeMs;
      const series = this.findSeries(reading, metric);
      let target = series?.windows.find((candidate) => candidate.start === start);
      if (target === undefined) {
        const gone = series !== undefined && end <= series.purgedThrough;
        if (end + shiftMs > watermark && !gone) {
          this.open(reading, metric, start, end, shiftMs).readings.push(value);
          continue;
        }
        const retainUntil = end + shiftMs + this.allowedLatenessMs;
        if (this.spec.latePolicy.kind !== 'reemit' || retainUntil <= watermark || gone) {
          missed = true;
          continue;
        }
        target = this.open(reading, metric, start, end, shiftMs);
        target.state = 'retained';
        target.retainUntil = retainUntil;
      }
      if (target.readings.some((held) => held.id === value.id)) {
        duplicate = true;
        continue;
      }
      target.readings.push(value);
      if (target.state === 'retained') {
        target.lateReadings++;
        absorbedLate = true;
        this.emit(this.findSeries(reading, metric)!, target, true);
      }
    }
    if (duplicate) this.stats.duplicates++;
    if (absorbedLate) this.stats.lateAbsorbed++;
    return missed;
  }

  /**
   * Sessions: a value whose id any session of the series holds is a duplicate. Else the first
   * retained session (frozen interval) containing t takes it and is re-emitted. Else it joins the
   * open sessions its proto-session [t, t + gap) overlaps, merging them into the first; else it
   * opens [t, t + gap) if t + gap + shift > WM; else it missed. But if t lies before the series'
   * purgedThrough — maybe in, or within a gap after, a session emitted and gone, whose start is a
   * key already written — it missed unless it joins open sessions one of which starts at or before
   * t: opening a session at t, or moving a start back to t, could write that key again with the
   * same version and other readings. Returns whether it missed.
   */
  private session(reading: ReadingRecord, metric: string, value: Absorbed, watermark: number, shiftMs: number): boolean {
    const gapMs = this.spec.window.kind === 'session' ? this.spec.window.gapMs : 0;
    const t = value.eventTime;
    const series = this.findSeries(reading, metric);
    const sessions = series?.windows ?? [];
    if (sessions.some((session) => session.readings.some((held) => held.id === value.id))) {
      this.stats.duplicates++;
      return false;
    }
    const frozen = sessions.find((session) => session.state === 'retained' && session.start <= t && t < session.end);
    if (frozen !== undefined) {
      frozen.readings.push(value);
      frozen.lateReadings++;
      this.stats.lateAbsorbed++;
      this.emit(series!, frozen, true);
      return false;
    }
    const overlapping = sessions.filter((session) => session.state === 'open' && session.start < t + gapMs && t < session.end);
    if (series !== undefined && t < series.purgedThrough && !overlapping.some((session) => session.start <= t)) return true;
    const [target, ...merged] = overlapping;
    if (target !== undefined) {
      for (const other of merged) {
        target.readings.push(...other.readings);
        target.lateReadings += other.lateReadings;
        target.start = Math.min(target.start, other.start);
        target.end = Math.max(target.end, other.end);
        target.shiftMs = Math.max(target.shiftMs, other.shiftMs);
        sessions.splice(sessions.indexOf(other), 1);
      }
      target.readings.push(value);
      target.start = Math.min(target.start, t);
      target.end = Math.max(target.end, t + gapMs);
      return false;
    }
    if (t + gapMs + shiftMs > watermark) {
      this.open(reading, metric, t, t + gapMs, shiftMs).readings.push(value);
      return false;
    }
    return true;
  }

  /** Step 1: emit what the watermark passed, expire what ran out of allowed lateness. */
  private closeDue(): void {
    const watermark = this.clock.watermark();
    const reemit = this.spec.latePolicy.kind === 'reemit';
    for (const series of this.series) {
      for (const window of [...series.windows]) {
        if (window.state === 'open') {
          if (window.end + window.shiftMs > watermark) continue;
          this.emit(series, window, false);
          const retainUntil = window.end + window.shiftMs + this.allowedLatenessMs;
          if (reemit && retainUntil > watermark) {
            window.state = 'retained';
            window.retainUntil = retainUntil;
            continue;
          }
        } else if (window.retainUntil > watermark) {
          continue;
        }
        series.windows.splice(series.windows.indexOf(window), 1);
        series.purgedThrough = Math.max(series.purgedThrough, window.end);
      }
    }
  }

  private open(reading: ReadingRecord, metric: string, start: number, end: number, shiftMs: number): ModelWindow {
    let series = this.findSeries(reading, metric);
    if (series === undefined) {
      series = { tenant: reading.tenant, device: reading.device, metric, windows: [], purgedThrough: Number.NEGATIVE_INFINITY };
      this.series.push(series);
    }
    const window: ModelWindow = { start, end, shiftMs, state: 'open', retainUntil: Number.NaN, readings: [], lateReadings: 0 };
    series.windows.push(window);
    this.stats.windowsOpened++;
    return window;
  }

  private findSeries(reading: ReadingRecord, metric: string): ModelSeries | undefined {
    return this.series.find((s) => s.tenant === reading.tenant && s.device === reading.device && s.metric === metric);
  }

  private emit(series: ModelSeries, window: ModelWindow, update: boolean): void {
    this.stats.rowsEmitted++;
    if (update) this.stats.rowsUpdated++;
    const place = {
      pipeline: this.spec.pipeline,
      partition: this.spec.partition,
      tenant: series.tenant,
      device: series.device,
      metric: series.metric,
      windowStart: window.start,
      windowEnd: window.end,
    };
    this.rows.push(rowOf(place, window.readings, window.lateReadings));
  }
}
