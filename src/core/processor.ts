import { AlignedAssigner } from './aligned-assignment.ts';
import { DeviceClocks, type DeviceClockCounts } from './device-clock.ts';
import { hashId } from './hash.ts';
import { NumberedDevice } from './numbered-device.ts';
import { Kind, Late, planProcessor } from './processor-plan.ts';
import { encodeProcessorSnapshot, parseProcessorSnapshot, restoreStats } from './processor-snapshot.ts';
import { emptyStats, validateProcessorSpec, type ProcessorOutput, type ProcessorSpec, type ProcessorStats } from './processor-spec.ts';
import { isTick, type ReadingRecord, type ReadingsTopicRecord } from './readings.ts';
import { RowEmitter } from './row-emitter.ts';
import { SessionAssigner } from './session-assignment.ts';
import { PartitionClock, createPartitionClock, type DelayQuantiles } from './watermarks.ts';
import { findSeries, WindowStore, type Series, type WindowState } from './window-store.ts';
import { estimateStoreBytes, type StateBytes } from './window-store-size.ts';
import { decodeStore, encodeStore } from './window-store-snapshot.ts';

/**
 * The windowed aggregation of ONE partition of the readings topic, as a pure state machine:
 * records go in (in offset order), rows and late readings come out. No clock, no I/O. The output
 * is a function of the record sequence (and of a restored snapshot) alone, so a replay after a
 * crash emits the same rows with the same versions.
 *
 * This file takes records in and closes windows as the watermark passes them; where a value goes
 * is aligned-assignment.ts or session-assignment.ts, what comes out row-emitter.ts, the windows
 * window-store.ts.
 */
export type { LatePolicySpec, ProcessorOutput, ProcessorSpec, ProcessorStats } from './processor-spec.ts';

export class PartitionProcessor {
  readonly spec: ProcessorSpec;
  /** Late policy 'reemit': emitted windows are retained for the allowed lateness. */
  private readonly reemit: boolean;
  private readonly allowedLatenessMs: number;
  /** ProcessorSpec `aggregates: 'count'`: windows count readings and nothing else. */
  private readonly countOnly: boolean;
  private clock: PartitionClock;
  private readonly store: WindowStore;
  /** Per-device clock offsets: a device whose clock runs behind gets later window deadlines, one ahead earlier ones. */
  private readonly deviceClocks: DeviceClocks;
  private readonly counters: ProcessorStats = emptyStats();
  private readonly emitter: RowEmitter;
  /** Exactly one of the two: aligned (tumbling, sliding) or session windows. */
  private readonly aligned: AlignedAssigner | null;
  private readonly sessions: SessionAssigner | null;
  private next: number | null = null;
  /** Reused between closings: windows due for emission. */
  private readonly due: WindowState[] = [];
  /** processNumbered, by the caller's device number: what the processor keeps of that device. */
  private readonly numbered: NumberedDevice[] = [];
  /** Starts of the aligned windows the last reading missed (see lastMissedWindowStarts). */
  private readonly missedStarts: number[] = [];

  constructor(spec: ProcessorSpec) {
    validateProcessorSpec(spec);
    this.spec = spec;
    const plan = planProcessor(spec);
    this.reemit = plan.late === Late.Reemit;
    this.allowedLatenessMs = plan.allowedLatenessMs;
    this.countOnly = plan.countOnly;
    this.clock = createPartitionClock(spec.watermark, spec.idleTimeoutMs);
    this.deviceClocks = new DeviceClocks(plan.deviceClocks);
    this.store = new WindowStore(plan.store);
    this.emitter = new RowEmitter(spec, plan.late, plan.countOnly, this.store, this.counters);
    const sessions = plan.kind === Kind.Session;
    this.sessions = sessions ? new SessionAssigner(plan, this.store, this.counters, this.emitter) : null;
    this.aligned = sessions ? null : new AlignedAssigner(plan, this.store, this.counters, this.emitter, this.missedStarts);
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
    for (const window of this.store.openWindows()) this.emitter.emit(window, out, false);
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
    const estimate = estimateStoreBytes(this.store);
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
    return encodeProcessorSnapshot(this.spec, {
      next: this.next,
      clock: this.clock.snapshot(),
      stats: this.counters,
      windows: encodeStore(this.store, this.clock.watermark()),
      deviceClocks: this.deviceClocks.snapshot(),
    });
  }

  /**
   * Rebuilds a processor from `snapshot()`. The pipeline, partition and window must match the
   * snapshot's. A changed watermark spec restarts the delay estimate (the watermark itself stays);
   * a changed late policy applies to retained windows from now on.
   */
  static restore(spec: ProcessorSpec, snapshot: string): PartitionProcessor {
    const state = parseProcessorSnapshot(spec, snapshot);
    const processor = new PartitionProcessor(spec);
    processor.clock = PartitionClock.restore(spec.watermark, spec.idleTimeoutMs, state.clock);
    processor.next = typeof state.next === 'number' ? state.next : null;
    restoreStats(processor.counters, state.stats);
    const watermark = processor.clock.watermark();
    decodeStore(processor.store, state.windows, (closesAt) => {
      if (!processor.reemit) return undefined;
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
      if (this.sessions !== null) this.sessions.assign(reading, metric, series, idHash, value, eventTime, offset, watermark, shiftMs, out);
      else this.aligned!.assign(reading, metric, series, idHash, value, eventTime, offset, watermark, shiftMs, out);
      // The device's first series starts its list.
      deviceHead ??= this.deviceHead(reading, numbered);
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
      this.emitter.emit(window, out, false);
      const retainUntil = window.end + window.shiftMs + this.allowedLatenessMs;
      this.store.closed(window, this.reemit && retainUntil > watermark ? retainUntil : undefined);
    }
    due.length = 0;
  }
}
