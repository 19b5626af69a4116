import { PartitionProcessor, type ProcessorOutput, type ProcessorSpec } from '../core/processor.ts';
import type { ReadingRecord, TickRecord } from '../core/readings.ts';
import type { AggregateRow } from '../core/rows.ts';
import { windowsPerReading } from '../core/windows.ts';
import { describeCandidate, type Candidate } from './candidates.ts';
import { firstTickAfter } from './replay-log.ts';
import { DEFAULT_TICK_INTERVAL_MS, feedReading, pooledReading, prepareReplay, type PreparedReplay } from './replay-feed.ts';
import { createLatencyTracker, type ReadingLatencyTracker } from './reading-latency.ts';
import { LatencyHistogram, type LatencySummary } from './stats.ts';
import type { Trace } from './trace.ts';

export { feedReading, pooledReading, prepareReplay, type PooledReading, type PreparedReplay } from './replay-feed.ts';

/**
 * The what-if replay: a trace through one candidate configuration, using the aggregator's own
 * PartitionProcessor (one per partition), never a second implementation of windows or
 * watermarks. Time in a replay is the log's time: a row is emitted at the ingest time of the
 * record (reading or tick) whose processing closed its window, and becomes visible `flushMs` later
 * (the aggregator's sink flush interval).
 *
 * Measured per candidate:
 *  - window latency: window end → visible, over first emissions of windows;
 *  - end-to-end latency: each reading's ingest → the first emitted row that holds it is visible
 *    (a late reading absorbed by a re-emitted window: flushMs). Rows are matched to readings by
 *    series and window (reading-latency.ts), never by the order windows close in: device clock
 *    shifts close one device's windows before or after another's;
 *  - completeness: values counted in the final rows ÷ values offered (× windows per reading for
 *    sliding windows), over values whose windows closed by the end of the replay; values still in
 *    windows that never closed (a clock a year ahead) are reported as unresolved instead;
 *  - late-drop rate, peak open windows and state bytes (sampled at ticks), CPU time per reading.
 *
 * After the trace, ticks continue (no readings) until every window closed or `maxDrainMs` passed.
 *
 * Partitions are replayed one after another (PartitionedReplayLog): their processors share
 * nothing, so the rows are those of the interleaved log, and one partition's devices stay in the
 * CPU caches. What sums over partitions at an instant (open windows, state bytes) is kept per
 * tick and its peak taken at the end. State bytes are sized per partition on schedule and when its
 * windows held reach a new high; between sizings they are estimated from the windows opened or
 * closed since (an estimate of the aggregator's state, within a few per cent of sizing every tick).
 */
export interface ReplayOptions {
  readonly partitions: number;
  readonly tickIntervalMs?: number;
  readonly flushMs?: number;
  /** How often (ingest time) the state size is sampled; it walks every window, so not every tick. */
  readonly stateSampleMs?: number;
  readonly maxDrainMs?: number;
  /** Keep the final version of every row (device, window start → count): for comparisons in tests. */
  readonly collectRows?: boolean;
  /** Keep every end-to-end latency (ascending): for comparisons with the exact replay in tests. */
  readonly collectLatencies?: boolean;
}

export interface SimulationResult {
  readonly candidate: Candidate;
  readonly label: string;
  readonly readings: number;
  /** Distinct values offered to the windows (× windows per reading for sliding windows). */
  readonly offered: number;
  readonly counted: number;
  readonly unresolved: number;
  readonly completeness: number;
  /** Counted in the window's first emission (before any late correction). */
  readonly onTimeCompleteness: number;
  readonly lateDropped: number;
  readonly lateToTopic: number;
  readonly lateAbsorbed: number;
  /** (lateDropped + lateToTopic) ÷ distinct values. */
  readonly lateDropRate: number;
  readonly windowLatency: LatencySummary;
  readonly endToEndLatency: LatencySummary;
  readonly rows: number;
  readonly peakOpenWindows: number;
  readonly peakStateBytes: number;
  /** Mean and largest watermark delay D over the partitions' ticks while readings flowed. */
  readonly meanDelayMs: number;
  readonly maxDelayMs: number;
  /**
   * The largest (watermark − ingest clock) seen at any tick: ≤ 0 unless something (a device clock
   * far ahead) pushed a watermark past the log's own time.
   */
  readonly maxWatermarkLeadMs: number;
  readonly cpuMs: number;
  readonly cpuNsPerReading: number;
  readonly wallMs: number;
  /** `device\u0000windowStart` → final count (only with collectRows). */
  readonly finalRows?: ReadonlyMap<string, number>;
  /** Every end-to-end latency, ascending (only with collectLatencies). */
  readonly latencies?: Float64Array;
}

const DEFAULTS = { tickIntervalMs: DEFAULT_TICK_INTERVAL_MS, flushMs: 1000, stateSampleMs: 30_000, maxDrainMs: 3_600_000 } as const;
export function simulate(trace: Trace, candidate: Candidate, options: ReplayOptions): SimulationResult {
  return new ReplayRun(trace, candidate, options, prepareReplay(trace, options)).run();
}

/** Many candidates over one trace: the log (partitions, ticks) and the device numbers are resolved once. */
export function simulateAll(
  trace: Trace,
  candidates: readonly Candidate[],
  options: ReplayOptions,
  onResult?: (result: SimulationResult, index: number) => void,
): SimulationResult[] {
  const prepared = prepareReplay(trace, options);
  return candidates.map((candidate, index) => {
    const result = new ReplayRun(trace, candidate, options, prepared).run();
    onResult?.(result, index);
    return result;
  });
}

interface MutableTick {
  v: 1;
  tick: true;
  ingestTime: number;
  source: string;
}

class ReplayRun implements ProcessorOutput {
  private readonly processors: PartitionProcessor[];
  private readonly offsets: Float64Array;
  private readonly flushMs: number;
  private readonly tickIntervalMs: number;
  private readonly stateSampleMs: number;
  private readonly maxDrainMs: number;
  private readonly windowsPerValue: number;
  private readonly sliding: boolean;
  private readonly collectLatencies: boolean;
  private readonly reading = pooledReading();
  private readonly tickRecord: MutableTick = { v: 1, tick: true, ingestTime: 0, source: 'replay' };
  private readonly windowLatency = new LatencyHistogram();
  private readonly endToEndLatency = new LatencyHistogram();
  private readonly latencyTracker: ReadingLatencyTracker;
  private readonly finalRows: Map<string, number> | undefined;
  private now = 0;
  private draining = false;
  private flushingAll = false;
  private counted = 0;
  private countedOnTime = 0;
  private unresolved = 0;
  private rows = 0;
  /**
   * Per tick of the log (then per drain tick): open windows and estimated state bytes summed over
   * the partitions, since partitions are replayed one after another. Peaks are taken at the end.
   */
  private openAtTick: Float64Array = new Float64Array(0);
  private bytesAtTick: Float64Array = new Float64Array(0);
  /**
   * Per partition, the state-size sampling: sizing walks every window, so it runs on schedule and
   * whenever the windows held (open + retained) grew past the most seen at a sizing; between
   * sizings the bytes follow the windows opened or closed since (see tickPartition).
   */
  private readonly nextStateSample: Float64Array;
  private readonly heldAtSizing: Float64Array;
  private readonly sampledBytes: Float64Array;
  private readonly sampledHeld: Float64Array;
  private readonly meanWindowBytes: Float64Array;
  private readonly freshWindowBytes: Float64Array;
  private delaySum = 0;
  private delaySamples = 0;
  private maxDelay = 0;
  private maxWatermarkLead = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly trace: Trace,
    private readonly candidate: Candidate,
    options: ReplayOptions,
    private readonly prepared: PreparedReplay,
  ) {
    this.flushMs = options.flushMs ?? DEFAULTS.flushMs;
    this.tickIntervalMs = options.tickIntervalMs ?? DEFAULTS.tickIntervalMs;
    this.stateSampleMs = options.stateSampleMs ?? DEFAULTS.stateSampleMs;
    this.maxDrainMs = options.maxDrainMs ?? DEFAULTS.maxDrainMs;
    const spec = (partition: number): ProcessorSpec => ({
      pipeline: 'whatif',
      partition,
      window: candidate.window,
      watermark: candidate.watermark,
      latePolicy: candidate.latePolicy,
      idleTimeoutMs: candidate.idleTimeoutMs,
      maxDeviceClockOffsetMs: candidate.maxDeviceClockOffsetMs,
      // Completeness and latency need counts only; the window logic is the aggregator's either way.
      aggregates: 'count',
    });
    this.processors = Array.from({ length: options.partitions }, (_, partition) => new PartitionProcessor(spec(partition)));
    this.offsets = new Float64Array(options.partitions);
    this.nextStateSample = new Float64Array(options.partitions).fill(Number.NEGATIVE_INFINITY);
    this.heldAtSizing = new Float64Array(options.partitions);
    this.sampledBytes = new Float64Array(options.partitions);
    this.sampledHeld = new Float64Array(options.partitions);
    this.meanWindowBytes = new Float64Array(options.partitions);
    this.freshWindowBytes = new Float64Array(options.partitions);
    this.windowsPerValue = windowsPerReading(candidate.window);
    this.sliding = candidate.window.kind === 'sliding';
    this.collectLatencies = options.collectLatencies === true;
    this.latencyTracker = createLatencyTracker(trace, this.endToEndLatency);
    this.finalRows = options.collectRows ? new Map() : undefined;
  }

  run(): SimulationResult {
    const cpuStart = process.cpuUsage();
    const wallStart = performance.now();
    const trace = this.trace;
    const log = this.prepared.log;
    const logTicks = log.tickTimes.length;
    // After the trace, ticks continue (no readings) until the partition's windows closed or maxDrainMs passed.
    const lastIngest = trace.length > 0 ? trace.ingestTime[trace.length - 1]! : 0;
    const drainFrom = Math.max(log.nextTick, firstTickAfter(lastIngest, this.tickIntervalMs));
    const drainEnd = lastIngest + this.maxDrainMs;
    const drainTicks = trace.length > 0 && drainFrom <= drainEnd ? Math.floor((drainEnd - drainFrom) / this.tickIntervalMs) + 1 : 0;
    this.openAtTick = new Float64Array(logTicks + drainTicks);
    this.bytesAtTick = new Float64Array(logTicks + drainTicks);
    for (let partition = 0; partition < this.processors.length; partition++) {
      const processor = this.processors[partition]!;
      this.draining = false;
      this.latencyTracker.startPartition(partition);
      log.walkPartition(partition, {
        reading: (index) => this.processReading(index, partition),
        tick: (time, number) => this.tickPartition(partition, time, number),
      });
      this.draining = true;
      for (let k = 0; k < drainTicks && processor.openWindows() > 0; k++) {
        this.tickPartition(partition, drainFrom + k * this.tickIntervalMs, logTicks + k);
      }
    }
    this.flushingAll = true;
    for (const processor of this.processors) processor.flushAll(this);
    const cpu = process.cpuUsage(cpuStart);
    const wallMs = performance.now() - wallStart;
    return this.result((cpu.user + cpu.system) / 1000, wallMs);
  }

  private processReading(index: number, partition: number): void {
    const trace = this.trace;
    // Rows this reading closes become visible from its ingest time.
    this.now = trace.ingestTime[index]!;
    const reading = this.reading;
    const processor = this.processors[partition]!;
    const stats = processor.stats;
    const missedBefore = stats.lateDropped + stats.lateToTopic;
    const absorbedBefore = stats.lateAbsorbed;
    const duplicatesBefore = stats.duplicates;
    const offset = this.offsets[partition]!;
    this.offsets[partition] = offset + 1;
    feedReading(processor, trace, this.prepared.numbers, reading, index, offset, this);
    if (stats.duplicates !== duplicatesBefore) return;
    if (stats.lateAbsorbed !== absorbedBefore) {
      // Its first row is the re-emission it just caused.
      this.endToEndLatency.record(this.flushMs);
      return;
    }
    // A tumbling or session reading that missed its window is in no row. A sliding one may have
    // missed some of its windows and joined others: it is held with the starts it missed, since a
    // window it missed may yet be opened by a later reading of its device (whose shift grew).
    if (stats.lateDropped + stats.lateToTopic !== missedBefore) {
      if (!this.sliding) return;
      this.latencyTracker.held(trace.device[index]!, reading.eventTime, reading.ingestTime, processor.lastMissedWindowStarts());
      return;
    }
    this.latencyTracker.held(trace.device[index]!, reading.eventTime, reading.ingestTime);
  }

  /** Tick `number` (of the log, then of the drain) at `time` on one partition. */
  private tickPartition(partition: number, time: number, number: number): void {
    this.now = time;
    const tick = this.tickRecord;
    tick.ingestTime = time;
    const processor = this.processors[partition]!;
    const offset = this.offsets[partition]!;
    this.offsets[partition] = offset + 1;
    processor.process(tick as unknown as TickRecord, offset, this);
    const open = processor.openWindows();
    this.openAtTick[number]! += open;
    const lead = processor.watermark() - time;
    if (lead > this.maxWatermarkLead) this.maxWatermarkLead = lead;
    if (!this.draining && processor.stats.readings > 0) {
      const delay = processor.currentDelayMs();
      this.delaySum += delay;
      this.delaySamples++;
      if (delay > this.maxDelay) this.maxDelay = delay;
    }
    const held = open + processor.retainedWindows();
    if (time >= this.nextStateSample[partition]! || held > this.heldAtSizing[partition]! * 1.02) {
      this.nextStateSample[partition] = time + this.stateSampleMs;
      if (held > this.heldAtSizing[partition]!) this.heldAtSizing[partition] = held;
      const estimate = processor.estimateState();
      this.sampledBytes[partition] = estimate.bytes;
      this.sampledHeld[partition] = held;
      this.meanWindowBytes[partition] = held > 0 ? estimate.windowBytes / held : 0;
      this.freshWindowBytes[partition] = estimate.freshWindowBytes;
      this.bytesAtTick[number]! += estimate.bytes;
      return;
    }
    // Between sizings: the last sizing, plus the windows opened since (fresh ones) or minus those
    // closed since (at the mean size: the oldest, fullest windows close first).
    const sinceSizing = held - this.sampledHeld[partition]!;
    const perWindow = sinceSizing > 0 ? this.freshWindowBytes[partition]! : this.meanWindowBytes[partition]!;
    this.bytesAtTick[number]! += Math.max(0, this.sampledBytes[partition]! + sinceSizing * perWindow);
  }

  emitRow(row: AggregateRow): void {
    if (this.flushingAll) {
      this.unresolved += row.count;
      return;
    }
    this.rows++;
    if (this.finalRows !== undefined) this.finalRows.set(`${row.device}\u0000${row.windowStart}`, row.count);
    if (row.lateReadings > 0) {
      // A re-emission after a late reading: exactly one more value (its latency counted on arrival).
      this.counted++;
      return;
    }
    this.counted += row.count;
    this.countedOnTime += row.count;
    const visible = this.now + this.flushMs;
    this.windowLatency.record(visible - row.windowEnd);
    this.latencyTracker.emitted(row, visible);
  }

  emitLate(): void {
    // Late-topic policy: the processor counts these (lateToTopic); nothing to keep.
  }

  private result(cpuMs: number, wallMs: number): SimulationResult {
    let values = 0;
    let duplicates = 0;
    let lateDropped = 0;
    let lateToTopic = 0;
    let lateAbsorbed = 0;
    for (const processor of this.processors) {
      const stats = processor.stats;
      values += stats.values;
      duplicates += stats.duplicates;
      lateDropped += stats.lateDropped;
      lateToTopic += stats.lateToTopic;
      lateAbsorbed += stats.lateAbsorbed;
    }
    const distinct = values - duplicates;
    const offered = distinct * this.windowsPerValue;
    const resolved = offered - this.unresolved;
    const readings = this.trace.length;
    return {
      candidate: this.candidate,
      label: describeCandidate(this.candidate),
      readings,
      offered,
      counted: this.counted,
      unresolved: this.unresolved,
      completeness: resolved > 0 ? this.counted / resolved : 1,
      onTimeCompleteness: resolved > 0 ? this.countedOnTime / resolved : 1,
      lateDropped,
      lateToTopic,
      lateAbsorbed,
      lateDropRate: distinct > 0 ? (lateDropped + lateToTopic) / distinct : 0,
      windowLatency: this.windowLatency.summary(),
      endToEndLatency: this.endToEndLatency.summary(),
      rows: this.rows,
      peakOpenWindows: maxOf(this.openAtTick),
      peakStateBytes: Math.round(maxOf(this.bytesAtTick)),
      meanDelayMs: this.delaySamples > 0 ? this.delaySum / this.delaySamples : 0,
      maxDelayMs: this.maxDelay,
      maxWatermarkLeadMs: this.maxWatermarkLead,
      cpuMs,
      cpuNsPerReading: readings > 0 ? (cpuMs * 1e6) / readings : 0,
      wallMs,
      ...(this.finalRows ? { finalRows: this.finalRows } : {}),
      ...(this.collectLatencies ? { latencies: this.endToEndLatency.values() } : {}),
    };
  }
}

function maxOf(values: Float64Array): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) if (values[i]! > max) max = values[i]!;
  return max;
}
