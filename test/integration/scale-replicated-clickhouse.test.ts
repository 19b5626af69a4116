import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalStackConfig as Config } from '../../src/stack/config-schema.ts';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { sqlTable } from '../../src/clickhouse/sql.ts';
import { startClickhouseNode, type ClickhouseNode } from '../../src/stack/clickhouse.ts';
import { delay, isAlive, runningPid, signal } from '../../src/stack/processes.ts';
import { eventually } from '../../src/stack/services.ts';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { expectedRows, generateDataset } from '../support/readings-dataset.ts';
import { WINDOW, streamInSlices } from '../support/recovery.ts';
import { startPrivateReplicas, type PrivateReplicas } from '../support/replicated-clickhouse.ts';

/**
 * The whole aggregator (a real process, exactly-once) writing into two ClickHouse 18.16 replicas
 * (private ZooKeeper and ports): replica 1 is SIGKILLed by pid mid-run, the aggregator fails over
 * to replica 2 and goes on; after replica 1 is back, both replicas hold exactly the expected rows
 * (no window lost, none twice under FINAL) and every accepted reading in readings_raw.
 */
const PORTS = { http: 24123, tcp: 24900, interserver: 24909, zookeeper: 24181 };

let replicas: PrivateReplicas;
let stack: Config;
let nodes: ClickhouseNode[];
let direct: ClickHouseConnection[];

before(async () => {
  replicas = await startPrivateReplicas(PORTS);
  ({ config: stack, nodes, direct } = replicas);
});

after(async () => {
  await replicas?.stop();
});

test('an aggregator on replicated ClickHouse loses and duplicates nothing when one replica is SIGKILLed mid-run', { timeout: 420_000 }, async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }]);
  await scenario.setUp();
  try {
    const data = generateDataset({ seed: 11, devices: 40 });
    const aggregator = scenario.startAggregator('replicated', {
      TP_CLICKHOUSE__URL: nodes[0]!.url,
      TP_CLICKHOUSE__CLUSTER: stack.clickhouse.cluster,
      TP_CLICKHOUSE__REPLICA_URLS: nodes[1]!.url,
      TP_CLICKHOUSE__REQUEST_TIMEOUT_MS: '5000',
      // The replicas' own users (their users.xml has the passwords of their port, not the shared server's).
      TP_CLICKHOUSE__PASSWORD: stack.clickhouse.password,
      TP_CLICKHOUSE__ROLES__READER__PASSWORD: stack.clickhouse.roles.reader.password,
      TP_CLICKHOUSE__ROLES__ADMIN__PASSWORD: stack.clickhouse.roles.admin.password,
    });
    const table = sqlTable(scenario.database, 'agg_main');
    await streamInSlices(scenario, data, 6, 1500, async (slice) => {
      if (slice !== 2) return;
      // Rows are being written: SIGKILL replica 1 by the pid the stack recorded.
      await eventually('rows on replica 1', async () => {
        const [row] = await direct[0]!.query<{ n: string }>(`SELECT count() AS n FROM ${table}`).catch(() => [{ n: '0' }]);
        return Number(row?.n) > 0 ? true : undefined;
      }, 60_000);
      const pid = runningPid(nodes[0]!.process);
      assert.ok(pid !== null, 'replica 1 runs');
      signal(pid, 'SIGKILL');
      while (isAlive(pid)) await delay(20);
      t.diagnostic('replica 1 killed');
    });

    const expected = expectedRows(data.distinct, WINDOW);
    const expectedTotal = expected.reduce((sum, row) => sum + row.count, 0);
    const stateOf = async (replica: ClickHouseConnection) => {
      const [row] = await replica.query<{ rows: string; counted: string; keys: string }>(
        `SELECT count() AS rows, sum(count) AS counted, uniqExact(tenant, device, metric, window_start_ms) AS keys FROM ${table} FINAL`,
      );
      const [raw] = await replica.query<{ n: string }>(`SELECT count() AS n FROM (SELECT DISTINCT tenant, device, reading_id FROM ${sqlTable(scenario.database, 'readings_raw')} FINAL)`);
      return { rows: Number(row?.rows), counted: Number(row?.counted), keys: Number(row?.keys), raw: Number(raw?.n) };
    };
    const complete = { rows: expected.length, counted: expectedTotal, keys: expected.length, raw: data.distinct.length };
    // While replica 1 is down the aggregator writes through replica 2, which ends up complete
    // except for blocks replica 1 acknowledged and had not replicated yet (they return with it).
    await eventually('the aggregator finished on replica 2', async () => {
      const state = await stateOf(direct[1]!);
      return state.rows >= expected.length * 0.5 && state.counted > 0 ? state : undefined;
    }, 120_000);

    await startClickhouseNode(stack.stack, nodes[0]!, stack.clickhouse.cluster);
    const converged = await eventually('both replicas hold every row', async () => {
      const states = await Promise.all(direct.map(stateOf));
      return states.every((state) => JSON.stringify(state) === JSON.stringify(complete)) ? states : undefined;
    }, 180_000, 1000);
    assert.deepEqual(converged, [complete, complete], 'no window lost, none twice under FINAL, every reading in readings_raw, on both replicas');
    assert.match(aggregator.log(), new RegExp(`"from":"${nodes[0]!.url}","to":"${nodes[1]!.url}"`), 'the aggregator failed over to replica 2');
  } finally {
    await scenario.tearDown();
    for (const replica of direct) await replica.command(`DROP DATABASE IF EXISTS ${scenario.database}`).catch(() => undefined);
  }
});
