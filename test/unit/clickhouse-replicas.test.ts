import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLICKHOUSE_18_16 } from '../../src/clickhouse/capabilities.ts';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { ClickHouseQueryError, ClickHouseTimeoutError, ClickHouseUnavailableError } from '../../src/clickhouse/errors.ts';
import { ReplicaSetConnection, replicasOf, type FailoverEvent } from '../../src/clickhouse/replicas.ts';
import { createAggregatesStatement, createMigrationsTableStatement, schemaStatements } from '../../src/clickhouse/migrations.ts';

/** A replica that answers with its own url, or throws what `failWith` returns. */
function fakeReplica(url: string) {
  const calls: string[] = [];
  let failWith: (() => Error) | null = null;
  const answer = async (operation: string): Promise<void> => {
    calls.push(operation);
    if (failWith) throw failWith();
  };
  const connection: ClickHouseConnection = {
    url,
    capabilities: CLICKHOUSE_18_16,
    ping: () => answer('ping'),
    async query<Row>() {
      await answer('query');
      return [{ url }] as Row[];
    },
    command: () => answer('command'),
    insert: () => answer('insert'),
    async close() {},
  };
  return { connection, calls, fail: (make: (() => Error) | null) => (failWith = make) };
}

const refused = (url: string) => () => new ClickHouseUnavailableError(`connection refused at ${url}`, { outcome: 'not-sent' });
const reset = (url: string) => () => new ClickHouseUnavailableError(`socket reset at ${url}`, { outcome: 'unknown' });

function replicaSet() {
  const a = fakeReplica('http://a');
  const b = fakeReplica('http://b');
  const events: FailoverEvent[] = [];
  const set = new ReplicaSetConnection([a.connection, b.connection], CLICKHOUSE_18_16, { onFailover: (event) => events.push(event) });
  return { a, b, set, events };
}

test('a read moves to the next replica when the one in use does not answer, and stays there', async () => {
  const { a, b, set, events } = replicaSet();
  assert.deepEqual(await set.query('SELECT 1'), [{ url: 'http://a' }]);
  a.fail(refused('a'));
  assert.deepEqual(await set.query('SELECT 1'), [{ url: 'http://b' }]);
  assert.equal(set.url, 'http://b');
  assert.equal(set.failovers, 1);
  assert.deepEqual(events.map((event) => [event.operation, event.from, event.to, event.error.code]), [['query', 'http://a', 'http://b', 'CLICKHOUSE_UNAVAILABLE']]);
  // Sticky: the next request does not try replica a again.
  await set.query('SELECT 1');
  assert.deepEqual(a.calls, ['query', 'query']);
  assert.deepEqual(b.calls, ['query', 'query']);
});

test('an insert with an unknown outcome moves on (Replicated tables drop the identical block), a command only when not sent', async () => {
  const { a, b, set } = replicaSet();
  a.fail(reset('a'));
  await set.insert('`db`.`t`', ['x'], '{"x":1}\n');
  assert.equal(set.url, 'http://b');
  b.fail(() => new ClickHouseTimeoutError('no answer from b', {}));
  a.fail(null);
  await assert.rejects(set.command('ALTER TABLE t DELETE WHERE 1'), { code: 'CLICKHOUSE_TIMEOUT' });
  assert.deepEqual(a.calls, ['insert'], 'the command with an unknown outcome was not sent to a');
  b.fail(refused('b'));
  await set.command('ALTER TABLE t DELETE WHERE 1');
  assert.equal(set.url, 'http://a');
});

test('a statement the server refused, or a request of a session, stays on its replica', async () => {
  const { a, b, set } = replicaSet();
  a.fail(() => new ClickHouseQueryError('Code: 60, Table does not exist', { serverCode: 60 }));
  await assert.rejects(set.query('SELECT * FROM missing'), { code: 'CLICKHOUSE_QUERY' });
  a.fail(refused('a'));
  await assert.rejects(set.query('SELECT 1', { sessionId: 'audit-1' }), { code: 'CLICKHOUSE_UNAVAILABLE' });
  assert.deepEqual(b.calls, []);
  assert.equal(set.failovers, 0);
});

test('when no replica answers, each was tried once and the last error is thrown', async () => {
  const { a, b, set } = replicaSet();
  a.fail(refused('a'));
  b.fail(refused('b'));
  await assert.rejects(set.ping(), /connection refused at b/);
  assert.deepEqual([a.calls, b.calls], [['ping'], ['ping']]);
  assert.equal(set.url, 'http://a');
  assert.deepEqual(replicasOf(set).map((replica) => replica.url), ['http://a', 'http://b']);
  assert.deepEqual(replicasOf(a.connection), [a.connection]);
});

test('the replicated layout uses Replicated engines with per-database ZooKeeper paths; the default layout does not', () => {
  const single = { database: 'db', aggregateTables: ['agg_main'], deduplicationWindow: false };
  const replicated = { ...single, cluster: 'telemetry' };
  assert.match(createAggregatesStatement(single, 'agg_main'), /ENGINE = ReplacingMergeTree\(version\)\n/);
  assert.match(
    createAggregatesStatement(replicated, 'agg_main'),
    /ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/db\/agg_main', '\{replica\}', version\)\n[\s\S]*SETTINGS replicated_deduplication_window = 1000$/,
  );
  // schema_migrations is each replica's own record of the DDL it ran.
  assert.equal(createMigrationsTableStatement(replicated), createMigrationsTableStatement(single));
  assert.equal(schemaStatements(replicated).filter((statement) => statement.includes('ReplicatedReplacingMergeTree')).length, 3);
  assert.equal(schemaStatements(single).some((statement) => statement.includes('Replicated')), false);
});
