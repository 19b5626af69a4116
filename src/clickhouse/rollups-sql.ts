import type { RollupConfig } from '../config/schema.ts';
import type { SchemaLayout } from './migrations.ts';
import { sqlList, sqlString, sqlTable, sqlUnsigned } from './sql.ts';

/**
 * Rollup tables as SQL text (the runner is rollups.ts; the design and its proof are in
 * docs/decisions/0016-rollups.md). Every statement runs on ClickHouse 18.16 and on current servers.
 *
 * A rollup bucket is recomputed from the level below it with FINAL (the aggregate table for the
 * finest level), never accumulated row by row: the aggregate table is a ReplacingMergeTree, so an
 * insert can be a re-emitted window (higher version) or an identical replayed one, and only FINAL
 * knows which rows survive. A materialized view does what it is good at instead: it sees every
 * insert into the aggregate table and counts, per hour of window start, the rows inserted
 * (`<table>_rollup_marks`, a SummingMergeTree: the count only grows). The refresh compares that
 * count with the one recorded when each level last rebuilt the hour (`<table>_rollup_done`) and
 * rebuilds the hours where it grew. Rollup rows carry that count as their version, so a slower
 * refresh that read fewer inserts can never replace a newer result.
 */

export type RollupLevel = RollupConfig['level'];

export const LEVEL_MS: Readonly<Record<RollupLevel, number>> = { '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 };
/** Inserts are counted per hour of window start; an hour is the unit a refresh rebuilds. */
export const MARK_MS = LEVEL_MS['1h'];

export interface RollupLevelTable {
  readonly level: RollupLevel;
  readonly table: string;
  readonly retentionDays: number;
}

/** One pipeline's rollups: its aggregate table, its levels (finest first) and their bookkeeping tables. */
export interface PipelineRollups {
  readonly source: string;
  readonly sourceRetentionDays: number;
  readonly levels: readonly RollupLevelTable[];
  readonly marks: string;
  readonly marksView: string;
  readonly done: string;
}

export function pipelineRollups(source: string, sourceRetentionDays: number, rollups: readonly RollupConfig[]): PipelineRollups {
  return {
    source,
    sourceRetentionDays,
    levels: rollups.map((rollup) => ({ level: rollup.level, table: `${source}_${rollup.level}`, retentionDays: rollup.retentionDays })),
    marks: `${source}_rollup_marks`,
    marksView: `${source}_rollup_marks_mv`,
    done: `${source}_rollup_done`,
  };
}

/** The MergeTree engine of a table, Replicated (ZooKeeper path per table) when the layout has a cluster. */
function engine(layout: SchemaLayout, table: string, family: 'Summing' | 'Replacing', parameter: string): string {
  if (!layout.cluster) return `${family}MergeTree(${parameter})`;
  const path = `/clickhouse/tables/{shard}/${layout.database}/${table}`;
  return `Replicated${family}MergeTree(${sqlString(path)}, ${sqlString('{replica}')}, ${parameter})`;
}

const hourOf = (millisColumn: string): string => `intDiv(${millisColumn}, ${MARK_MS}) * ${MARK_MS}`;

export function createRollupMarksStatement(layout: SchemaLayout, rollups: PipelineRollups): string {
  return `CREATE TABLE IF NOT EXISTS ${sqlTable(layout.database, rollups.marks)} (
    hour_ms UInt64,
    inserted_rows UInt64
) ENGINE = ${engine(layout, rollups.marks, 'Summing', 'inserted_rows')}
ORDER BY hour_ms`;
}

export function createRollupDoneStatement(layout: SchemaLayout, rollups: PipelineRollups): string {
  return `CREATE TABLE IF NOT EXISTS ${sqlTable(layout.database, rollups.done)} (
    level String,
    hour_ms UInt64,
    inserted_rows UInt64
) ENGINE = ${engine(layout, rollups.done, 'Replacing', 'inserted_rows')}
ORDER BY (level, hour_ms)`;
}

/**
 * Counts every block inserted into the aggregate table, per hour. A block the server drops as a
 * duplicate (deduplication token or replicated block hash) does not reach the view, and changes
 * nothing either.
 */
export function createRollupMarksViewStatement(layout: SchemaLayout, rollups: PipelineRollups): string {
  return (
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${sqlTable(layout.database, rollups.marksView)} ` +
    `TO ${sqlTable(layout.database, rollups.marks)}\n` +
    `AS SELECT ${hourOf('window_start_ms')} AS hour_ms, count() AS inserted_rows\n` +
    `FROM ${sqlTable(layout.database, rollups.source)} GROUP BY hour_ms`
  );
}

/** Marks the hours already in the aggregate table, so that the first refresh builds them (rows that race it are counted twice: harmless, the count need only grow). */
export function seedRollupMarksStatement(layout: SchemaLayout, rollups: PipelineRollups): string {
  return (
    `INSERT INTO ${sqlTable(layout.database, rollups.marks)} (hour_ms, inserted_rows)\n` +
    `SELECT ${hourOf('window_start_ms')} AS hour_ms, count() AS inserted_rows FROM ${sqlTable(layout.database, rollups.source)} GROUP BY hour_ms`
  );
}

export function createRollupTableStatement(layout: SchemaLayout, level: RollupLevelTable): string {
  // ReplacingMergeTree collapses only within a partition; a bucket lies in one partition by construction.
  const partition = level.level === '1d' ? 'toYYYYMM' : 'toYYYYMMDD';
  return `CREATE TABLE IF NOT EXISTS ${sqlTable(layout.database, level.table)} (
    tenant String,
    device String,
    metric String,
    bucket_start_ms UInt64,
    windows UInt64,
    count UInt64,
    sum Float64,
    min Float64,
    max Float64,
    version UInt64,
    bucket_start DateTime('UTC') MATERIALIZED toDateTime(intDiv(bucket_start_ms, 1000), 'UTC')
) ENGINE = ${engine(layout, level.table, 'Replacing', 'version')}
PARTITION BY ${partition}(toDateTime(intDiv(bucket_start_ms, 1000), 'UTC'))
ORDER BY (tenant, device, metric, bucket_start_ms)`;
}

/** Every rollup statement of one pipeline, in the order migrate runs them. */
export function rollupStatements(layout: SchemaLayout, rollups: PipelineRollups): { id: string; statements: string[] }[] {
  if (rollups.levels.length === 0) return [];
  return [
    ...rollups.levels.map((level) => ({ id: `0004_rollup:${level.table}`, statements: [createRollupTableStatement(layout, level)] })),
    {
      id: `0005_rollup_marks:${rollups.source}`,
      statements: [
        createRollupMarksStatement(layout, rollups),
        createRollupDoneStatement(layout, rollups),
        createRollupMarksViewStatement(layout, rollups),
        seedRollupMarksStatement(layout, rollups),
      ],
    },
  ];
}

/** Inserted rows per hour since `fromMs` (the marks). */
export function insertedPerHourSql(database: string, rollups: PipelineRollups, fromMs: number): string {
  return (
    `SELECT hour_ms, sum(inserted_rows) AS inserted FROM ${sqlTable(database, rollups.marks)}` +
    ` WHERE hour_ms >= ${sqlUnsigned(fromMs)} GROUP BY hour_ms ORDER BY hour_ms`
  );
}

/** Inserted rows per hour as of each level's last rebuild of the hour. */
export function rebuiltPerHourSql(database: string, rollups: PipelineRollups, fromMs: number): string {
  return (
    `SELECT level, hour_ms, max(inserted_rows) AS inserted FROM ${sqlTable(database, rollups.done)}` +
    ` WHERE hour_ms >= ${sqlUnsigned(fromMs)} GROUP BY level, hour_ms`
  );
}

export function recordRebuiltSql(database: string, rollups: PipelineRollups, level: RollupLevel, hours: readonly { hourMs: number; inserted: number }[]): string {
  const values = hours.map((hour) => `(${sqlString(level)}, ${sqlUnsigned(hour.hourMs)}, ${sqlUnsigned(hour.inserted)})`);
  return `INSERT INTO ${sqlTable(database, rollups.done)} (level, hour_ms, inserted_rows) VALUES ${values.join(', ')}`;
}

export interface RebuildRange {
  readonly fromMs: number;
  readonly toMs: number;
  /** The version of each bucket's rows, by the start of its version unit (hour, or day for 1d). */
  readonly versions: ReadonlyMap<number, number>;
  readonly versionUnitMs: number;
}

/**
 * Rebuilds every bucket of one level that starts in [fromMs, toMs) (bucket-aligned) from the level
 * below: the aggregate table (one row per window) or the finer rollup table, both read with FINAL.
 */
export function rebuildLevelSql(database: string, rollups: PipelineRollups, levelIndex: number, range: RebuildRange): string {
  const level = rollups.levels[levelIndex]!;
  const below = levelIndex === 0 ? null : rollups.levels[levelIndex - 1]!;
  const sourceTable = below ? below.table : rollups.source;
  const startColumn = below ? 'bucket_start_ms' : 'window_start_ms';
  const windows = below ? 'sum(windows)' : 'count()';
  const size = LEVEL_MS[level.level];
  const unit = range.versionUnitMs;
  const units = [...range.versions.keys()].map((key) => sqlUnsigned(key));
  const versions = [...range.versions.values()].map((value) => sqlUnsigned(value));
  return (
    `INSERT INTO ${sqlTable(database, level.table)} (tenant, device, metric, bucket_start_ms, windows, count, sum, min, max, version)\n` +
    `SELECT tenant, device, metric, intDiv(${startColumn}, ${size}) * ${size} AS bucket, ${windows}, sum(count), sum(sum), min(min), max(max),\n` +
    `       transform(intDiv(bucket, ${unit}) * ${unit}, CAST(${sqlArray(units)} AS Array(UInt64)), CAST(${sqlArray(versions)} AS Array(UInt64)), toUInt64(0))\n` +
    `FROM ${sqlTable(database, sourceTable)} FINAL\n` +
    `WHERE ${startColumn} >= ${sqlUnsigned(range.fromMs)} AND ${startColumn} < ${sqlUnsigned(range.toMs)}\n` +
    'GROUP BY tenant, device, metric, bucket'
  );
}

const sqlArray = (literals: readonly string[]): string => `[${sqlList(literals).slice(1, -1)}]`;

export interface FiguresScope {
  readonly tenant?: string;
  readonly fromMs?: number;
  readonly toMs?: number;
}

function scopeWhere(scope: FiguresScope, column: string): string {
  const conditions = [
    ...(scope.tenant === undefined ? [] : [`tenant = ${sqlString(scope.tenant)}`]),
    ...(scope.fromMs === undefined ? [] : [`${column} >= ${sqlUnsigned(scope.fromMs)}`]),
    ...(scope.toMs === undefined ? [] : [`${column} < ${sqlUnsigned(scope.toMs)}`]),
  ];
  return conditions.length === 0 ? '' : `\nWHERE ${conditions.join(' AND ')}`;
}

const FIGURES_ORDER = '\nORDER BY tenant, device, metric, bucket_start_ms';

/** A rollup level's figures per series and bucket (the rows as they stand after FINAL). */
export function rollupFiguresSql(database: string, table: string, scope: FiguresScope = {}): string {
  return (
    'SELECT tenant, device, metric, bucket_start_ms, windows, count, sum, min, max\n' +
    `FROM ${sqlTable(database, table)} FINAL${scopeWhere(scope, 'bucket_start_ms')}${FIGURES_ORDER}`
  );
}

/** The same figures computed from the aggregate table with FINAL: what a rollup level must equal. */
export function referenceFiguresSql(database: string, aggregateTable: string, level: RollupLevel, scope: FiguresScope = {}): string {
  const size = LEVEL_MS[level];
  return (
    `SELECT tenant, device, metric, intDiv(window_start_ms, ${size}) * ${size} AS bucket_start_ms,\n` +
    '       count() AS windows, sum(count) AS count, sum(sum) AS sum, min(min) AS min, max(max) AS max\n' +
    `FROM ${sqlTable(database, aggregateTable)} FINAL${scopeWhere(scope, 'window_start_ms')}\n` +
    `GROUP BY tenant, device, metric, bucket_start_ms${FIGURES_ORDER}`
  );
}
