import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SchemaLayout } from '../../src/clickhouse/migrations.ts';
import { CLICKHOUSE_DATASOURCE } from '../grafana/aggregates-dashboard.ts';

/**
 * Checks deploy/grafana/aggregates.json offline: importable structure, every query on the
 * ClickHouse data source as raw SQL, and every table a query reads one the schema layout creates.
 * That the SQL parses and runs is proved in chdb by test/unit/deploy-aggregates-dashboard.test.ts
 * (with the Grafana macros replaced by `grafanaSqlForTest`).
 */
export const AGGREGATES_DASHBOARD_FILE = 'deploy/grafana/aggregates.json';

interface Target {
  readonly refId?: string;
  readonly rawSql?: unknown;
  readonly datasource?: { type?: string };
}
interface Panel {
  readonly id?: number;
  readonly type?: string;
  readonly title?: string;
  readonly targets?: readonly Target[];
}
export interface AggregatesDashboard {
  readonly uid?: unknown;
  readonly schemaVersion?: unknown;
  readonly panels?: readonly Panel[];
}

export function aggregatesQueries(dashboard: AggregatesDashboard): { where: string; sql: string }[] {
  return (dashboard.panels ?? []).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ where: `panel '${panel.title ?? panel.id}' ${target.refId ?? ''}`.trim(), sql: typeof target.rawSql === 'string' ? target.rawSql : '' })),
  );
}

/** The tables a query reads, from its `${database}.<table>` references. */
export function tablesRead(sql: string): string[] {
  return [...sql.matchAll(/\$\{database\}\.([A-Za-z_][A-Za-z0-9_]*)/g)].map((match) => match[1]!);
}

export function checkAggregatesDashboard(dashboard: AggregatesDashboard, layout: Pick<SchemaLayout, 'aggregateTables' | 'rollups'>): string[] {
  const problems: string[] = [];
  if (typeof dashboard.schemaVersion !== 'number' || dashboard.schemaVersion < 39) problems.push(`schemaVersion is ${String(dashboard.schemaVersion)}; current Grafana needs 39 or later`);
  if (typeof dashboard.uid !== 'string' || dashboard.uid === '') problems.push('uid is missing');
  const tables = new Set([...layout.aggregateTables, ...(layout.rollups ?? []).flatMap((rollups) => rollups.levels.map((level) => level.table))]);
  const dataPanels = (dashboard.panels ?? []).filter((panel) => panel.type !== 'row');
  if (dataPanels.length === 0) problems.push('no panels');
  for (const panel of dataPanels) {
    if ((panel.targets ?? []).length === 0) problems.push(`panel '${panel.title}' has no query`);
    for (const target of panel.targets ?? []) {
      if (target.datasource?.type !== CLICKHOUSE_DATASOURCE.type) problems.push(`panel '${panel.title}': data source ${String(target.datasource?.type)}, not ${CLICKHOUSE_DATASOURCE.type}`);
    }
  }
  for (const { where, sql } of aggregatesQueries(dashboard)) {
    if (sql === '') problems.push(`${where}: no rawSql`);
    const read = tablesRead(sql);
    if (read.length === 0) problems.push(`${where}: reads no \${database}.<table>`);
    for (const table of read) if (!tables.has(table)) problems.push(`${where}: table ${table} is not in the schema (tables: ${[...tables].join(', ')})`);
    if (!sql.includes('$__timeFilter(')) problems.push(`${where}: no $__timeFilter, so it reads the whole table`);
  }
  return problems;
}

/** Grafana's macros and variables replaced by literals, so that a query can be run as ClickHouse SQL. */
export function grafanaSqlForTest(sql: string, values: { database: string; fromMs: number; toMs: number; tenant?: string }): string {
  return sql
    .replace(/\$__timeFilter\((\w+)\)/g, (_, column: string) => `${column} >= toDateTime(${Math.floor(values.fromMs / 1000)}) AND ${column} <= toDateTime(${Math.floor(values.toMs / 1000)})`)
    .replace(/\$__from\b/g, String(values.fromMs))
    .replace(/\$__to\b/g, String(values.toMs))
    .replace(/\$\{database\}/g, values.database)
    .replace(/\$\{tenant\}/g, values.tenant ?? '%');
}

export function readAggregatesDashboard(root: string): AggregatesDashboard {
  return JSON.parse(readFileSync(join(root, AGGREGATES_DASHBOARD_FILE), 'utf8')) as AggregatesDashboard;
}
