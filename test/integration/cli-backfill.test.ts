import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Auditor } from '../../src/clickhouse/audit.ts';
import { connectClickHouse } from '../../src/clickhouse/client.ts';
import { asRole } from '../../src/clickhouse/roles.ts';
import { groupProgress } from '../../src/kafka/admin.ts';
import { eventually } from '../../src/stack/services.ts';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { runCli } from '../support/cli.ts';

/**
 * `backfill` of a day of readings (CSV, four devices, one reading a minute, two bad lines) into a
 * fresh exactly-once pipeline, audited like the load test: every valid reading in readings_raw
 * exactly once, sum(count) equal to them, no key twice. Then the same file again: the estimate says
 * every reading is late, and nothing in the tables changes.
 */
const DEVICES = 4;
const DAY_START = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate()) - 86_400_000;

function dayFile(): { path: string; ids: { device: string; readingId: string }[] } {
  const lines = ['device,seq,ts,temp,hum'];
  const ids: { device: string; readingId: string }[] = [];
  for (let minute = 0; minute < 1440; minute++) {
    for (let d = 0; d < DEVICES; d++) {
      const device = `bf-${d}`;
      lines.push(`${device},${minute},${new Date(DAY_START + minute * 60_000 + d * 1000).toISOString()},${(20 + d + minute / 100).toFixed(2)},${40 + (minute % 7)}`);
      ids.push({ device, readingId: String(minute) });
    }
  }
  lines.push('bf-0,99999,not-a-time,1,2', 'bf-1,99998,2025-01-01T00:00:00Z,warm,2');
  const path = join(mkdtempSync(join(tmpdir(), 'tp-backfill-')), 'readings.csv');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return { path, ids };
}

test('backfill of a day of readings is audited like a load test, and a second run changes nothing', { timeout: 300_000 }, async () => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 60_000 } }]);
  await scenario.setUp();
  const connection = await connectClickHouse({ ...asRole(scenario.config.clickhouse, 'admin'), database: scenario.database });
  try {
    await scenario.startAggregator('a').waitForLog(/aggregator started/);
    const { path, ids } = dayFile();
    const first = await runCli(scenario.configFile, ['backfill', '--file', path, '--tenant', 'demo', '--yes']);
    assert.equal(first.code, 0, `backfill failed:\n${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, new RegExp(`${ids.length} valid readings of tenant 'demo'.*2 refused`));
    assert.match(first.stdout, new RegExp(`pipeline main .*: 0 of ${ids.length} readings late`));
    assert.match(first.stdout, /line \d+: schema: 'ts' "not-a-time"/);
    assert.match(first.stdout, new RegExp(`backfill: ${ids.length} readings written`));

    // Windows close when the watermark passes them: a tick, as the bridges send, once the partitions fall idle.
    const auditor = new Auditor(connection, scenario.database);
    const values = ids.length * 2;
    const settled = async (): Promise<void> => {
      await eventually('the backfill is aggregated', async () => {
        await scenario.tick(Date.now() + 86_400_000);
        const balance = await auditor.readingsBalance('agg_main', { tenant: 'demo' });
        return balance.acceptedValues === values && balance.countedValues === values ? balance : undefined;
      }, 120_000, 2000);
    };
    await settled();
    const missing = await auditor.missingReadings(ids.map(({ device, readingId }) => ({ tenant: 'demo', device, readingId })));
    assert.equal(missing.total, 0, `lost: ${JSON.stringify(missing.sample)}`);
    assert.equal((await auditor.duplicateRawReadings({ tenant: 'demo' })).total, 0);
    assert.equal((await auditor.duplicateAggregateKeys('agg_main', { tenant: 'demo' })).total, 0);
    assert.equal(await scenario.rawReadingsCount(), ids.length);
    const rowsBefore = JSON.stringify(await scenario.finalRows('main'));

    const second = await runCli(scenario.configFile, ['backfill', '--file', path, '--tenant', 'demo', '--yes']);
    assert.equal(second.code, 0, `second backfill failed:\n${second.stdout}\n${second.stderr}`);
    assert.match(second.stdout, new RegExp(`pipeline main .*: ${ids.length} of ${ids.length} readings late`), second.stdout);
    const group = `${scenario.id}-main`;
    await scenario.tick(Date.now() + 86_400_000);
    await eventually('the second run is processed and committed', async () => {
      const progress = await groupProgress(scenario.config.kafka, group, scenario.topic);
      return progress.committed === progress.end ? progress : undefined;
    }, 120_000, 1000);
    const balance = await auditor.readingsBalance('agg_main', { tenant: 'demo' });
    assert.deepEqual({ accepted: balance.acceptedValues, counted: balance.countedValues }, { accepted: values, counted: values });
    assert.equal(await scenario.rawReadingsCount(), ids.length);
    assert.equal((await auditor.duplicateAggregateKeys('agg_main', { tenant: 'demo' })).total, 0);
    assert.equal(JSON.stringify(await scenario.finalRows('main')), rowsBefore);
  } finally {
    await connection.close();
    await scenario.tearDown();
  }
});
