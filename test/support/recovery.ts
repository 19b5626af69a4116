import assert from 'node:assert/strict';
import { eventually } from '../../src/stack/services.ts';
import { pace } from './pace.ts';
import { comparable, type AggregatorScenario } from './aggregator-harness.ts';
import { expectedRows, type Dataset } from './readings-dataset.ts';

/**
 * Shared by the aggregator failure tests: stream a data set in slices (a fault may run between
 * slices), then check the exactly-once audit of the final table.
 */
export const WINDOW = { kind: 'tumbling', sizeMs: 5000 } as const;

/**
 * Produces the data set in `slices`, `pauseMs` apart, so that the aggregator consumes, flushes and
 * commits between them and a fault in `onSlice` lands mid-stream; then a tick that closes every window.
 */
export async function streamInSlices(scenario: AggregatorScenario, data: Dataset, slices: number, pauseMs: number, onSlice?: (index: number) => Promise<void>): Promise<void> {
  const size = Math.ceil(data.arrivals.length / slices);
  for (let index = 0; index * size < data.arrivals.length; index++) {
    await scenario.produce(data.arrivals.slice(index * size, (index + 1) * size));
    await onSlice?.(index);
    await pace(pauseMs, 'the readings arrive spread over time, in slices');
  }
  await scenario.tick(data.lastIngestTime + 300_000);
}

export async function assertExactlyOnce(scenario: AggregatorScenario, data: Dataset): Promise<void> {
  const expected = expectedRows(data.distinct, WINDOW);
  const expectedTotal = expected.reduce((sum, row) => sum + row.count, 0);
  let seen = 'nothing read yet';
  const actual = await eventually('all windows in ClickHouse', async () => {
    const rows = await scenario.finalRows('main');
    const total = rows.reduce((sum, row) => sum + row.count, 0);
    seen = `${rows.length} of ${expected.length} windows, ${total} of ${expectedTotal} readings`;
    return rows.length === expected.length && total === expectedTotal ? rows : undefined;
  }, 120_000).catch((error: unknown) => {
    throw new Error(`${String(error)}; last seen: ${seen}\n${scenario.serviceLogs(4000)}`, { cause: error });
  });
  assert.deepEqual(comparable(actual), expected, 'the final table equals the expected rows');
  assert.equal(await scenario.duplicateKeys('main'), 0, 'no key twice under FINAL');
  const [balance] = await scenario.query<{ counted: string }>(`SELECT sum(count) AS counted FROM ${scenario.database}.agg_main FINAL`);
  assert.equal(Number(balance?.counted), expectedTotal, 'sum(count) equals the values accepted');
  assert.equal(await scenario.rawReadingsCount(), data.distinct.length, 'every accepted reading is in readings_raw');
}
