import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorScenario, comparable } from '../support/aggregator-harness.ts';
import { expectedRows, generateDataset } from '../support/readings-dataset.ts';
import { WINDOW } from '../support/recovery.ts';
import { groupProgress } from '../../src/kafka/admin.ts';
import { eventually } from '../../src/stack/services.ts';

/**
 * The failure table's at-most-once rows (the aggregator crashes, a rebalance): offsets are
 * auto-committed as records are read, so the readings of windows still open at a crash are not
 * read again — observed here, not only derived — and nothing is counted twice.
 */
test('at-most-once: SIGKILL with open windows after the offsets were auto-committed loses their readings and counts nothing twice', { timeout: 240_000 }, async (t) => {
  const scenario = new AggregatorScenario([{ name: 'amo', guarantee: 'at-most-once', window: WINDOW }]);
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const group = `${scenario.id}-amo`;
  const data = generateDataset({ seed: 31, devices: 20 });
  const expected = expectedRows(data.distinct, WINDOW);
  const expectedTotal = expected.reduce((sum, row) => sum + row.count, 0);
  const half = Math.floor(data.arrivals.length / 2);

  const first = scenario.startAggregator('first');
  await first.waitForLog(/aggregator started/);
  await scenario.produce(data.arrivals.slice(0, half));
  // Read and auto-committed; the newest windows are still open (no later reading moved the watermark past them).
  await eventually('the first half auto-committed', async () => {
    const progress = await groupProgress(scenario.config.kafka, group, scenario.topic);
    return progress.committed === progress.end ? true : undefined;
  }, 60_000);
  first.signal('SIGKILL');
  assert.equal(await first.exited, 'SIGKILL');

  const second = scenario.startAggregator('second');
  await second.waitForLog(/aggregator started/);
  await scenario.produce(data.arrivals.slice(half));
  await scenario.tick(data.lastIngestTime + 300_000);
  await eventually('the second instance committed everything', async () => {
    const progress = await groupProgress(scenario.config.kafka, group, scenario.topic);
    return progress.committed === progress.end ? true : undefined;
  }, 60_000);
  // A clean stop flushes the rows of the windows the last tick closed.
  assert.equal(await second.stop(), 0);

  const rows = comparable(await scenario.finalRows('amo'));
  const counted = rows.reduce((sum, row) => sum + row.count, 0);
  assert.ok(counted < expectedTotal, `readings of the windows open at the crash are lost (counted ${counted} of ${expectedTotal})`);
  assert.equal(await scenario.duplicateKeys('amo'), 0, 'no key twice under FINAL');
  const expectedByKey = new Map(expected.map((row) => [`${row.device}|${row.metric}|${row.windowStart}`, row.count]));
  const overcounted = rows.filter((row) => row.count > (expectedByKey.get(`${row.device}|${row.metric}|${row.windowStart}`) ?? 0));
  assert.deepEqual(overcounted, [], 'no window counts more readings than were sent to it');
  t.diagnostic(`counted ${counted} of ${expectedTotal} readings after the crash`);
});
