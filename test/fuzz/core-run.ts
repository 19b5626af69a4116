import assert from 'node:assert/strict';
import { PartitionProcessor, type ProcessorOutput, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import type { LateReading, LogEntry, ModelRun, ModelStats } from '../model/reference-core.ts';

/**
 * Runs the production PartitionProcessor over a log the way the aggregator and the replays do, and
 * holds what it emitted against the reference model.
 */

/** How records reach the processor: `process`/`processReadings` (the aggregator), or `processNumbered` (replays). */
export type Entry = 'records' | 'numbered';

/**
 * A cut: before the record at offset `at`, the processor is snapshotted and replaced by one
 * restored from the snapshot, which is then fed from its next offset on, less `redeliver` records
 * (a consumer resuming before the committed offset: those must be skipped).
 */
export interface Cut {
  readonly at: number;
  readonly redeliver: number;
}

export interface ProductionRun {
  readonly rows: AggregateRow[];
  readonly late: LateReading[];
  readonly stats: ModelStats;
}

export function runProduction(spec: ProcessorSpec, log: readonly LogEntry[], entry: Entry, cuts: readonly Cut[] = []): ProductionRun {
  const rows: AggregateRow[] = [];
  const late: LateReading[] = [];
  const out: ProcessorOutput = {
    emitRow: (row) => rows.push({ ...row }),
    emitLate: (reading, metric, offset) => late.push({ id: reading.id, metric, offset }),
  };
  const numbers = new Map<string, number>();
  const numberOf = (reading: ReadingRecord): number => {
    const key = JSON.stringify([reading.tenant, reading.device]);
    let number = numbers.get(key);
    if (number === undefined) numbers.set(key, (number = numbers.size));
    return number;
  };
  let processor = new PartitionProcessor(spec);
  for (const step of schedule(log.length, cuts)) {
    if (step.op === 'restore') processor = PartitionProcessor.restore(spec, processor.snapshot());
    else feed(processor, log[step.offset]!, step.offset, entry, numberOf, out);
  }
  processor.flushAll(out);
  const { skippedRecords: _skipped, ...stats } = processor.stats;
  return { rows, late, stats };
}

export type ScheduleStep = { readonly op: 'feed'; readonly offset: number } | { readonly op: 'restore' };

/** The calls of a run with cuts: records in offset order, a restore at each cut, then a resume from the restored next offset less the cut's redeliveries. */
export function schedule(records: number, cuts: readonly Cut[]): ScheduleStep[] {
  const steps: ScheduleStep[] = [];
  let offset = 0;
  let next = 0;
  const feedUntil = (end: number): void => {
    for (; offset < end; offset++) {
      steps.push({ op: 'feed', offset });
      next = Math.max(next, offset + 1);
    }
  };
  for (const cut of [...cuts].sort((a, b) => a.at - b.at)) {
    feedUntil(cut.at);
    steps.push({ op: 'restore' });
    offset = Math.max(0, next - cut.redeliver);
  }
  feedUntil(records);
  return steps;
}

function feed(
  processor: PartitionProcessor,
  logEntry: LogEntry,
  offset: number,
  entry: Entry,
  numberOf: (reading: ReadingRecord) => number,
  out: ProcessorOutput,
): void {
  if (logEntry.kind === 'tick') {
    processor.process({ v: 1, tick: true, ingestTime: logEntry.ingestTime, source: 'fuzz' }, offset, out);
    return;
  }
  const readings = logEntry.readings;
  if (entry === 'numbered' && readings.length === 1) processor.processNumbered(readings[0]!, numberOf(readings[0]!), offset, out);
  else if (readings.length === 1) processor.process(readings[0]!, offset, out);
  else processor.processReadings(readings, offset, out);
}

/** The row's ReplacingMergeTree key (the pipeline and partition are the spec's). */
export function rowKey(row: AggregateRow): string {
  return JSON.stringify([row.tenant, row.device, row.metric, row.windowStart]);
}

/** The highest version of each key, by key. */
export function finalRows(rows: readonly AggregateRow[]): AggregateRow[] {
  const final = new Map<string, AggregateRow>();
  for (const row of rows) {
    const held = final.get(rowKey(row));
    if (held === undefined || row.version > held.version) final.set(rowKey(row), row);
  }
  return [...final.values()].sort(byKeyAndVersion);
}

export function byKeyAndVersion(a: AggregateRow, b: AggregateRow): number {
  const ka = rowKey(a);
  const kb = rowKey(b);
  return ka < kb ? -1 : ka > kb ? 1 : a.version - b.version;
}

export function sortedLate(late: readonly LateReading[]): LateReading[] {
  return [...late].sort((a, b) => a.offset - b.offset || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || (a.metric < b.metric ? -1 : a.metric > b.metric ? 1 : 0));
}

/**
 * Throws an assertion error naming the first difference: a (key, version) emitted twice, the final
 * rows, every emission, the late readings, the counters.
 */
export function assertSameAsModel(actual: ProductionRun, expected: ModelRun): void {
  // The model first: equal to the processor, a model that breaks the invariant would pass it.
  assertEachKeyVersionOnce(expected.rows, 'the MODEL emitted');
  assertEachKeyVersionOnce(actual.rows, 'the processor emitted');
  compareRows(finalRows(actual.rows), finalRows(expected.rows), 'final row');
  compareRows([...actual.rows].sort(byKeyAndVersion), [...expected.rows].sort(byKeyAndVersion), 'emitted row');
  assert.deepEqual(sortedLate(actual.late), sortedLate(expected.late), 'late readings differ from the model');
  assert.deepEqual(actual.stats, expected.stats, 'counters differ from the model');
}

/** Throws unless each (key, version) appears once: ReplacingMergeTree would keep either of two. */
function assertEachKeyVersionOnce(rows: readonly AggregateRow[], who: string): void {
  const seen = new Set<string>();
  for (const row of rows) {
    const id = `${rowKey(row)} v${row.version}`;
    if (seen.has(id)) assert.fail(`${who} row ${id} twice: ${JSON.stringify(row)}`);
    seen.add(id);
  }
}

function compareRows(actual: readonly AggregateRow[], expected: readonly AggregateRow[], what: string): void {
  const keys = (rows: readonly AggregateRow[]): string[] => rows.map((row) => `${rowKey(row)} v${row.version}`);
  const actualKeys = keys(actual);
  const expectedKeys = keys(expected);
  const actualSet = new Set(actualKeys);
  const expectedSet = new Set(expectedKeys);
  const missing = expectedKeys.filter((key) => !actualSet.has(key));
  const extra = actualKeys.filter((key) => !expectedSet.has(key));
  if (missing.length > 0 || extra.length > 0) {
    assert.fail(`${what}s differ from the model: missing ${JSON.stringify(missing)}, unexpected ${JSON.stringify(extra)}`);
  }
  for (let i = 0; i < expected.length; i++) assert.deepEqual(actual[i], expected[i], `${what} ${expectedKeys[i]!} differs from the model`);
}
