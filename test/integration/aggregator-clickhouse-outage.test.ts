import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { generateDataset } from '../support/readings-dataset.ts';
import { WINDOW, assertExactlyOnce, streamInSlices } from '../support/recovery.ts';
import { startClickhouse, stopClickhouse } from '../../src/stack/clickhouse.ts';

/**
 * Exactly-once across a ClickHouse outage. Apart from aggregator-recovery.test.ts (crashes of the
 * aggregator itself, which touch no shared server) because it stops the shared ClickHouse: it
 * runs alone (run-alone.txt).
 */
test('ClickHouse stopped mid-run until the aggregator retries: nothing committed beyond what was written, the same final table', async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }]);
  t.after(async () => {
    await startClickhouse(scenario.config.stack);
    await scenario.tearDown();
  });
  await scenario.setUp();
  const data = generateDataset({ seed: 15, devices: 40 });
  const aggregator = scenario.startAggregator('a');
  await aggregator.waitForLog(/aggregator started/);
  await streamInSlices(scenario, data, 12, 300, async (index) => {
    if (index === 3) {
      await stopClickhouse(scenario.config.stack);
      // Down until the aggregator has failed an insert and is retrying it: the case under test.
      await aggregator.waitForLog(/ClickHouse insert failed; retrying/, 60_000);
      await startClickhouse(scenario.config.stack);
    }
  });
  await assertExactlyOnce(scenario, data);
  assert.match(aggregator.log(), /ClickHouse insert failed; retrying/, 'inserts were retried while ClickHouse was down');
  assert.equal(aggregator.child.exitCode, null, 'the aggregator rode out the outage');
});
