import type { SchemaLayout } from '../../src/clickhouse/migrations.ts';
import type { RollupLevel } from '../../src/clickhouse/rollups-sql.ts';

/**
 * The Grafana dashboard of the aggregates themselves, on the ClickHouse data source
 * (grafana-clickhouse-datasource), written to deploy/grafana/aggregates.json by deploy/render.ts.
 * Each panel is one query that reads the cheapest table good enough for the range shown: the
 * aggregate table (FINAL) up to SHORT_RANGE_MS, the hour rollup up to LONG_RANGE_MS, the day rollup
 * beyond. The branches of a UNION ALL are gated on `$__to - $__from`, a constant per request, so
 * ClickHouse reads only the chosen table. deploy/validate/observability.ts checks that each query
 * names a table the schema has, and test/unit/deploy-aggregates-dashboard.test.ts runs every query
 * in chdb.
 */

export const SHORT_RANGE_MS = 6 * 3_600_000;
export const LONG_RANGE_MS = 31 * 86_400_000;
export const CLICKHOUSE_DATASOURCE = { type: 'grafana-clickhouse-datasource', uid: '${DS_CLICKHOUSE}' } as const;
const RANGE = '($__to - $__from)';

interface Branch {
  readonly table: string;
  readonly timeColumn: 'window_start' | 'bucket_start';
  /** Condition on the range, in milliseconds, under which this branch answers. */
  readonly when: string;
}

/** Which table answers which range, for one pipeline: the finest table covering it. */
export function branches(source: string, levels: readonly RollupLevel[]): Branch[] {
  const hour = levels.includes('1h') ? `${source}_1h` : null;
  const day = levels.includes('1d') ? `${source}_1d` : null;
  const shortLimit = hour || day ? SHORT_RANGE_MS : Number.POSITIVE_INFINITY;
  const result: Branch[] = [{ table: source, timeColumn: 'window_start', when: Number.isFinite(shortLimit) ? `${RANGE} <= ${shortLimit}` : '1' }];
  if (hour) result.push({ table: hour, timeColumn: 'bucket_start', when: day ? `${RANGE} > ${SHORT_RANGE_MS} AND ${RANGE} <= ${LONG_RANGE_MS}` : `${RANGE} > ${SHORT_RANGE_MS}` });
  if (day) result.push({ table: day, timeColumn: 'bucket_start', when: hour ? `${RANGE} > ${LONG_RANGE_MS}` : `${RANGE} > ${SHORT_RANGE_MS}` });
  return result;
}

/** One time series per metric: `figure` over the rows of each time bucket (count and sum add up; min and max do not). */
export function rangeQuery(source: string, levels: readonly RollupLevel[], figure: 'readings' | 'mean' | 'min' | 'max'): string {
  const select = {
    readings: 'sum(count) AS value',
    mean: 'sum(sum) / sum(count) AS value',
    min: 'min(min) AS value',
    max: 'max(max) AS value',
  }[figure];
  const parts = branches(source, levels).map(
    (branch) =>
      `SELECT ${branch.timeColumn === 'window_start' ? 'toStartOfMinute(window_start)' : 'bucket_start'} AS time, metric, ${select}\n` +
      `FROM \${database}.${branch.table} FINAL\n` +
      `WHERE ${branch.when} AND $__timeFilter(${branch.timeColumn}) AND tenant LIKE '\${tenant}'\n` +
      'GROUP BY time, metric',
  );
  return `SELECT time, metric, value FROM (\n${parts.join('\nUNION ALL\n')}\n)\nORDER BY time, metric`;
}

export interface AggregatesDashboardOptions {
  readonly layout: Pick<SchemaLayout, 'database' | 'aggregateTables' | 'rollups'>;
}

export function renderAggregatesDashboard(options: AggregatesDashboardOptions): Record<string, unknown> {
  const { layout } = options;
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const source of layout.aggregateTables) {
    const levels = layout.rollups?.find((rollups) => rollups.source === source)?.levels.map((level) => level.level) ?? [];
    const tables = branches(source, levels).map((branch) => branch.table).join(', ');
    panels.push({ id: id++, type: 'row', title: source, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    const figures = [
      { figure: 'readings', title: 'Readings per bucket', unit: 'short' },
      { figure: 'mean', title: 'Mean value', unit: 'none' },
      { figure: 'min', title: 'Minimum', unit: 'none' },
      { figure: 'max', title: 'Maximum', unit: 'none' },
    ] as const;
    figures.forEach((spec, index) => {
      panels.push({
        id: id++,
        type: 'timeseries',
        title: `${spec.title} by metric`,
        description: `From ${tables}: the aggregate table for ranges up to ${SHORT_RANGE_MS / 3_600_000} h, then the coarsest rollup needed (refreshed by the aggregator every aggregator.rollupRefreshIntervalMs).`,
        datasource: CLICKHOUSE_DATASOURCE,
        gridPos: { h: 8, w: 12, x: (index % 2) * 12, y: y + Math.floor(index / 2) * 8 },
        fieldConfig: { defaults: { unit: spec.unit }, overrides: [] },
        options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
        targets: [{ refId: 'A', datasource: CLICKHOUSE_DATASOURCE, editorType: 'sql', format: 1, queryType: 'timeseries', rawSql: rangeQuery(source, levels, spec.figure) }],
      });
    });
    y += 16;
  }
  return {
    uid: 'telemetry-aggregates',
    title: 'Telemetry aggregates',
    description: 'Windowed aggregates from ClickHouse: the aggregate tables for short ranges, the hour and day rollups for long ones.',
    tags: ['telemetry-pipeline'],
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh: '1m',
    time: { from: 'now-24h', to: 'now' },
    timepicker: {},
    timezone: 'utc',
    annotations: { list: [] },
    templating: {
      list: [
        { name: 'DS_CLICKHOUSE', label: 'ClickHouse', type: 'datasource', query: 'grafana-clickhouse-datasource', current: {}, hide: 0 },
        { name: 'database', label: 'Database', type: 'constant', query: layout.database, hide: 2 },
        { name: 'tenant', label: 'Tenant (LIKE pattern)', type: 'textbox', query: '%', current: { text: '%', value: '%' }, hide: 0 },
      ],
    },
    panels,
  };
}
