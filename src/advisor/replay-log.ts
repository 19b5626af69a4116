import type { Trace } from './trace.ts';

/**
 * The log a trace becomes: its readings in ingest order, each on its partition, with a tick on
 * every partition at every whole multiple of `tickIntervalMs` of ingest time — what the bridges
 * write (src/core/readings.ts TickRecord, edge/ticker.ts) so that idle partitions advance. A tick
 * at time T goes before the readings ingested at T or later.
 *
 * The simulator walks this sequence through the processors; the integration test writes the
 * same sequence to Kafka for the real aggregator, so both see the same log.
 *
 * A silence longer than two hours of ingest time is shortened: ticks run for its first hour (every
 * window has long closed and every delay estimate has forgotten its samples by then: nothing
 * changes but the clock) and resume an hour before the next reading, instead of a tick a second
 * for months when a trace holds a stray reading far in the future.
 */
export const LONG_SILENCE_MS = 3_600_000;

export interface ReplayVisitor {
  /** Reading `index` of the trace, on `partition`. */
  reading(index: number, partition: number): void;
  /** A tick at `ingestTime` on every partition (the visitor fans it out). */
  tick(ingestTime: number): void;
}

export function firstTickAfter(ingestTime: number, tickIntervalMs: number): number {
  return Math.ceil(ingestTime / tickIntervalMs) * tickIntervalMs;
}

/**
 * Visits the readings and ticks of the trace in log order. Returns the time of the next tick that
 * was not yet written, from where a caller may keep ticking to drain the open windows.
 */
export function walkReplayLog(trace: Trace, partitionOf: Int32Array, tickIntervalMs: number, visitor: ReplayVisitor): number {
  const n = trace.length;
  if (n === 0) return 0;
  const ingest = trace.ingestTime;
  let nextTick = firstTickAfter(ingest[0]!, tickIntervalMs);
  for (let i = 0; i < n; i++) {
    const t = ingest[i]!;
    if (nextTick <= t) {
      const silenceStart = nextTick;
      while (nextTick <= t) {
        if (nextTick - silenceStart >= LONG_SILENCE_MS && t - nextTick > LONG_SILENCE_MS) {
          nextTick = firstTickAfter(t - LONG_SILENCE_MS, tickIntervalMs);
        }
        visitor.tick(nextTick);
        nextTick += tickIntervalMs;
      }
    }
    visitor.reading(i, partitionOf[i]!);
  }
  return nextTick;
}

/**
 * The same log, split by partition: each partition's readings (trace indices, ascending) and the
 * ticks, each with the trace index it goes before. A partition's records in offset order are
 * then its own readings with the ticks merged in — exactly the subsequence walkReplayLog visits
 * on that partition. Built once per trace and shared by every configuration replayed over it.
 *
 * Why: processors of different partitions share nothing, so a replay may take one partition from
 * start to end before the next. Its devices' state (a twelfth of the fleet with 12 partitions)
 * then stays in the CPU caches, where the interleaved log touches every device's state in turn.
 */
export class PartitionedReplayLog {
  readonly tickTimes: Float64Array;
  /** Tick j goes before trace entry tickBefore[j]. */
  readonly tickBefore: Int32Array;
  /** Partition p's trace indices are entries[partitionStart[p] .. partitionStart[p + 1]). */
  readonly entries: Int32Array;
  readonly partitionStart: Int32Array;
  /** What walkReplayLog returns: the time of the first tick not in the log. */
  readonly nextTick: number;

  constructor(
    trace: Trace,
    partitionOf: Int32Array,
    readonly partitions: number,
    readonly tickIntervalMs: number,
  ) {
    const tickTimes: number[] = [];
    const tickBefore: number[] = [];
    const partitionStart = new Int32Array(partitions + 1);
    let visited = 0;
    this.nextTick = walkReplayLog(trace, partitionOf, tickIntervalMs, {
      reading: (_index, partition) => {
        visited++;
        partitionStart[partition + 1]!++;
      },
      tick: (time) => {
        tickTimes.push(time);
        tickBefore.push(visited);
      },
    });
    for (let p = 0; p < partitions; p++) partitionStart[p + 1]! += partitionStart[p]!;
    const entries = new Int32Array(trace.length);
    const fill = partitionStart.slice(0, partitions);
    for (let i = 0; i < trace.length; i++) entries[fill[partitionOf[i]!]!++] = i;
    this.tickTimes = Float64Array.from(tickTimes);
    this.tickBefore = Int32Array.from(tickBefore);
    this.entries = entries;
    this.partitionStart = partitionStart;
  }

  /** Visits partition `partition`'s records in offset order; `tick` gets the tick's number in the log. */
  walkPartition(partition: number, visitor: PartitionVisitor): void {
    const { tickTimes, tickBefore, entries } = this;
    const ticks = tickTimes.length;
    let tick = 0;
    for (let k = this.partitionStart[partition]!, end = this.partitionStart[partition + 1]!; k < end; k++) {
      const index = entries[k]!;
      while (tick < ticks && tickBefore[tick]! <= index) {
        visitor.tick(tickTimes[tick]!, tick);
        tick++;
      }
      visitor.reading(index);
    }
    // Ticks after the partition's last reading: the log has them (other partitions' readings follow).
    for (; tick < ticks; tick++) visitor.tick(tickTimes[tick]!, tick);
  }
}

export interface PartitionVisitor {
  reading(index: number): void;
  /** `number`: the tick's position among the log's ticks (0, 1, …), the same on every partition. */
  tick(ingestTime: number, number: number): void;
}
