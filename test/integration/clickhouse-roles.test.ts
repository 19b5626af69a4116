import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClickHouse, type ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { ClickHouseError } from '../../src/clickhouse/errors.ts';
import { migrate } from '../../src/clickhouse/migrations.ts';
import { asRole } from '../../src/clickhouse/roles.ts';
import { sqlIdentifier, sqlTable } from '../../src/clickhouse/sql.ts';
import { ensureRoleUsers } from '../../src/clickhouse/users.ts';
import { ScratchDatabases } from '../support/scratch-database.ts';
import { testConfig } from '../support/stack.ts';

/**
 * The local stack's ClickHouse users per role, audited against the real 18.16 server: the reader
 * may only read, the ingest user (the aggregator's) may read and insert but run no DDL (no DROP
 * DATABASE), the admin migrates, and `default` lets nobody in without the password nobody has.
 */
const scratch = new ScratchDatabases();
const database = scratch.name('roles');
const config = testConfig({ clickhouse: { database } });
const connections: ClickHouseConnection[] = [];
let admin: ClickHouseConnection;
let ingest: ClickHouseConnection;
let reader: ClickHouseConnection;
const table = sqlTable(database, 'checkpoints');

before(async () => {
  admin = await scratch.connect(config.clickhouse);
  await migrate(admin, config);
  ingest = await connectClickHouse(config.clickhouse);
  reader = await connectClickHouse(asRole(config.clickhouse, 'reader'));
  connections.push(ingest, reader);
});

after(async () => {
  for (const connection of connections) await connection.close();
  await scratch.dropAll();
});

/** The server's refusal code of `statement`, or 'allowed'. */
async function outcome(connection: ClickHouseConnection, statement: string): Promise<number | 'allowed'> {
  try {
    await connection.command(statement);
    return 'allowed';
  } catch (error) {
    if (error instanceof ClickHouseError && typeof error.serverCode === 'number') return error.serverCode;
    throw error;
  }
}

const READONLY = 164; // "Cannot … in readonly mode"
const DDL_PROHIBITED = 392; // "DDL queries are prohibited for the user"
const insertCheckpoint = `INSERT INTO ${table} (pipeline, kafka_partition, kafka_offset, state, created_at_ms) VALUES ('roles', 0, 1, '{}', 1)`;

test('the local stack gives every role its own user, none of them default', () => {
  const users = [config.clickhouse.username, config.clickhouse.roles.reader.username, config.clickhouse.roles.admin.username];
  assert.deepEqual(users, ['ingest', 'reader', 'admin']);
  for (const role of ['ingest', 'reader', 'admin'] as const) assert.notEqual(asRole(config.clickhouse, role).password, '', role);
});

test('the reader may SELECT but not INSERT, ALTER, CREATE, DROP a table or DROP the database', async () => {
  const rows = await reader.query<{ n: string }>(`SELECT count() AS n FROM ${table}`);
  assert.equal(rows.length, 1);
  const refused = {
    insert: await outcome(reader, insertCheckpoint),
    alter: await outcome(reader, `ALTER TABLE ${table} DELETE WHERE kafka_offset = 1`),
    create: await outcome(reader, `CREATE TABLE ${sqlTable(database, 'r_new')} (a UInt8) ENGINE = Memory`),
    'drop table': await outcome(reader, `DROP TABLE ${table}`),
    'drop database': await outcome(reader, `DROP DATABASE ${sqlIdentifier(database)}`),
  };
  assert.deepEqual(refused, { insert: READONLY, alter: READONLY, create: READONLY, 'drop table': READONLY, 'drop database': READONLY });
});

test('the ingest user may INSERT and SELECT its checkpoints but not DROP DATABASE, DROP or CREATE a table, or ALTER', async () => {
  assert.equal(await outcome(ingest, insertCheckpoint), 'allowed');
  const [row] = await ingest.query<{ n: string }>(`SELECT count() AS n FROM ${table} WHERE pipeline = 'roles'`);
  assert.equal(Number(row?.n), 1);
  const refused = {
    'drop database': await outcome(ingest, `DROP DATABASE ${sqlIdentifier(database)}`),
    'drop table': await outcome(ingest, `DROP TABLE ${table}`),
    create: await outcome(ingest, `CREATE TABLE ${sqlTable(database, 'i_new')} (a UInt8) ENGINE = Memory`),
    alter: await outcome(ingest, `ALTER TABLE ${table} DELETE WHERE kafka_offset = 1`),
  };
  assert.deepEqual(refused, { 'drop database': DDL_PROHIBITED, 'drop table': DDL_PROHIBITED, create: DDL_PROHIBITED, alter: DDL_PROHIBITED });
  const [still] = await admin.query<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = '${database}' AND name = 'checkpoints'`);
  assert.equal(Number(still?.n), 1, 'the table survived');
});

test('default without a password is refused (nobody is given its password)', async () => {
  await assert.rejects(connectClickHouse({ ...config.clickhouse, username: 'default', password: '' }), (error: unknown) => {
    assert.ok(error instanceof ClickHouseError);
    assert.match(error.message, /password|Authentication/i);
    return true;
  });
});

test('on 18.16 migrate creates no users: they come from users.xml', async () => {
  assert.equal(await ensureRoleUsers(admin, config.clickhouse, database), 'users.xml');
});
