import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Session } from 'chdb';
import { detectCapabilities, type ClickHouseConnection, type InsertOptions, type RequestOptions } from '../../src/clickhouse/client.ts';
import { CLICKHOUSE_18_16, type ServerCapabilities } from '../../src/clickhouse/capabilities.ts';
import { classifyClickHouseFailure } from '../../src/clickhouse/errors.ts';

/**
 * A ClickHouseConnection over chdb (a current ClickHouse engine in-process), so that the unit
 * tests run the adapter's own SQL — migrations, sink inserts, audits — verbatim on a modern engine
 * without a server. Only the transport differs: settings become SETTINGS clauses, inserts carry
 * their rows inline, and one chdb session stands for every HTTP session.
 */
export interface ChdbHarness {
  readonly connection: ClickHouseConnection;
  /** Runs SQL directly (for assertions), returning JSONEachRow rows. */
  rows<Row = Record<string, unknown>>(sql: string): Row[];
  close(): void;
}

function settingsClause(options: RequestOptions): string {
  const entries = Object.entries(options.settings ?? {});
  if (entries.length === 0) return '';
  return ` SETTINGS ${entries.map(([name, value]) => `${name} = ${typeof value === 'number' ? value : `'${value.replace(/'/g, "\\'")}'`}`).join(', ')}`;
}

export async function openChdb(): Promise<ChdbHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'chdb-clickhouse-test-'));
  const session = new Session(dir);
  const run = (sql: string, format = 'JSONEachRow'): string => {
    try {
      return session.query(sql, format);
    } catch (error) {
      throw classifyClickHouseFailure(error, { operation: 'query', url: 'chdb', statement: sql.slice(0, 200) });
    }
  };
  const parse = <Row>(text: string): Row[] =>
    text
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Row);

  let capabilities: ServerCapabilities = CLICKHOUSE_18_16;
  const connection: ClickHouseConnection = {
    url: 'chdb',
    get capabilities() {
      return capabilities;
    },
    async ping() {
      run('SELECT 1');
    },
    async query<Row>(sql: string, options: RequestOptions = {}) {
      return parse<Row>(run(`${sql}${settingsClause(options)}`));
    },
    async command(sql: string, options: RequestOptions = {}) {
      run(`${sql}${settingsClause(options)}`);
    },
    async insert(target: string, columns: readonly string[], body: Buffer | string, options: InsertOptions = {}) {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      run(`INSERT INTO ${target} (${columns.join(', ')})${settingsClause(options)} FORMAT ${options.format ?? 'JSONEachRow'}\n${text}`);
    },
    async close() {
      session.close();
    },
  };
  capabilities = await detectCapabilities(connection);
  return {
    connection,
    rows: <Row>(sql: string) => parse<Row>(run(sql)),
    close: () => {
      session.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
