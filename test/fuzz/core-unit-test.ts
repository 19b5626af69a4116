import type { ReadingRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import { referenceRun } from '../model/reference-core.ts';
import { byKeyAndVersion, finalRows, schedule, sortedLate } from './core-run.ts';
import { T0, type CoreCase } from './core-traces.ts';

/**
 * Renders a (shrunk) core case as a node:test unit test that feeds the processor the same calls,
 * cuts and restores as the property did, and asserts the reference model's rows and late readings.
 */
export function renderCoreUnitTest(name: string, input: CoreCase): string {
  const expected = referenceRun(input.spec, input.log, true);
  const calls: string[] = [];
  const numbers = new Map<string, number>();
  for (const step of schedule(input.log.length, input.cuts)) {
    if (step.op === 'restore') {
      calls.push('  processor = PartitionProcessor.restore(spec, processor.snapshot());');
      continue;
    }
    const entry = input.log[step.offset]!;
    if (entry.kind === 'tick') {
      calls.push(`  processor.process(tick(${time(entry.ingestTime)}), ${step.offset}, out);`);
    } else if (entry.readings.length > 1) {
      calls.push(`  processor.processReadings([\n${entry.readings.map((r) => `    ${reading(r)},`).join('\n')}\n  ], ${step.offset}, out);`);
    } else if (input.entry === 'numbered') {
      const r = entry.readings[0]!;
      const key = JSON.stringify([r.tenant, r.device]);
      if (!numbers.has(key)) numbers.set(key, numbers.size);
      calls.push(`  processor.processNumbered(${reading(r)}, ${numbers.get(key)!}, ${step.offset}, out);`);
    } else {
      calls.push(`  processor.process(${reading(entry.readings[0]!)}, ${step.offset}, out);`);
    }
  }
  const rowsLiteral = (rows: readonly AggregateRow[]): string => `[\n${rows.map((row) => `    ${rowLiteral(row)},`).join('\n')}\n  ]`;
  const lateLiteral = sortedLate(expected.late).map((late) => `${late.id}/${late.metric}@${late.offset}`);
  return `import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord, TickRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';

const T0 = ${T0};
const reading = (tenant: string, device: string, id: string, eventTime: number, ingestTime: number, metrics: Record<string, number>): ReadingRecord =>
  ({ v: 1, tenant, device, id, eventTime, ingestTime, metrics });
const tick = (ingestTime: number): TickRecord => ({ v: 1, tick: true, ingestTime, source: 'fuzz' });
const byKeyAndVersion = (a: AggregateRow, b: AggregateRow): number => {
  const ka = JSON.stringify([a.tenant, a.device, a.metric, a.windowStart]);
  const kb = JSON.stringify([b.tenant, b.device, b.metric, b.windowStart]);
  return ka < kb ? -1 : ka > kb ? 1 : a.version - b.version;
};
/** What ReplacingMergeTree keeps: the highest version of each key. */
const finalRows = (rows: AggregateRow[]): AggregateRow[] => {
  const last = new Map<string, AggregateRow>();
  for (const row of [...rows].sort(byKeyAndVersion)) last.set(JSON.stringify([row.tenant, row.device, row.metric, row.windowStart]), row);
  return [...last.values()];
};

test(${JSON.stringify(`${name}: the processor emits the reference model's rows (shrunk case)`)}, () => {
  const spec: ProcessorSpec = ${JSON.stringify(input.spec)};
  const rows: AggregateRow[] = [];
  const late: string[] = [];
  const out = {
    emitRow: (row: AggregateRow): void => void rows.push({ ...row }),
    emitLate: (r: ReadingRecord, metric: string, offset: number): void => void late.push(\`\${r.id}/\${metric}@\${offset}\`),
  };
  let processor = new PartitionProcessor(spec);
${calls.join('\n')}
  processor.flushAll(out);
  assert.deepEqual(finalRows(rows), ${rowsLiteral(finalRows(expected.rows))});
  assert.deepEqual([...rows].sort(byKeyAndVersion), ${rowsLiteral([...expected.rows].sort(byKeyAndVersion))});
  assert.deepEqual(late.sort(), ${JSON.stringify(lateLiteral.sort())});
});
`;
}

function reading(r: ReadingRecord): string {
  const metrics = Object.keys(r.metrics)
    .map((metric) => `${JSON.stringify(metric)}: ${num(r.metrics[metric]!)}`)
    .join(', ');
  return `reading(${str(r.tenant)}, ${str(r.device)}, ${str(r.id)}, ${time(r.eventTime)}, ${time(r.ingestTime)}, { ${metrics} })`;
}

function rowLiteral(row: AggregateRow): string {
  const times = new Set(['windowStart', 'windowEnd', 'firstTime', 'lastTime', 'maxIngestTime']);
  const fields = Object.entries(row).map(([field, value]) =>
    typeof value === 'number' ? `${field}: ${times.has(field) ? time(value) : num(value)}` : `${field}: ${str(String(value))}`,
  );
  return `{ ${fields.join(', ')} }`;
}

/** A TypeScript literal that evaluates to exactly `value` (-0, NaN and the infinities included). */
function num(value: number): string {
  if (Number.isNaN(value)) return 'Number.NaN';
  if (value === Number.POSITIVE_INFINITY) return 'Number.POSITIVE_INFINITY';
  if (value === Number.NEGATIVE_INFINITY) return 'Number.NEGATIVE_INFINITY';
  if (Object.is(value, -0)) return '-0';
  return String(value);
}

/** Times near the trace's start as T0 ± n (exact for integers below 2^53). */
function time(value: number): string {
  if (!Number.isInteger(value) || Math.abs(value - T0) > 1e12) return num(value);
  return value >= T0 ? `T0 + ${value - T0}` : `T0 - ${T0 - value}`;
}

/** A string literal; a long run of one character is written as a repeat. */
function str(value: string): string {
  const run = /^(.*?)(.)\2{19,}$/su.exec(value);
  if (run === null) return JSON.stringify(value);
  const prefix = run[1]!;
  const repeated = (value.length - prefix.length) / run[2]!.length;
  return `${prefix === '' ? '' : `${JSON.stringify(prefix)} + `}${JSON.stringify(run[2]!)}.repeat(${repeated})`;
}
