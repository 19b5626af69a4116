import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorScenario, comparable } from '../support/aggregator-harness.ts';
import { expectedRows, generateDataset } from '../support/readings-dataset.ts';
import { eventually } from '../../src/stack/services.ts';

const WINDOWS = {
  tumbling: { kind: 'tumbling', sizeMs: 5000 },
  sliding: { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 },
  session: { kind: 'session', gapMs: 2000 },
} as const;

test('out-of-order, duplicate and late readings give exactly the expected rows for all three window kinds', async (t) => {
  const scenario = new AggregatorScenario([
    { name: 'tumbling', guarantee: 'exactly-once', window: WINDOWS.tumbling },
    { name: 'sliding', guarantee: 'exactly-once', window: WINDOWS.sliding },
    { name: 'session', guarantee: 'exactly-once', window: WINDOWS.session },
  ]);
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const data = generateDataset({ seed: 7, devices: 60 });
  assert.ok(data.arrivals.length > data.distinct.length, 'the data set must contain duplicates');

  const aggregator = scenario.startAggregator('a');
  await aggregator.waitForLog(/aggregator started/);
  // Arrive in ten slices, as a live stream would, then let every window close.
  const slice = Math.ceil(data.arrivals.length / 10);
  for (let i = 0; i < data.arrivals.length; i += slice) await scenario.produce(data.arrivals.slice(i, i + slice));
  await scenario.tick(data.lastIngestTime + 300_000);

  for (const [name, window] of Object.entries(WINDOWS)) {
    const expected = expectedRows(data.distinct, window);
    const actual = await eventually(`${name} rows complete`, async () => {
      const rows = await scenario.finalRows(name);
      const total = rows.reduce((sum, row) => sum + row.count, 0);
      return total === expected.reduce((sum, row) => sum + row.count, 0) && rows.length === expected.length ? rows : undefined;
    }, 90_000);
    assert.deepEqual(comparable(actual), expected, `${name}: the table under FINAL must equal the expected rows`);
    for (const row of actual) assert.equal(row.version, row.count, `${name}: version is the number of readings`);
    assert.ok(actual.some((row) => row.lateReadings > 0), `${name}: late readings were absorbed by re-emitted windows`);
    assert.equal(await scenario.duplicateKeys(name), 0, `${name}: no key twice under FINAL`);
  }
  assert.equal(await scenario.rawReadingsCount(), data.distinct.length, 'every distinct reading is in readings_raw once');
});
