import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadingRecord } from '../../src/core/readings.ts';
import { groupProgress } from '../../src/kafka/admin.ts';
import { eventually } from '../../src/stack/services.ts';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { runCli } from '../support/cli.ts';

/**
 * `replay` over a middle time range of a live exactly-once pipeline: the table's rows (every column
 * but emitted_at_ms) and sum(count) are what they were, no key appears twice under FINAL, the live
 * group's committed offsets stay where they were, and the replay did write rows.
 */
const T = Date.parse('2025-03-01T00:00:00Z');

function phase(from: number, count: number): ReadingRecord[] {
  const records: ReadingRecord[] = [];
  for (let i = from; i < from + count; i++) {
    const device = `dev-${i % 5}`;
    // Mostly in order, every 9th a few seconds late (corrected within the allowed lateness), every 23rd far too late.
    const lag = i % 23 === 0 ? 90_000 : i % 9 === 0 ? 4000 : 0;
    records.push({ v: 1, tenant: 'demo', device, id: `${device}-${i}`, eventTime: T + i * 200 - lag, ingestTime: T + i * 200, metrics: { temp: i % 17, hum: i % 5 } });
  }
  return records;
}

test('replay over a middle time range leaves the rows and sum(count) as the live pipeline wrote them, and the live group where it was', { timeout: 240_000 }, async () => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 5000 } }]);
  await scenario.setUp();
  try {
    scenario.startAggregator('a');
    const group = `${scenario.id}-main`;
    // Each phase committed (so checkpointed) before the next: --from then lies past a checkpoint
    // whose windows straddle it, the case a replay must not get wrong.
    const committed = (): Promise<unknown> =>
      eventually('the live group commits what was written', async () => {
        const progress = await groupProgress(scenario.config.kafka, group, scenario.topic);
        return progress.committed === progress.end ? progress : undefined;
      }, 60_000);
    await scenario.produce(phase(0, 600));
    await committed();
    const from = new Date(Date.now()).toISOString();
    await scenario.produce(phase(600, 600));
    await committed();
    const to = new Date(Date.now()).toISOString();
    await scenario.produce(phase(1200, 600));
    await scenario.tick(T + 1800 * 200 + 600_000);
    const table = `${scenario.database}.agg_main`;
    const columns = 'tenant, device, metric, window_start_ms, window_end_ms, count, sum, min, max, first, last, first_time_ms, last_time_ms, p50, late_readings, max_ingest_time_ms, kafka_partition, version';
    const snapshot = async (): Promise<{ rows: string; total: number }> => {
      const rows = await scenario.query<Record<string, unknown>>(`SELECT ${columns} FROM ${table} FINAL ORDER BY tenant, device, metric, window_start_ms`);
      const [sum] = await scenario.query<{ n: string }>(`SELECT sum(count) AS n FROM ${table} FINAL`);
      return { rows: JSON.stringify(rows), total: Number(sum?.n ?? 0) };
    };
    // Settled: every record committed (after its rows and checkpoint), and the table unchanged since.
    const before = await eventually('the live pipeline settles', async () => {
      const progress = await groupProgress(scenario.config.kafka, group, scenario.topic);
      if (progress.committed !== progress.end) return undefined;
      const first = await snapshot();
      return first.total > 0 ? first : undefined;
    }, 120_000);
    const committedBefore = await groupProgress(scenario.config.kafka, group, scenario.topic);

    const result = await runCli(scenario.configFile, ['replay', '--pipeline', 'main', '--from', from, '--to', to]);
    assert.equal(result.code, 0, `replay failed:\n${result.stdout}\n${result.stderr}`);
    const written = /(\d+) rows written/.exec(result.stdout);
    assert.ok(written && Number(written[1]) > 0, `the replay wrote no rows:\n${result.stdout}`);
    assert.match(result.stdout, /checkpoint at \d+/, 'the replay restored a checkpoint');

    const after = await snapshot();
    assert.equal(after.total, before.total, 'sum(count) changed');
    assert.equal(after.rows, before.rows, 'rows changed');
    assert.equal(await scenario.duplicateKeys('main'), 0);
    assert.deepEqual(await groupProgress(scenario.config.kafka, group, scenario.topic), committedBefore);
  } finally {
    await scenario.tearDown();
  }
});
