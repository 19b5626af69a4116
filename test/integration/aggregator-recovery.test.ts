import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { generateDataset } from '../support/readings-dataset.ts';
import { WINDOW, assertExactlyOnce, streamInSlices } from '../support/recovery.ts';
import { eventually } from '../../src/stack/services.ts';

/**
 * Exactly-once under failure: whatever kills or stalls the aggregator, the final table equals the
 * expected rows, no key appears twice under FINAL, and sum(count) equals the readings accepted.
 */
for (const point of ['before-flush:3', 'during-insert:2', 'after-insert-before-commit:2']) {
  test(`SIGKILL at ${point} and restart: the same final table`, async (t) => {
    const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }]);
    t.after(() => scenario.tearDown());
    await scenario.setUp();
    const data = generateDataset({ seed: 11, devices: 40 });
    const first = scenario.startAggregator('a', { TEST_AGGREGATOR_CRASH_AT: point });
    await first.waitForLog(/aggregator started/);
    let restarted = false;
    await streamInSlices(scenario, data, 12, 300, async () => {
      if (!restarted && first.child.exitCode === null && first.child.signalCode === null) return;
      if (!restarted) {
        restarted = true;
        scenario.startAggregator('b');
      }
    });
    assert.equal(await first.exited, 'SIGKILL', `the aggregator must have died at ${point}`);
    if (!restarted) scenario.startAggregator('b');
    await assertExactlyOnce(scenario, data);
  });
}

test('SIGKILL from outside at a random moment, twice, then restart: the same final table', async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }]);
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const data = generateDataset({ seed: 12, devices: 40 });
  let current = scenario.startAggregator('a');
  await current.waitForLog(/aggregator started/);
  await streamInSlices(scenario, data, 12, 300, async (index) => {
    if (index === 3 || index === 7) {
      current.signal('SIGKILL');
      await current.exited;
      current = scenario.startAggregator(`after-${index}`);
    }
  });
  await assertExactlyOnce(scenario, data);
});

test('a pipeline that fails for good ends the process with exit code 1, for a supervisor to restart', async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }]);
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const data = generateDataset({ seed: 16, devices: 10 });
  const aggregator = scenario.startAggregator('a');
  await aggregator.waitForLog(/aggregator started/);
  // An insert into a table that does not exist is refused for good (not retried): the pipeline fails.
  await scenario.clickhouse.command({ query: `DROP TABLE ${scenario.database}.agg_main` });
  await streamInSlices(scenario, data, 4, 300);
  const outcome = await eventually('the aggregator exited', async () => (aggregator.child.exitCode ?? undefined), 60_000, 100).catch(() => 'still running');
  assert.match(aggregator.log(), /pipeline failed/);
  assert.equal(outcome, 1, 'the aggregator exits 1 once a pipeline failed (it used to stay up, unready)');
});
