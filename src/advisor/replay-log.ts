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
