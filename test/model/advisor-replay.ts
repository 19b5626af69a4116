import type { Candidate } from '../../src/advisor/candidates.ts';
import { firstTickAfter, walkReplayLog } from '../../src/advisor/replay-log.ts';
import { quantileSorted } from '../../src/advisor/stats.ts';
import { resolvePartitions, type Trace } from '../../src/advisor/trace.ts';
import { PartitionProcessor } from '../../src/core/processor.ts';
import type { ReadingRecord, TickRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import { windowsPerReading } from '../../src/core/windows.ts';

/**
 * The exact reference of the what-if replay's completeness and end-to-end latency: the trace's
 * log (walkReplayLog, partitions interleaved as in Kafka) fed record by record through one
 * PartitionProcessor per partition with every aggregate computed ('all') and a distinct id per
 * reading, and every reading followed on its own:
 *
 * - the windows it JOINED: aligned windows — those of its series whose count went up by one
 *   while it was processed, read from the processor's snapshot before and after (sliding), or
 *   its one window unless the processor counted it late (tumbling); sessions — the session of
 *   its series whose span holds its event time, unless counted late;
 * - for each joined window, the first row of that series and window emitted from then on
 *   (matched by series and window start, or for a session by its span holding the event time);
 * - its latency: the emission time of the first of those rows (the ingest time of the record
 *   whose processing emitted it) + flushMs − its ingest time. A reading in no row emitted
 *   before the end of the replay (flushAll) has none, like one that missed every window.
 *
 * Completeness: (reading, window) pairs emitted ÷ (readings × windows per reading − pairs
 * emitted only by flushAll), the simulator's definition. After the log, ticks continue on each
 * partition with open windows until they closed or maxDrainMs passed, as in the simulator.
 * Slow by design (a snapshot per sliding reading): for traces of a few thousand readings.
 */
export interface ExactReplayOptions {
  readonly partitions: number;
  readonly tickIntervalMs?: number;
  readonly flushMs?: number;
  readonly maxDrainMs?: number;
}

export interface ExactReplay {
  readonly offered: number;
  readonly counted: number;
  readonly unresolved: number;
  readonly completeness: number;
  /** Every reading's latency, ascending. */
  readonly latencies: Float64Array;
  /** By trace index: the reading's latency, or NaN (in no row emitted before the end). */
  readonly byReading: Float64Array;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

interface Followed {
  readonly eventTime: number;
  readonly ingestTime: number;
  /** Aligned: starts of the joined windows not yet emitted; sessions: one entry, NaN. */
  readonly pending: Set<number>;
  latency: number | undefined;
}

export function exactReplay(trace: Trace, candidate: Candidate, options: ExactReplayOptions): ExactReplay {
  const tickIntervalMs = options.tickIntervalMs ?? 1000;
  const flushMs = options.flushMs ?? 1000;
  const maxDrainMs = options.maxDrainMs ?? 3_600_000;
  const window = candidate.window;
  const partitions = options.partitions;
  const processors = Array.from(
    { length: partitions },
    (_, partition) =>
      new PartitionProcessor({
        pipeline: 'exact',
        partition,
        window,
        watermark: candidate.watermark,
        latePolicy: candidate.latePolicy,
        idleTimeoutMs: candidate.idleTimeoutMs,
        maxDeviceClockOffsetMs: candidate.maxDeviceClockOffsetMs,
        aggregates: 'all',
      }),
  );
  const offsets = new Array<number>(partitions).fill(0);
  /** Per partition and series (tenant, device): readings with a joined window not yet emitted. */
  const following = new Map<string, Followed[]>();
  const all: Followed[] = [];
  let counted = 0;
  let unresolved = 0;

  const seriesKey = (partition: number, tenant: string, device: string): string => `${partition}\u0000${tenant}\u0000${device}`;
  const settle = (partition: number, row: AggregateRow, emittedAt: number, atEnd: boolean): void => {
    const key = seriesKey(partition, row.tenant, row.device);
    const list = following.get(key);
    if (list === undefined) return;
    for (const reading of list) {
      const holds =
        window.kind === 'session'
          ? reading.pending.has(Number.NaN) && row.windowStart <= reading.eventTime && reading.eventTime < row.windowEnd
          : reading.pending.has(row.windowStart);
      if (!holds) continue;
      reading.pending.delete(window.kind === 'session' ? Number.NaN : row.windowStart);
      if (atEnd) {
        unresolved++;
        continue;
      }
      counted++;
      reading.latency ??= emittedAt + flushMs - reading.ingestTime;
    }
    following.set(key, list.filter((reading) => reading.pending.size > 0));
  };
  const outputAt = (partition: number, emittedAt: () => number, atEnd = false) => ({
    emitRow: (row: AggregateRow) => settle(partition, row, emittedAt(), atEnd),
    emitLate: () => undefined,
  });

  const tick = (partition: number, time: number): void => {
    const record: TickRecord = { v: 1, tick: true, ingestTime: time, source: 'exact' };
    processors[partition]!.process(record, offsets[partition]!++, outputAt(partition, () => time));
  };

  const reading = (index: number, partition: number): void => {
    const processor = processors[partition]!;
    const tenant = trace.tenants[trace.device[index]!]!;
    const device = trace.devices[trace.device[index]!]!;
    const record: ReadingRecord = {
      v: 1,
      tenant,
      device,
      id: `r${index}`,
      eventTime: trace.eventTime[index]!,
      ingestTime: trace.ingestTime[index]!,
      metrics: { value: 1 },
    };
    const missedBefore = processor.stats.lateDropped + processor.stats.lateToTopic;
    const before = window.kind === 'sliding' ? windowCounts(processor, tenant, device) : undefined;
    const rows: AggregateRow[] = [];
    processor.process(record, offsets[partition]!++, { emitRow: (row) => void rows.push({ ...row }), emitLate: () => undefined });
    const missed = processor.stats.lateDropped + processor.stats.lateToTopic !== missedBefore;
    const joined = new Set<number>();
    if (before !== undefined) {
      for (const [start, count] of windowCounts(processor, tenant, device)) if (count === (before.get(start) ?? 0) + 1) joined.add(start);
    } else if (!missed) {
      joined.add(window.kind === 'session' ? Number.NaN : alignedStartOf(record.eventTime, window.sizeMs));
    }
    const followed: Followed = { eventTime: record.eventTime, ingestTime: record.ingestTime, pending: joined, latency: undefined };
    all.push(followed);
    if (joined.size > 0) {
      const key = seriesKey(partition, tenant, device);
      following.set(key, [...(following.get(key) ?? []), followed]);
    }
    // Rows emitted while it was processed: closings before it joined (none is of a window it
    // joined unless it then re-opened that key late, whose re-emission follows at this instant)
    // and re-emissions of windows it was absorbed into late.
    for (const row of rows) settle(partition, row, record.ingestTime, false);
  };

  const partitionOf = resolvePartitions(trace, partitions);
  const nextTick = walkReplayLog(trace, partitionOf, tickIntervalMs, {
    reading,
    tick: (time) => {
      for (let partition = 0; partition < partitions; partition++) tick(partition, time);
    },
  });
  if (trace.length > 0) {
    const lastIngest = trace.ingestTime[trace.length - 1]!;
    const drainEnd = lastIngest + maxDrainMs;
    for (let time = Math.max(nextTick, firstTickAfter(lastIngest, tickIntervalMs)); time <= drainEnd; time += tickIntervalMs) {
      let open = 0;
      for (let partition = 0; partition < partitions; partition++) {
        if (processors[partition]!.openWindows() === 0) continue;
        tick(partition, time);
        open += processors[partition]!.openWindows();
      }
      if (open === 0) break;
    }
  }
  processors.forEach((processor, partition) => processor.flushAll(outputAt(partition, () => Number.NaN, true)));

  const offered = trace.length * windowsPerReading(window);
  const byReading = Float64Array.from(all, (followed) => followed.latency ?? Number.NaN);
  const latencies = Float64Array.from(all.flatMap((followed) => (followed.latency === undefined ? [] : [followed.latency]))).sort();
  const resolved = offered - unresolved;
  return {
    offered,
    counted,
    unresolved,
    completeness: resolved > 0 ? counted / resolved : 1,
    latencies,
    byReading,
    p50: quantileSorted(latencies, 0.5),
    p95: quantileSorted(latencies, 0.95),
    p99: quantileSorted(latencies, 0.99),
  };
}

function alignedStartOf(eventTime: number, sizeMs: number): number {
  return Math.floor(eventTime / sizeMs) * sizeMs;
}

/** Window start → count of the device's 'value' series, from the processor's snapshot (open and retained windows). */
function windowCounts(processor: PartitionProcessor, tenant: string, device: string): Map<number, number> {
  const snapshot = JSON.parse(processor.snapshot()) as { windows: { series: Array<[string, string, string, Array<[number, number, number, number, [number]]>]> } };
  const counts = new Map<number, number>();
  for (const [seriesTenant, seriesDevice, , windows] of snapshot.windows.series) {
    if (seriesTenant !== tenant || seriesDevice !== device) continue;
    for (const [start, , , , aggregate] of windows) counts.set(start, aggregate[0]);
  }
  return counts;
}
