import { DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS, DeviceClockCache, DeviceClocks, type DeviceClockCounts } from './device-clock.ts';
import { PipelineError } from './errors.ts';
import { hashId } from './hash.ts';
import { isTick, type ReadingRecord, type ReadingsTopicRecord } from './readings.ts';
import type { AggregateRow } from './rows.ts';
import { alignedStart, windowsPerReading } from './windows.ts';
import { PartitionClock, createPartitionClock, type DelayQuantiles, type PartitionClockSnapshot } from './watermarks.ts';
import { findSeries, WindowStore, type Series, type StateBytes, type WindowState } from './window-store.ts';
import {
  emptyStats,
  validateProcessorSpec,
  windowSignature,
  type ProcessorOutput,
  type ProcessorSpec,
  type ProcessorStats,
} from './processor-spec.ts';

/**
 * The windowed aggregation of ONE partition of the readings topic, as a pure state machine:
 * records go in (in offset order), rows and late readings come out. No clock, no I/O. The output
 * is a function of the record sequence (and of a restored snapshot) alone, so a replay after a
 * crash emits the same rows with the same versions.
 */
export type { LatePolicySpec, ProcessorOutput, ProcessorSpec, ProcessorStats } from './processor-spec.ts';

// Small integer codes: the hot path compares these instead of strings.
const Kind = { Tumbling: 0, Sliding: 1, Session: 2 } as const;
type Kind = (typeof Kind)[keyof typeof Kind];
const Late = { Drop: 0, Topic: 1, Reemit: 2 } as const;
type Late = (typeof Late)[keyof typeof Late];

const SNAPSHOT_VERSION = 1;

export class PartitionProcessor {
  readonly spec: ProcessorSpec;
  private readonly kind: Kind;
  /** Aligned windows: size and slide (slide = size when tumbling). Sessions: the gap. */
  private readonly sizeMs: number;
  private readonly slideMs: number;
  private readonly windowsPerValue: number;
  private readonly late: Late;
  private readonly allowedLatenessMs: number;
  /** ProcessorSpec `aggregates: 'count'`: windows count readings and nothing else. */
  private readonly countOnly: boolean;
  private clock: PartitionClock;
  private readonly store: WindowStore;
  /** Per-device clock offsets: a device whose clock runs behind gets later window deadlines, one ahead earlier ones. */
  private readonly deviceClocks: DeviceClocks;
  private readonly counters: ProcessorStats = emptyStats();
  private next: number | null = null;
  /** Reused between closings: windows due for emission. */
  private readonly due: WindowState[] = [];
  /** Reused by session assignment: the open sessions a reading bridges. */
  private readonly bridged: WindowState[] = [];
  /** `aggregates: 'count'`: the one row object (see countRow). */
  private countRowScratch: Mutable<AggregateRow> | undefined;
  /** processNumbered, by the caller's device number: what the processor keeps of that device. */
  private readonly numbered: NumberedDevice[] = [];
  /** Starts of the aligned windows the last reading missed (see lastMissedWindowStarts). */
  private readonly missedStarts: number[] = [];

  constructor(spec: ProcessorSpec) {
    validateProcessorSpec(spec);
    this.spec = spec;
    const window = spec.window;
    this.kind = window.kind === 'tumbling' ? Kind.Tumbling : window.kind === 'sliding' ? Kind.Sliding : Kind.Session;
    this.sizeMs = window.kind === 'session' ? window.gapMs : window.sizeMs;
    this.slideMs = window.kind === 'sliding' ? window.slideMs : this.sizeMs;
    this.windowsPerValue = windowsPerReading(window);
    const policy = spec.latePolicy;
    this.late = policy.kind === 'drop' ? Late.Drop : policy.kind === 'late-topic' ? Late.Topic : Late.Reemit;
    this.allowedLatenessMs = policy.kind === 'reemit' ? policy.allowedLatenessMs : 0;
    this.clock = createPartitionClock(spec.watermark, spec.idleTimeoutMs);
    const maxOffsetMs = spec.maxDeviceClockOffsetMs ?? DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS;
    // Shifts are rounded to the slide (at most 1 s) so that shifted windows share deadlines.
    const quantumMs = this.kind === Kind.Session ? 1000 : Math.min(this.slideMs, 1000);
    this.deviceClocks = new DeviceClocks({
      maxOffsetMs,
      coveredDelayMs: spec.watermark.kind === 'fixed' ? spec.watermark.delayMs : spec.watermark.ceilingMs,
      quantumMs,
    });
    // How long after it left the store a series' purgedThrough can still refuse a reading. Aligned:
    // a window ending there reopens only under a grown shift (+ the allowed lateness). Sessions: a
    // proto-session [t, t + gap) before it may still end past the watermark, shifted or not.
    const shiftSpanMs = maxOffsetMs > 0 ? maxOffsetMs + quantumMs : 0;
    const guardSpanMs = this.kind === Kind.Session ? shiftSpanMs + this.sizeMs : shiftSpanMs > 0 ? shiftSpanMs + this.allowedLatenessMs : 0;
    this.countOnly = spec.aggregates === 'count';
    // Count-only aligned windows without 'reemit' are counted in their series (see assignAligned).
    const countedInSeries = this.countOnly && this.late !== Late.Reemit;
    this.store = new WindowStore(
      this.kind !== Kind.Session,
      guardSpanMs,
      this.countOnly,
      countedInSeries && this.kind === Kind.Sliding,
      countedInSeries && this.kind === Kind.Tumbling,
      // An open session may reach back to a purged one at any distance from the watermark.
      this.kind === Kind.Session,
    );
  }

  /** Live counters (read-only view; they keep changing). */
  get stats(): Readonly<ProcessorStats> {
    return this.counters;
  }

  process(record: ReadingsTopicRecord, offset: number, out: ProcessorOutput): void {
    if (this.next !== null && offset < this.next) {
      this.counters.skippedRecords++;
      return;
    }
    this.next = offset + 1;
    if (isTick(record)) {
      this.counters.ticks++;
      if (!Number.isFinite(record.ingestTime)) {
        this.counters.invalidReadings++;
        return;
      }
      this.clock.observeTick(record.ingestTime);
      this.closeDue(out);
      return;
    }
    this.processReading(record, offset, out);
  }

  /**
   * `process` for a reading whose (tenant, device) the caller numbers `device` (dense from 0, one
   * number per pair, as a replay numbers its trace's devices): the same output, without looking
   * the device up by name for every reading. A number seen with another pair is bound anew; a
   * pair has one number at a time. The caches are sized by the largest number, so number each
   * processor's devices from 0.
   */
  processNumbered(reading: ReadingRecord, device: number, offset: number, out: ProcessorOutput): void {
    if (this.next !== null && offset < this.next) {
      this.counters.skippedRecords++;
      return;
    }
    this.next = offset + 1;
    let numbered = this.numbered[device];
    if (numbered === undefined || numbered.device !== reading.device || numbered.tenant !== reading.tenant) numbered = this.bindNumber(device, reading);
    this.processReading(reading, offset, out, numbered);
  }

  private bindNumber(number: number, reading: ReadingRecord): NumberedDevice {
    // Made in number order, ahead of use: neighbours in number sit near each other in memory.
    while (this.numbered.length <= number) this.numbered.push(new NumberedDevice());
    const numbered = this.numbered[number]!;
    numbered.bind(reading.tenant, reading.device);
    return numbered;
  }

  /**
   * The readings of ONE Kafka record (a batch record carries several), in order, at that record's
   * offset: the record is skipped or processed whole, so that replay and commit by offset hold.
   */
  processReadings(readings: readonly ReadingRecord[], offset: number, out: ProcessorOutput): void {
    if (this.next !== null && offset < this.next) {
      this.counters.skippedRecords++;
      return;
    }
    this.next = offset + 1;
    for (let i = 0; i < readings.length; i++) this.processReading(readings[i]!, offset, out);
  }

  /** Emits every open window regardless of the watermark (end of a finite replay); keeps no windows. */
  flushAll(out: ProcessorOutput): void {
    for (const window of this.store.openWindows()) this.emit(window, out, false);
    this.store.clear();
  }

  watermark(): number {
    return this.clock.watermark();
  }

  progressClock(): number {
    return this.clock.progressClock();
  }

  currentDelayMs(): number {
    return this.clock.currentDelayMs();
  }

  /** Arrival-delay quantiles within the horizon (adaptive watermark), or null (fixed). */
  delayQuantiles(): DelayQuantiles | null {
    return this.clock.delayQuantiles();
  }

  isIdle(): boolean {
    return this.clock.isIdle();
  }

  openWindows(): number {
    return this.store.openCount();
  }

  retainedWindows(): number {
    return this.store.retainedCount();
  }

  /** Devices whose windows close off the partition's deadline because their clock runs behind or ahead (and those beyond the ceiling). */
  deviceClockCounts(): DeviceClockCounts {
    return this.deviceClocks.counts();
  }

  estimatedStateBytes(): number {
    return this.estimateState().bytes;
  }

  /** estimatedStateBytes, and the part of it that the windows make up (it walks every window: not per reading). */
  estimateState(): StateBytes {
    const estimate = this.store.estimateBytes();
    return { ...estimate, bytes: estimate.bytes + 32 * 1024 };
  }

  /**
   * Starts of the aligned windows the last reading missed (empty when it missed none; written
   * only on the late path). A sliding reading may miss its first windows and join later ones, and
   * a window it missed may still be opened by a later reading of its device (one whose clock
   * shift grew): the what-if replay reads this to know which rows hold the reading.
   */
  lastMissedWindowStarts(): readonly number[] {
    return this.missedStarts;
  }

  /** The smallest offset whose reading is still in an open or retained window, or null. */
  earliestNeededOffset(): number | null {
    return this.store.earliestOffset();
  }

  /** The offset after the last processed record, or null before the first. */
  nextOffset(): number | null {
    return this.next;
  }

  snapshot(): string {
    const spec = this.spec;
    return JSON.stringify({
      v: SNAPSHOT_VERSION,
      pipeline: spec.pipeline,
      partition: spec.partition,
      window: windowSignature(spec.window),
      next: this.next,
      clock: this.clock.snapshot(),
      stats: this.counters,
      windows: this.store.encode(this.clock.watermark()),
      deviceClocks: this.deviceClocks.snapshot(),
    });
  }

  /**
   * Rebuilds a processor from `snapshot()`. The pipeline, partition and window must match the
   * snapshot's. A changed watermark spec restarts the delay estimate (the watermark itself stays);
   * a changed late policy applies to retained windows from now on.
   */
  static restore(spec: ProcessorSpec, snapshot: string): PartitionProcessor {
    let state: SnapshotShape;
    try {
      state = JSON.parse(snapshot) as SnapshotShape;
    } catch (error) {
      throw new PipelineError('CORE_SNAPSHOT_INVALID', 'processor snapshot is not JSON', { cause: error, context: snapshotContext(spec) });
    }
    if (typeof state !== 'object' || state === null || state.v !== SNAPSHOT_VERSION) {
      throw new PipelineError('CORE_SNAPSHOT_INVALID', `processor snapshot version is not ${SNAPSHOT_VERSION}`, { context: snapshotContext(spec) });
    }
    const expected = windowSignature(spec.window);
    if (state.pipeline !== spec.pipeline || state.partition !== spec.partition || state.window !== expected) {
      throw new PipelineError(
        'CORE_SNAPSHOT_INCOMPATIBLE',
        `snapshot of pipeline '${String(state.pipeline)}' partition ${String(state.partition)} window ${String(state.window)} ` +
          `cannot be restored into pipeline '${spec.pipeline}' partition ${spec.partition} window ${expected}`,
        { context: snapshotContext(spec) },
      );
    }
    const processor = new PartitionProcessor(spec);
    processor.clock = PartitionClock.restore(spec.watermark, spec.idleTimeoutMs, state.clock);
    processor.next = typeof state.next === 'number' ? state.next : null;
    for (const key of Object.keys(processor.counters) as Array<keyof ProcessorStats>) {
      const value = state.stats?.[key];
      if (typeof value === 'number') processor.counters[key] = value;
    }
    const watermark = processor.clock.watermark();
    processor.store.decode(state.windows, (closesAt) => {
      if (processor.late !== Late.Reemit) return undefined;
      const until = closesAt + processor.allowedLatenessMs;
      return until > watermark ? until : undefined;
    });
    processor.deviceClocks.restore(state.deviceClocks);
    return processor;
  }

  /** The head of the reading's device's series list; `numbered`: the device's processNumbered record, or null. */
  private deviceHead(reading: ReadingRecord, numbered: NumberedDevice | null): Series | undefined {
    if (numbered === null) return this.store.deviceSeries(reading.tenant, reading.device);
    const version = this.store.headsVersion();
    const cached = numbered.head;
    if (cached !== undefined && numbered.headsVersion === version) return cached;
    const head = this.store.deviceSeries(reading.tenant, reading.device);
    numbered.head = head;
    numbered.headsVersion = version;
    return head;
  }

  private processReading(reading: ReadingRecord, offset: number, out: ProcessorOutput, numbered: NumberedDevice | null = null): void {
    const eventTime = reading.eventTime + 0;
    const ingestTime = reading.ingestTime;
    if (!Number.isFinite(eventTime) || !Number.isFinite(ingestTime)) {
      this.counters.invalidReadings++;
      return;
    }
    const stats = this.counters;
    stats.readings++;
    if (this.missedStarts.length !== 0) this.missedStarts.length = 0;
    if (eventTime > ingestTime) stats.eventTimeAhead++;
    this.clock.observeReading(eventTime, ingestTime);
    this.closeDue(out);
    const watermark = this.clock.watermark();
    const shiftMs = this.deviceClocks.observe(reading.tenant, reading.device, eventTime, ingestTime, numbered);
    if (shiftMs < 0 && this.deviceClocks.takeEnteredAhead()) {
      this.store.closeEarlier(this.deviceHead(reading, numbered), shiftMs);
    }
    const idHash = this.countOnly ? 0 : hashId(reading.id);
    let deviceHead: Series | undefined = this.deviceHead(reading, numbered);
    const metrics = reading.metrics;
    for (const metric in metrics) {
      const raw = metrics[metric];
      if (typeof raw !== 'number' || !Number.isFinite(raw)) {
        stats.invalidValues++;
        continue;
      }
      stats.values++;
      // `+ 0` folds -0 into 0 so that min/max/first/last serialise and compare exactly.
      const value = raw + 0;
      const series = findSeries(deviceHead, metric);
      if (this.kind === Kind.Session) {
        this.assignSession(reading, metric, series, idHash, value, eventTime, offset, watermark, shiftMs, out);
      } else {
        this.assignAligned(reading, metric, series, idHash, value, eventTime, offset, watermark, shiftMs, out);
      }
      // The device's first series starts its list.
      deviceHead ??= this.deviceHead(reading, numbered);
    }
  }

  /**
   * Tumbling and sliding windows: each window decides on time / late for itself. A window still in
   * the store takes the reading (an emitted one is corrected); otherwise the reading opens it if
   * the watermark has not passed end + the device's clock shift, or, within the allowed lateness,
   * opens it retained and emits it at once. No window that may have been emitted and purged already
   * (end ≤ series.purgedThrough) is opened again: that would be a second row. Only a device whose
   * shift grew, or whose clock ahead was set back, can get there before the watermark does.
   */
  private assignAligned(
    reading: ReadingRecord,
    metric: string,
    found: Series | undefined,
    idHash: number,
    value: number,
    eventTime: number,
    offset: number,
    watermark: number,
    shiftMs: number,
    out: ProcessorOutput,
  ): void {
    const store = this.store;
    const ingestTime = reading.ingestTime;
    let series = found;
    let duplicate = false;
    let missed = false;
    let absorbedLate = false;
    let start = alignedStart(eventTime, this.slideMs) - (this.windowsPerValue - 1) * this.slideMs;
    // Sliding: the series' windows ascend by start, as do the reading's: one cursor walks both.
    // Tumbling: the window the series touched last is nearly always the one.
    const sliding = this.windowsPerValue > 1;
    // The store keeps counts in the series: a reading is counted there, and no window is read.
    const countsInSeries = store.countsInSeries;
    const countsInRecent = store.countsInRecent;
    let index = sliding && series !== undefined ? store.firstAlignedFrom(series, start) : 0;
    for (let i = 0; i < this.windowsPerValue; i++, start += this.slideMs) {
      const end = start + this.sizeMs;
      let window: WindowState | undefined;
      if (series !== undefined) {
        if (!sliding) {
          if (countsInRecent && series.recent !== undefined && series.recentStart === start) {
            // Count-only, never emitted while stored (no 'reemit'): counted in the series, no window read.
            series.recentCount++;
            continue;
          }
          window = store.findAligned(series, start);
        } else if (series.starts[index] === start) {
          if (countsInSeries) {
            // Count-only, never emitted while stored (no 'reemit'): absorbing is counting.
            series.counts[index++]!++;
            continue;
          }
          window = series.windows[index++];
        }
      }
      if (window === undefined) {
        const closesAt = end + shiftMs;
        const reopens = series !== undefined && end <= series.purgedThrough;
        if (closesAt > watermark && !reopens) {
          series ??= store.getOrCreateSeries(reading.tenant, reading.device, metric);
          window = store.addAligned(series, start, end, undefined, shiftMs);
          if (countsInSeries) series.counts[index]!++;
          else window.absorb(idHash, value, eventTime, ingestTime, offset);
          index++;
          this.counters.windowsOpened++;
          continue;
        }
        const retainUntil = closesAt + this.allowedLatenessMs;
        if (this.late !== Late.Reemit || retainUntil <= watermark || reopens) {
          missed = true;
          this.missedStarts.push(start);
          continue;
        }
        // Within the allowed lateness: emit the window for the first time.
        series ??= store.getOrCreateSeries(reading.tenant, reading.device, metric);
        window = store.addAligned(series, start, end, retainUntil, shiftMs);
        index++;
        this.counters.windowsOpened++;
      }
      if (!window.absorb(idHash, value, eventTime, ingestTime, offset)) {
        duplicate = true;
        continue;
      }
      if (!window.emitted) continue;
      // Within the allowed lateness: correct the emitted window.
      window.lateReadings++;
      absorbedLate = true;
      this.emit(window, out, true);
    }
    if (duplicate) this.counters.duplicates++;
    if (absorbedLate) this.counters.lateAbsorbed++;
    if (missed) this.missed(reading, metric, offset, out);
  }

  /**
   * Session windows. A reading is a duplicate if any session of its series holds its id. It is
   * absorbed late by a retained session that contains its event time (the emitted session's
   * [start, end) is frozen: the row key is its start). Otherwise it joins, and merges, the open
   * sessions its proto-session [t, t + gap) overlaps; else it opens a session if that would still
   * be open; else it is late. Before the series' purgedThrough, though, it may lie in (or within a
   * gap after) a session emitted and gone, whose start is a key already written: there it only
   * joins open sessions that start at or before it, and is late if it would open a session or move
   * a start back to its event time (that key could be written again, same version, other readings).
   */
  private assignSession(
    reading: ReadingRecord,
    metric: string,
    found: Series | undefined,
    idHash: number,
    value: number,
    eventTime: number,
    offset: number,
    watermark: number,
    shiftMs: number,
    out: ProcessorOutput,
  ): void {
    const store = this.store;
    const ingestTime = reading.ingestTime;
    const protoEnd = eventTime + this.sizeMs;
    const series = found;
    let gone = false;
    if (series !== undefined) {
      const windows = series.windows;
      for (let i = 0; i < windows.length && !this.countOnly; i++) {
        if (windows[i]!.has(idHash)) {
          this.counters.duplicates++;
          return;
        }
      }
      const bridged = this.bridged;
      bridged.length = 0;
      for (let i = 0; i < windows.length; i++) {
        const window = windows[i]!;
        if (window.emitted) {
          if (window.start <= eventTime && eventTime < window.end) {
            window.absorb(idHash, value, eventTime, ingestTime, offset);
            window.lateReadings++;
            this.counters.lateAbsorbed++;
            this.emit(window, out, true);
            return;
          }
        } else if (window.start < protoEnd && eventTime < window.end) {
          bridged.push(window);
        }
      }
      let target = bridged[0];
      if (eventTime < series.purgedThrough) {
        gone = target === undefined || eventTime < earliestStart(bridged);
        if (gone) target = undefined;
      }
      if (target !== undefined) {
        for (let i = 1; i < bridged.length; i++) store.mergeSessions(target, bridged[i]!);
        bridged.length = 0;
        target.absorb(idHash, value, eventTime, ingestTime, offset);
        if (eventTime < target.start) target.start = eventTime;
        if (protoEnd > target.end) target.end = protoEnd;
        store.extendSession(target);
        return;
      }
    }
    if (protoEnd + shiftMs > watermark && !gone) {
      const session = store.addSession(
        series ?? store.getOrCreateSeries(reading.tenant, reading.device, metric),
        eventTime,
        protoEnd,
        shiftMs,
      );
      this.counters.windowsOpened++;
      session.absorb(idHash, value, eventTime, ingestTime, offset);
      return;
    }
    this.missed(reading, metric, offset, out);
  }

  private missed(reading: ReadingRecord, metric: string, offset: number, out: ProcessorOutput): void {
    if (this.late === Late.Topic) {
      this.counters.lateToTopic++;
      out.emitLate(reading, metric, offset);
    } else {
      this.counters.lateDropped++;
    }
  }

  /** Emits every open window the watermark has passed (in the store's deterministic order). */
  private closeDue(out: ProcessorOutput): void {
    const watermark = this.clock.watermark();
    if (watermark < this.store.nextDeadline()) return;
    const due = this.due;
    this.store.takeDue(watermark, due);
    for (let i = 0; i < due.length; i++) {
      const window = due[i]!;
      this.emit(window, out, false);
      const retainUntil = window.end + window.shiftMs + this.allowedLatenessMs;
      this.store.closed(window, this.late === Late.Reemit && retainUntil > watermark ? retainUntil : undefined);
    }
    due.length = 0;
  }

  private emit(window: WindowState, out: ProcessorOutput, update: boolean): void {
    const series = window.series;
    this.counters.rowsEmitted++;
    if (update) this.counters.rowsUpdated++;
    if (this.countOnly) {
      out.emitRow(this.countRow(this.store.settleCount(window)));
      return;
    }
    out.emitRow({
      pipeline: this.spec.pipeline,
      tenant: series.tenant,
      device: series.device,
      metric: series.metric,
      windowStart: window.start,
      windowEnd: window.end,
      count: window.count,
      sum: window.sum(),
      min: window.min,
      max: window.max,
      first: window.first,
      last: window.last,
      firstTime: window.firstTime,
      lastTime: window.lastTime,
      p50: window.median(),
      lateReadings: window.lateReadings,
      maxIngestTime: window.maxIngestTime,
      partition: this.spec.partition,
      version: window.count,
    });
  }

  /**
   * A row of `aggregates: 'count'`: the aggregates it does not compute are NaN. One object per
   * processor, refilled for every row (see ProcessorOutput.emitRow): a replay emits millions.
   */
  private countRow(window: WindowState): AggregateRow {
    const series = window.series;
    const row = (this.countRowScratch ??= {
      pipeline: this.spec.pipeline,
      tenant: '',
      device: '',
      metric: '',
      windowStart: 0,
      windowEnd: 0,
      count: 0,
      sum: Number.NaN,
      min: Number.NaN,
      max: Number.NaN,
      first: Number.NaN,
      last: Number.NaN,
      firstTime: Number.NaN,
      lastTime: Number.NaN,
      p50: Number.NaN,
      lateReadings: 0,
      maxIngestTime: Number.NaN,
      partition: this.spec.partition,
      version: 0,
    });
    row.tenant = series.tenant;
    row.device = series.device;
    row.metric = series.metric;
    row.windowStart = window.start;
    row.windowEnd = window.end;
    row.count = window.count;
    row.lateReadings = window.lateReadings;
    row.version = window.count;
    return row;
  }
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The earliest start of `sessions` (not empty). */
function earliestStart(sessions: readonly WindowState[]): number {
  let start = sessions[0]!.start;
  for (let i = 1; i < sessions.length; i++) if (sessions[i]!.start < start) start = sessions[i]!.start;
  return start;
}

/**
 * One device of processNumbered: the (tenant, device) its number stands for, its head series as
 * of store heads version `headsVersion` (undefined: look up), and its device-clock lookup. One
 * object per device, so that a reading reaches all of it with one cache miss.
 */
class NumberedDevice extends DeviceClockCache {
  tenant = '';
  device = '';
  head: Series | undefined = undefined;
  headsVersion = -1;

  bind(tenant: string, device: string): void {
    this.tenant = tenant;
    this.device = device;
    this.head = undefined;
    this.headsVersion = -1;
    this.resetClockCache();
  }
}

interface SnapshotShape {
  v: number;
  pipeline: unknown;
  partition: unknown;
  window: unknown;
  next: number | null;
  clock: PartitionClockSnapshot;
  stats: Partial<ProcessorStats> | undefined;
  windows: unknown;
  deviceClocks: unknown;
}

function snapshotContext(spec: ProcessorSpec): Record<string, string | number> {
  return { pipeline: spec.pipeline, partition: spec.partition };
}

