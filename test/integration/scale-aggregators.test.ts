import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { generateDataset } from '../support/readings-dataset.ts';
import { WINDOW, assertExactlyOnce, streamInSlices } from '../support/recovery.ts';

/**
 * Scale-out of the aggregator group while data flows: one instance runs, a second joins (the group
 * moves partitions to it), then the first leaves by SIGTERM (a graceful stop: flush, checkpoint,
 * commit, leave the group) and the second takes everything. The final table equals the expected
 * rows of a single-instance run, no key twice under FINAL, sum(count) equals the readings accepted.
 */
test('an aggregator joins a running group and another leaves by SIGTERM: the same final table', async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }], { partitions: 6 });
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const data = generateDataset({ seed: 21, devices: 40 });
  const first = scenario.startAggregator('first');
  await first.waitForLog(/aggregator started/);
  let second: ReturnType<AggregatorScenario['startAggregator']> | null = null;
  await streamInSlices(scenario, data, 12, 300, async (index) => {
    if (index === 3) {
      second = scenario.startAggregator('second');
      // The join moves partitions: the first instance gives some up, the second restores them.
      await Promise.all([first.waitForLog(/partitions revoked/, 60_000), second.waitForLog(/partition assigned/, 60_000)]);
    }
    if (index === 7) {
      const exit = await first.stop(30_000);
      assert.equal(exit, 0, `a graceful stop exits 0:\n${first.log().slice(-2000)}`);
    }
  });
  assert.ok(second, 'the second instance was started');
  await assertExactlyOnce(scenario, data);
});
