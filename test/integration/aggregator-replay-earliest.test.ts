import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorScenario, comparable } from '../support/aggregator-harness.ts';
import { expectedRows, generateDataset } from '../support/readings-dataset.ts';
import { WINDOW, streamInSlices } from '../support/recovery.ts';
import { groupProgress } from '../../src/kafka/admin.ts';
import { eventually } from '../../src/stack/services.ts';
import { kafkaJsClient, type KafkaConnection } from '../../src/kafka/connection.ts';

/**
 * The failure table's row "the consumer group is replayed from the earliest offset": every window
 * is recomputed from the log and the rows collapse with those already written. The group is
 * deleted (its committed offsets go with it), so the restarted aggregator starts from the earliest
 * offset (auto.offset.reset earliest) — for exactly-once with checkpoints of later offsets already
 * in ClickHouse, which it must not restore into a replay from the start.
 */
const TIERS = [
  { name: 'eo', guarantee: 'exactly-once' },
  { name: 'alo', guarantee: 'at-least-once' },
  { name: 'amo', guarantee: 'at-most-once' },
] as const;

async function deleteGroups(connection: KafkaConnection, groups: string[]): Promise<void> {
  const admin = kafkaJsClient(connection).admin();
  await admin.connect();
  try {
    await admin.deleteGroups(groups);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

async function allCommitted(scenario: AggregatorScenario, groups: readonly string[]): Promise<true | undefined> {
  for (const group of groups) {
    const progress = await groupProgress(scenario.config.kafka, group, scenario.topic);
    if (progress.committed !== progress.end) return undefined;
  }
  return true;
}

test('the consumer group deleted and replayed from the earliest offset: every tier writes the same final table again, no key twice', { timeout: 300_000 }, async (t) => {
  const scenario = new AggregatorScenario(TIERS.map((tier) => ({ name: tier.name, guarantee: tier.guarantee, window: WINDOW })));
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const groups = TIERS.map((tier) => `${scenario.id}-${tier.name}`);
  const data = generateDataset({ seed: 21, devices: 30 });
  const expected = expectedRows(data.distinct, WINDOW);
  const expectedTotal = expected.reduce((sum, row) => sum + row.count, 0);

  const first = scenario.startAggregator('first');
  await first.waitForLog(/aggregator started/);
  await streamInSlices(scenario, data, 6, 200);
  for (const tier of TIERS) {
    await eventually(`${tier.guarantee}: every window in ClickHouse`, async () => {
      const rows = await scenario.finalRows(tier.name);
      return rows.reduce((sum, row) => sum + row.count, 0) === expectedTotal ? true : undefined;
    }, 120_000);
  }
  await eventually('every group committed to the end', () => allCommitted(scenario, groups), 60_000);
  assert.equal(await first.stop(), 0, 'the first aggregator stops cleanly');
  const before = new Map<string, Awaited<ReturnType<AggregatorScenario['finalRows']>>>();
  for (const tier of TIERS) before.set(tier.name, await scenario.finalRows(tier.name));

  await deleteGroups(scenario.config.kafka, groups);
  for (const group of groups) assert.equal((await groupProgress(scenario.config.kafka, group, scenario.topic)).committed, 0, `${group} starts over`);

  const replay = scenario.startAggregator('replay');
  await replay.waitForLog(/aggregator started/);
  await eventually('the replay committed to the end in every group', () => allCommitted(scenario, groups), 120_000);
  for (const tier of TIERS) assert.match(replay.log(), new RegExp(`"pipeline":"${tier.name}"[^\\n]*"resumeAt":"earliest","restored":false`), `${tier.guarantee}: replayed from the earliest offset, no checkpoint restored`);
  // A clean stop flushes every row the replay emitted (the windows are all closed by the last tick).
  assert.equal(await replay.stop(), 0, 'the replaying aggregator stops cleanly');

  for (const tier of TIERS) {
    const after = await scenario.finalRows(tier.name);
    assert.deepEqual(comparable(after), expected, `${tier.guarantee}: the final table after the replay equals the expected rows`);
    assert.deepEqual(after, before.get(tier.name), `${tier.guarantee}: the replay wrote the same rows with the same versions`);
    assert.equal(await scenario.duplicateKeys(tier.name), 0, `${tier.guarantee}: no key twice under FINAL`);
  }
  assert.equal(await scenario.rawReadingsCount(), data.distinct.length, 'readings_raw holds each reading once');
});
