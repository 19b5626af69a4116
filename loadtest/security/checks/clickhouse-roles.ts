import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { sendRequest } from '../transport.ts';

/**
 * ClickHouse users per role (clickhouse.roles; the local server's users.xml): the reader may only
 * read — INSERT, CREATE, DROP, TRUNCATE, ALTER … DELETE, RENAME and lifting its own `readonly` are
 * refused; the ingest user (clickhouse.username) may not CREATE, DROP or RENAME; `default` and a
 * wrong password get nobody in. Each is refused with a ClickHouse exception, and afterwards the
 * run's scratch table (made by the admin role) still exists with exactly its one row.
 */
export const clickhouseRoles: SecurityCheck = {
  name: 'clickhouse-roles',
  requires: ['clickhouse-roles'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const { clickhouse } = context.stack;
    const database = `security_${context.runId}`;
    const table = `${database}.target`;
    const as = (user: string, password: string) => (sql: string, query = '') => clickhouseQuery(context, clickhouse.url, user, password, sql, query);
    const admin = as(clickhouse.roles.admin.username, clickhouse.roles.admin.password);
    const reader = as(clickhouse.roles.reader.username, clickhouse.roles.reader.password);
    const ingest = as(clickhouse.username, clickhouse.password);
    for (const sql of [`CREATE DATABASE IF NOT EXISTS ${database}`, `CREATE TABLE ${table} (x UInt32) ENGINE = MergeTree ORDER BY x`, `INSERT INTO ${table} VALUES (1)`]) {
      const reply = await admin(sql);
      if (reply.status !== 200) throw new Error(`the admin role could not prepare the scratch table (${sql}): ${reply.status} ${reply.text.slice(0, 200)}`);
    }
    try {
      const attempts: { what: string; send: () => Promise<{ status: number; text: string }> }[] = [
        { what: 'reader INSERT', send: () => reader(`INSERT INTO ${table} VALUES (2)`) },
        { what: 'reader INSERT with readonly=0 in the URL', send: () => reader(`INSERT INTO ${table} VALUES (3)`, '&readonly=0') },
        { what: 'reader SET readonly = 0', send: () => reader('SET readonly = 0') },
        { what: 'reader CREATE TABLE', send: () => reader(`CREATE TABLE ${database}.other (x UInt8) ENGINE = Memory`) },
        { what: 'reader DROP TABLE', send: () => reader(`DROP TABLE ${table}`) },
        { what: 'reader TRUNCATE TABLE', send: () => reader(`TRUNCATE TABLE ${table}`) },
        { what: 'reader ALTER TABLE … DELETE', send: () => reader(`ALTER TABLE ${table} DELETE WHERE 1`) },
        { what: 'reader RENAME TABLE', send: () => reader(`RENAME TABLE ${table} TO ${database}.renamed`) },
        { what: 'reader DROP DATABASE', send: () => reader(`DROP DATABASE ${database}`) },
        { what: 'ingest CREATE TABLE', send: () => ingest(`CREATE TABLE ${database}.other (x UInt8) ENGINE = Memory`) },
        { what: 'ingest DROP TABLE', send: () => ingest(`DROP TABLE ${table}`) },
        { what: 'ingest RENAME TABLE', send: () => ingest(`RENAME TABLE ${table} TO ${database}.renamed`) },
        { what: 'ingest DROP DATABASE', send: () => ingest(`DROP DATABASE ${database}`) },
        { what: "'default' without a password", send: () => as('default', '')(`SELECT count() FROM ${table}`) },
        { what: 'reader with a wrong password', send: () => as(clickhouse.roles.reader.username, context.wrongSecret('wrong ClickHouse password'))(`SELECT count() FROM ${table}`) },
        { what: 'admin with a wrong password', send: () => as(clickhouse.roles.admin.username, context.wrongSecret('wrong ClickHouse password'))(`DROP TABLE ${table}`) },
      ];
      for (const attempt of attempts) {
        const reply = await attempt.send();
        const code = /Code: (\d+)/.exec(reply.text)?.[1];
        if (reply.status === 200) tally.record('admitted', attempt.what, 'executed (HTTP 200)');
        else if (code !== undefined) tally.record('refused', attempt.what, `ClickHouse Code ${code}`);
        else tally.record('unexpected', attempt.what, `HTTP ${reply.status} without a ClickHouse exception: ${reply.text.slice(0, 120)}`);
      }
      const rows = await admin(`SELECT count() FROM ${table}`);
      const tables = await admin(`SELECT name FROM system.tables WHERE database = '${database}' ORDER BY name`);
      if (rows.status !== 200 || rows.text.trim() !== '1') tally.record('admitted', 'the scratch table afterwards', `SELECT count() answered ${rows.status} ${rows.text.trim().slice(0, 120)}, not 1 row`);
      if (tables.status !== 200 || tables.text.trim() !== 'target') tally.record('admitted', 'the scratch database afterwards', `tables: ${tables.text.trim().replace(/\n/g, ', ').slice(0, 120)}, not just target`);
    } finally {
      await admin(`DROP DATABASE IF EXISTS ${database}`);
    }
  },
};

/** One statement over ClickHouse's HTTP interface, the credentials in Basic auth (never the URL). */
async function clickhouseQuery(context: RunContext, url: string, user: string, password: string, sql: string, query: string): Promise<{ status: number; text: string }> {
  const reply = await sendRequest(`${url}/?database=default${query}`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
    body: sql,
    timeoutMs: 15_000,
  });
  context.answered(`ClickHouse ${reply.status}`, reply.text);
  return { status: reply.status, text: reply.text };
}
