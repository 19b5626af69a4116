import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorScenario, comparable } from '../support/aggregator-harness.ts';
import { expectedRows, generateDataset, type Dataset } from '../support/readings-dataset.ts';
import { eventually } from '../../src/stack/services.ts';
import { startClickhouse, stopClickhouse } from '../../src/stack/clickhouse.ts';

/**
 * `npm run test:chaos` (with the short chaos run). Not part of `npm test` yet: in two of five
 * rehearsal CI runs on a loaded machine one of these failed (windows incomplete after a rebalance,
 * once for the zombie and once for the killed instance), while they pass on a quiet machine; the
 * rebalance path is being investigated. Exactly-once under failure: whatever kills or stalls the aggregator, the final table equals the
 * expected rows, no key appears twice under FINAL, and sum(count) equals the readings accepted.
 */
const WINDOW = { kind: 'tumbling', sizeMs: 5000 } as const;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function streamInSlices(scenario: AggregatorScenario, data: Dataset, slices: number, pauseMs: number, onSlice?: (index: number) => Promise<void>): Promise<void> {
  const size = Math.ceil(data.arrivals.length / slices);
  for (let index = 0; index * size < data.arrivals.length; index++) {
    await scenario.produce(data.arrivals.slice(index * size, (index + 1) * size));
    await onSlice?.(index);
    await sleep(pauseMs);
  }
  await scenario.tick(data.lastIngestTime + 300_000);
}

async function assertExactlyOnce(scenario: AggregatorScenario, data: Dataset): Promise<void> {
  const expected = expectedRows(data.distinct, WINDOW);
  const expectedTotal = expected.reduce((sum, row) => sum + row.count, 0);
  const actual = await eventually('all windows in ClickHouse', async () => {
    const rows = await scenario.finalRows('main');
    return rows.length === expected.length && rows.reduce((sum, row) => sum + row.count, 0) === expectedTotal ? rows : undefined;
  }, 120_000);
  assert.deepEqual(comparable(actual), expected, 'the final table equals the expected rows');
  assert.equal(await scenario.duplicateKeys('main'), 0, 'no key twice under FINAL');
  const [balance] = await scenario.query<{ counted: string }>(`SELECT sum(count) AS counted FROM ${scenario.database}.agg_main FINAL`);
  assert.equal(Number(balance?.counted), expectedTotal, 'sum(count) equals the values accepted');
  assert.equal(await scenario.rawReadingsCount(), data.distinct.length, 'every accepted reading is in readings_raw');
}

test('a zombie (SIGSTOP past the session timeout, then SIGCONT) does not corrupt the table', async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }]);
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const data = generateDataset({ seed: 13, devices: 40 });
  const zombie = scenario.startAggregator('zombie');
  await zombie.waitForLog(/aggregator started/);
  await streamInSlices(scenario, data, 12, 300, async (index) => {
    if (index === 3) {
      zombie.signal('SIGSTOP');
      const survivor = scenario.startAggregator('survivor');
      await survivor.waitForLog(/partition assigned/);
      // Past the 6 s session timeout the group gives every partition to the survivor.
      await sleep(8000);
      zombie.signal('SIGCONT');
    }
  });
  await assertExactlyOnce(scenario, data);
});

test('two instances in one group, one SIGKILLed mid-run (rebalance): the same final table', async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }], { partitions: 6 });
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const data = generateDataset({ seed: 14, devices: 40 });
  const a = scenario.startAggregator('a');
  const b = scenario.startAggregator('b');
  await Promise.all([a.waitForLog(/aggregator started/), b.waitForLog(/aggregator started/)]);
  await streamInSlices(scenario, data, 12, 300, async (index) => {
    if (index === 5) b.signal('SIGKILL');
  });
  // The survivor is rebalanced once the killed instance's session times out.
  await a.waitForLog(/partitions revoked/, 60_000);
  await assertExactlyOnce(scenario, data);
});

