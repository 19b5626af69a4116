import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LocalStackConfig as Config } from '../../src/stack/config-schema.ts';
import { connectClickHouse, type ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { migrate } from '../../src/clickhouse/migrations.ts';
import { asRole } from '../../src/clickhouse/roles.ts';
import { ReplicaSetConnection, type FailoverEvent } from '../../src/clickhouse/replicas.ts';
import { createClickHouseSink } from '../../src/clickhouse/sink.ts';
import { AGGREGATE_COLUMNS, ROW_FORMAT, encodeAggregateRow, encodeBatch } from '../../src/clickhouse/encode.ts';
import { sqlString, sqlTable } from '../../src/clickhouse/sql.ts';
import type { EmittedAggregateRow } from '../../src/core/rows.ts';
import { startClickhouseNode, type ClickhouseNode } from '../../src/stack/clickhouse.ts';
import { runningPid, signal, isAlive, delay } from '../../src/stack/processes.ts';
import { startPrivateReplicas, type PrivateReplicas } from '../support/replicated-clickhouse.ts';

/**
 * Two ClickHouse 18.16 replicas and a ZooKeeper of the test's own (private ports and a temporary
 * data directory, so the shared stack on 8123 is untouched): the replicated migrations, reads from
 * the other replica, and a replica SIGKILLed by pid while inserts go on, which must end with both
 * replicas holding every row once.
 */
const PORTS = { http: 18123, tcp: 19000, interserver: 19009, zookeeper: 12181 };
const TABLE = 'agg_main';
const W = 1_700_000_000_000;

let replicas: PrivateReplicas;
let config: Config;
let nodes: ClickhouseNode[];
let connection: ClickHouseConnection;
let direct: ClickHouseConnection[];
const failovers: FailoverEvent[] = [];

function row(index: number, version = 1): EmittedAggregateRow {
  const windowStart = W + (index % 500) * 5000;
  return {
    pipeline: 'main',
    tenant: 'acme',
    device: `d${Math.floor(index / 500)}`,
    metric: 'temp',
    windowStart,
    windowEnd: windowStart + 5000,
    count: version,
    sum: index,
    min: index,
    max: index,
    first: index,
    last: index,
    firstTime: windowStart + 1,
    lastTime: windowStart + 2,
    p50: index,
    lateReadings: 0,
    maxIngestTime: windowStart + 3,
    partition: 0,
    version,
    emittedAt: windowStart + 6000,
  };
}

const rows = (from: number, to: number): EmittedAggregateRow[] => Array.from({ length: to - from }, (_, i) => row(from + i));

interface TableState {
  readonly total: number;
  readonly final: number;
  readonly keys: number;
  readonly digest: string;
}

async function tableState(replica: ClickHouseConnection): Promise<TableState> {
  const table = sqlTable(config.clickhouse.database, TABLE);
  const [all] = await replica.query<{ total: string }>(`SELECT count() AS total FROM ${table}`);
  const [final] = await replica.query<{ final: string; keys: string; digest: string }>(
    `SELECT count() AS final, uniqExact(device, window_start_ms) AS keys, ` +
      `toString(sum(cityHash64(device, window_start_ms, version, sum))) AS digest FROM ${table} FINAL`,
  );
  return { total: Number(all?.total), final: Number(final?.final), keys: Number(final?.keys), digest: final?.digest ?? '' };
}

async function syncReplica(replica: ClickHouseConnection): Promise<void> {
  await replica.command(`SYSTEM SYNC REPLICA ${sqlTable(config.clickhouse.database, TABLE)}`, { timeoutMs: 60_000 });
}

/** Polls until `probe` holds; the last failure (or value) is in the message. */
async function eventually<T>(what: string, probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (accept(value)) return value;
      last = value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    await delay(500);
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

before(async () => {
  replicas = await startPrivateReplicas(PORTS, {
    clickhouse: { database: 'replicated_it', requestTimeoutMs: 5000, insertMaxAttempts: 20, insertMaxElapsedMs: 60_000 },
    aggregator: {
      pipelines: [
        { name: 'main', guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 5000 }, watermark: { kind: 'fixed', delayMs: 1000 }, latePolicy: { kind: 'drop' } },
      ],
    },
  });
  ({ config, nodes, direct } = replicas);
  connection = await connectClickHouse(asRole(config.clickhouse, 'admin'), { onFailover: (event) => failovers.push(event) });
});

after(async () => {
  await connection?.close();
  // Everything this test started, by its recorded pid.
  const startedAt = Date.now();
  await replicas?.stop();
  process.stderr.write(`# stopped the replicas and ZooKeeper in ${Date.now() - startedAt} ms\n`);
});

test('the local replicated stack names the cluster and the second replica', () => {
  assert.equal(config.clickhouse.cluster, 'telemetry');
  assert.equal(config.clickhouse.url, `http://127.0.0.1:${PORTS.http}`);
  assert.deepEqual(config.clickhouse.replicaUrls, [`http://127.0.0.1:${PORTS.http + 1}`]);
  assert.ok(connection instanceof ReplicaSetConnection);
});

test('migrate creates Replicated tables on both replicas, and both see each other in system.replicas', async () => {
  const report = await migrate(connection, config);
  assert.deepEqual(
    report.replicas.map((replica) => [replica.url, replica.applied.length, replica.skipped]),
    nodes.map((node) => [node.url, 3, null]),
  );
  const again = await migrate(connection, config);
  assert.deepEqual(again.applied, []);
  for (const replica of direct) {
    const tables = await replica.query<{ table: string; engine: string; is_readonly: number; active_replicas: number; zookeeper_path: string }>(
      `SELECT table, engine, is_readonly, active_replicas, zookeeper_path FROM system.replicas WHERE database = ${sqlString(config.clickhouse.database)} ORDER BY table`,
    );
    assert.deepEqual(
      tables.map((table) => `${table.table}:${table.engine}:${table.is_readonly}:${table.active_replicas}:${table.zookeeper_path}`),
      ['agg_main', 'checkpoints', 'readings_raw'].map(
        (name) => `${name}:ReplicatedReplacingMergeTree:0:2:/clickhouse/tables/01/${config.clickhouse.database}/${name}`,
      ),
    );
  }
});

test('rows written through replica 1 are read from replica 2, and an identical block sent to replica 2 is dropped', async () => {
  const sink = createClickHouseSink(connection, config);
  await sink.insertAggregates(TABLE, rows(0, 200));
  await syncReplica(direct[1]!);
  assert.deepEqual(await tableState(direct[1]!).then(({ total, final, keys }) => ({ total, final, keys })), { total: 200, final: 200, keys: 200 });
  // The same bytes, into the other replica: the block hash is in ZooKeeper, so nothing is added.
  const body = Buffer.from(encodeBatch(rows(0, 200), 0, 200, encodeAggregateRow), 'utf8');
  await direct[1]!.insert(sqlTable(config.clickhouse.database, TABLE), AGGREGATE_COLUMNS, body, { format: ROW_FORMAT });
  await syncReplica(direct[0]!);
  assert.equal((await tableState(direct[0]!)).total, 200);
  assert.equal((await tableState(direct[1]!)).total, 200);
});

test('a replica SIGKILLed mid-run: inserts and reads move to the other, and after its restart both replicas converge', async (t) => {
  const sink = createClickHouseSink(connection, config);
  const victim = nodes[0]!;
  assert.equal(connection.url, victim.url, 'replica 1 is in use before the failure');
  const batches = 20;
  const perBatch = 100;
  const from = 200;
  let killedAt = -1;
  for (let batch = 0; batch < batches; batch++) {
    const start = from + batch * perBatch;
    const pending = sink.insertAggregates(TABLE, rows(start, start + perBatch));
    if (batch === 5) {
      // While this batch is in flight: SIGKILL, by the pid the stack recorded.
      const pid = runningPid(victim.process);
      assert.ok(pid !== null, 'replica 1 runs');
      signal(pid, 'SIGKILL');
      while (isAlive(pid)) await delay(20);
      killedAt = batch;
    }
    await pending;
  }
  assert.equal(killedAt, 5);
  const expected = from + batches * perBatch;
  assert.ok(failovers.some((event) => event.from === victim.url && event.to === nodes[1]!.url), `a failover to replica 2 was reported: ${JSON.stringify(failovers.map((event) => [event.operation, event.from, event.to]))}`);
  assert.equal(connection.url, nodes[1]!.url);

  // Reads go on through the connection while replica 1 is down. Replication is asynchronous: the
  // last blocks replica 1 acknowledged before it died may not have reached replica 2 yet (they
  // come back with replica 1); everything written after the failover and before the kill's
  // preceding sync is there.
  const [live] = await connection.query<{ rows: string }>(`SELECT count() AS rows FROM ${sqlTable(config.clickhouse.database, TABLE)} FINAL`);
  const writtenAfterFailover = (batches - killedAt - 1) * perBatch;
  const visible = Number(live?.rows);
  t.diagnostic(`rows visible on replica 2 while replica 1 was down: ${visible} of ${expected}`);
  assert.ok(visible >= from + writtenAfterFailover && visible <= expected, `${visible} rows visible`);

  // A migration while replica 1 is down: replica 2 gets it, replica 1 is reported as skipped.
  const withSecond = {
    ...config,
    aggregator: { ...config.aggregator, pipelines: [...config.aggregator.pipelines, { ...config.aggregator.pipelines[0]!, name: 'second', table: 'agg_second', consumerGroup: 'aggregator-second' }] },
  };
  const partial = await migrate(connection, withSecond);
  assert.deepEqual(partial.replicas.map((replica) => [replica.applied, replica.skipped === null]), [[[], false], [['0003_aggregates:agg_second'], true]]);

  await startClickhouseNode(config.stack, victim, config.clickhouse.cluster);
  const restartedAt = Date.now();
  const converged = await eventually(
    'both replicas hold every row once',
    async () => {
      await syncReplica(direct[0]!);
      return Promise.all(direct.map(tableState));
    },
    (states) => states.every((state) => state.final === expected && state.total === expected && state.digest === states[0]!.digest),
  );
  t.diagnostic(`converged ${Date.now() - restartedAt} ms after replica 1 was started again`);
  for (const state of converged) {
    assert.equal(state.final, expected, 'no row lost');
    assert.equal(state.keys, expected, 'no window twice under FINAL');
    assert.equal(state.total, expected, 'no duplicate block, even before merges');
  }
  const [status] = await direct[0]!.query<{ is_readonly: number; active_replicas: number }>(
    `SELECT is_readonly, active_replicas FROM system.replicas WHERE database = ${sqlString(config.clickhouse.database)} AND table = ${sqlString(TABLE)}`,
  );
  assert.deepEqual({ ...status }, { is_readonly: 0, active_replicas: 2 });
  // The next migrate brings replica 1 up to date.
  const caughtUp = await migrate(connection, withSecond);
  assert.deepEqual(caughtUp.replicas.map((replica) => replica.applied), [['0003_aggregates:agg_second'], []]);
});
