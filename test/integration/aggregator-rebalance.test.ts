import { test } from 'node:test';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { generateDataset } from '../support/readings-dataset.ts';
import { eventually } from '../../src/stack/services.ts';
import { partitionsOwned } from '../support/partition-ownership.ts';
import { WINDOW, assertExactlyOnce, streamInSlices } from '../support/recovery.ts';

/**
 * Exactly-once under failure: whatever kills or
 * stalls the aggregator, the final table equals the expected rows, no key appears twice under
 * FINAL, and sum(count) equals the readings accepted.
 *
 * These once failed intermittently on a loaded machine (windows incomplete after a rebalance): a
 * consume batch in flight during the rebalance delivered messages of a partition's previous
 * assignment to the processor restored from the checkpoint, which jumped past the replay. The
 * consumer now delivers only partitions ready since before the batch started; the deterministic
 * check of that is test/integration/aggregator-consumer-rebalance.test.ts.
 */
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
      // Once the zombie's 6 s session timed out, the group gives every partition to the survivor.
      await eventually(
        'the survivor owns every partition',
        async () => (partitionsOwned(survivor.log()).size === scenario.partitions ? true : undefined),
        60_000,
        100,
      );
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

