import { Late } from './processor-plan.ts';
import type { ProcessorOutput, ProcessorSpec, ProcessorStats } from './processor-spec.ts';
import type { ReadingRecord } from './readings.ts';
import type { AggregateRow } from './rows.ts';
import type { WindowState, WindowStore } from './window-store.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * What a processor hands to its output: a window as a row (first emission or correction), and a
 * reading its windows missed (to the late topic, or counted as dropped). Counts both in the
 * processor's stats.
 */
export class RowEmitter {
  /** `aggregates: 'count'`: the one row object (see countRow). */
  private countRowScratch: Mutable<AggregateRow> | undefined;
  /** Late policy 'late-topic': missed readings go to the output. */
  private readonly toTopic: boolean;

  constructor(
    private readonly spec: ProcessorSpec,
    late: Late,
    private readonly countOnly: boolean,
    private readonly store: WindowStore,
    private readonly stats: ProcessorStats,
  ) {
    this.toTopic = late === Late.Topic;
  }

  /** Emits `window` as a row; `update`: a correction of a row emitted before. */
  emit(window: WindowState, out: ProcessorOutput, update: boolean): void {
    const series = window.series;
    this.stats.rowsEmitted++;
    if (update) this.stats.rowsUpdated++;
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

  /** A reading's `metric` missed its windows: handed to the late topic or dropped, by the late policy. */
  missed(reading: ReadingRecord, metric: string, offset: number, out: ProcessorOutput): void {
    if (this.toTopic) {
      this.stats.lateToTopic++;
      out.emitLate(reading, metric, offset);
    } else {
      this.stats.lateDropped++;
    }
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
