import type { Config } from '../config/schema.ts';
import type { Logger } from '../util/log.ts';
import { usesDeduplicationToken, type ServerCapabilities } from './capabilities.ts';
import type { ClickHouseConnection } from './client.ts';
import { replicasOf } from './replicas.ts';
import { ClickHouseError } from './errors.ts';
import { ConfigError } from '../core/errors.ts';
import { sqlIdentifier, sqlString, sqlTable, sqlUnsigned } from './sql.ts';
import { pipelineRollups, rollupStatements, type PipelineRollups } from './rollups-sql.ts';
import { ensureRoleUsers } from './users.ts';

/**
 * The schema, as versioned migrations recorded in `schema_migrations`.
 *
 * Every statement is idempotent (IF NOT EXISTS) and accepted by ClickHouse 18.16 as well as by
 * current servers: new-syntax MergeTree (PARTITION BY / ORDER BY), UInt64 milliseconds beside
 * second-resolution DateTime('UTC') MATERIALIZED columns (no DateTime64 in 18.16; MATERIALIZED
 * rather than DEFAULT because 18.16's JSONEachRow fills omitted columns with zeros instead of
 * their DEFAULT expression), no CODEC, no LowCardinality, no TTL.
 *
 * Deduplication: rows are collapsed by ReplacingMergeTree on their sort key. ReplacingMergeTree
 * only merges within a partition, so each table's partition key is a function of its sort key's
 * rows: the window start for aggregates, and the event time for raw readings (a redelivered reading
 * carries its original event time; only its ingest time differs). Where the server has
 * `non_replicated_deduplication_window`, the aggregate and raw tables also keep one, so that a
 * retried insert carrying the same `insert_deduplication_token` is dropped at insert time.
 *
 * Migrations are identified by id; per-pipeline tables get one migration each
 * (`0003_aggregates:agg_main`), so that a pipeline added to the configuration later gets its table.
 *
 * Replicated layout (clickhouse.cluster set): the data tables become Replicated*MergeTree with the
 * ZooKeeper path /clickhouse/tables/{shard}/<database>/<table> and the replica name {replica}
 * (both macros of each server's config). Insert deduplication by block hash is built into the
 * Replicated engines (18.16 included) and shared by all replicas through ZooKeeper, so an identical
 * retried block is dropped whichever replica receives it; replicated_deduplication_window sets how
 * many blocks are remembered. The DDL is run on each replica over its own connection rather than
 * with `ON CLUSTER`: on 18.16 an `ON CLUSTER` statement with one replica down fails with code 159
 * after distributed_ddl_task_timeout (180 s by default) while it stays queued, so the caller cannot
 * tell success from failure. schema_migrations stays a per-replica (non-replicated) record of the
 * DDL that replica has run; a replica that is down is skipped and reported, and the next migrate
 * creates its tables (it then fetches every part from its peers).
 */

export const MIGRATIONS_TABLE = 'schema_migrations';
export const RAW_READINGS_TABLE = 'readings_raw';
export const CHECKPOINTS_TABLE = 'checkpoints';
/** Insert blocks remembered for deduplication, where the server supports it. */
export const DEDUPLICATION_WINDOW_BLOCKS = 1000;

export interface Migration {
  readonly id: string;
  readonly statements: readonly string[];
}

export interface SchemaLayout {
  readonly database: string;
  /** The aggregates table of every pipeline (pipeline.table). */
  readonly aggregateTables: readonly string[];
  /** Adds `non_replicated_deduplication_window` to the tables that take deduplicated inserts. */
  readonly deduplicationWindow: boolean;
  /** clickhouse.cluster: when not empty, the data tables are Replicated*MergeTree. */
  readonly cluster?: string;
  /** The rollup tables of the pipelines that have any (see rollups-sql.ts). */
  readonly rollups?: readonly PipelineRollups[];
}

export type MigrationConfig = Pick<Config, 'clickhouse' | 'aggregator'>;

export function schemaLayout(config: MigrationConfig, capabilities: ServerCapabilities): SchemaLayout {
  return {
    database: config.clickhouse.database,
    aggregateTables: config.aggregator.pipelines.map((pipeline) => pipeline.table || `agg_${pipeline.name}`),
    deduplicationWindow: usesDeduplicationToken(capabilities),
    cluster: config.clickhouse.cluster,
    rollups: config.aggregator.pipelines
      .filter((pipeline) => pipeline.rollups.length > 0)
      .map((pipeline) => pipelineRollups(pipeline.table || `agg_${pipeline.name}`, pipeline.retentionDays, pipeline.rollups)),
  };
}

const dayOf = (millisColumn: string): string => `toYYYYMMDD(toDateTime(intDiv(${millisColumn}, 1000), 'UTC'))`;
const dateTimeOf = (millisColumn: string): string =>
  `DateTime('UTC') MATERIALIZED toDateTime(intDiv(${millisColumn}, 1000), 'UTC')`;

function settingsClause(layout: SchemaLayout): string {
  if (layout.cluster) return `\nSETTINGS replicated_deduplication_window = ${DEDUPLICATION_WINDOW_BLOCKS}`;
  return layout.deduplicationWindow ? `\nSETTINGS non_replicated_deduplication_window = ${DEDUPLICATION_WINDOW_BLOCKS}` : '';
}

/** `ReplacingMergeTree(version)`, or its Replicated form with the table's ZooKeeper path and {replica}. */
export function replacingEngine(layout: SchemaLayout, table: string, version = ''): string {
  if (!layout.cluster) return `ReplacingMergeTree(${version})`;
  const path = `/clickhouse/tables/{shard}/${layout.database}/${table}`;
  return `ReplicatedReplacingMergeTree(${[sqlString(path), sqlString('{replica}'), ...(version ? [version] : [])].join(', ')})`;
}

export function createDatabaseStatement(layout: SchemaLayout): string {
  return `CREATE DATABASE IF NOT EXISTS ${sqlIdentifier(layout.database)}`;
}

export function createMigrationsTableStatement(layout: SchemaLayout): string {
  return `CREATE TABLE IF NOT EXISTS ${sqlTable(layout.database, MIGRATIONS_TABLE)} (
    id String,
    applied_at_ms UInt64,
    statements String
) ENGINE = ReplacingMergeTree(applied_at_ms)
ORDER BY id`;
}

export function createRawReadingsStatement(layout: SchemaLayout): string {
  return `CREATE TABLE IF NOT EXISTS ${sqlTable(layout.database, RAW_READINGS_TABLE)} (
    tenant String,
    device String,
    reading_id String,
    metric String,
    value Float64,
    event_time_ms UInt64,
    ingest_time_ms UInt64,
    kafka_partition UInt32,
    kafka_offset UInt64,
    event_time ${dateTimeOf('event_time_ms')},
    ingest_time ${dateTimeOf('ingest_time_ms')}
) ENGINE = ${replacingEngine(layout, RAW_READINGS_TABLE)}
PARTITION BY ${dayOf('event_time_ms')}
ORDER BY (tenant, device, reading_id, metric)${settingsClause(layout)}`;
}

export function createCheckpointsStatement(layout: SchemaLayout): string {
  // No deduplication window: a checkpoint is looked up by exact offset, and the newest save wins.
  return `CREATE TABLE IF NOT EXISTS ${sqlTable(layout.database, CHECKPOINTS_TABLE)} (
    pipeline String,
    kafka_partition UInt32,
    kafka_offset UInt64,
    state String,
    created_at_ms UInt64,
    created_at ${dateTimeOf('created_at_ms')}
) ENGINE = ${replacingEngine(layout, CHECKPOINTS_TABLE, 'created_at_ms')}
ORDER BY (pipeline, kafka_partition, kafka_offset)`;
}

export function createAggregatesStatement(layout: SchemaLayout, table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${sqlTable(layout.database, table)} (
    pipeline String,
    tenant String,
    device String,
    metric String,
    window_start_ms UInt64,
    window_end_ms UInt64,
    count UInt64,
    sum Float64,
    min Float64,
    max Float64,
    first Float64,
    last Float64,
    first_time_ms UInt64,
    last_time_ms UInt64,
    p50 Float64,
    late_readings UInt64,
    max_ingest_time_ms UInt64,
    kafka_partition UInt32,
    version UInt64,
    emitted_at_ms UInt64,
    window_start ${dateTimeOf('window_start_ms')},
    window_end ${dateTimeOf('window_end_ms')}
) ENGINE = ${replacingEngine(layout, table, 'version')}
PARTITION BY ${dayOf('window_start_ms')}
ORDER BY (tenant, device, metric, window_start_ms)${settingsClause(layout)}`;
}

/** The migrations, in order. Append new ones; never edit an applied one. */
export function migrations(layout: SchemaLayout): Migration[] {
  return [
    { id: '0001_readings_raw', statements: [createRawReadingsStatement(layout)] },
    { id: '0002_checkpoints', statements: [createCheckpointsStatement(layout)] },
    ...layout.aggregateTables.map((table) => ({
      id: `0003_aggregates:${table}`,
      statements: [createAggregatesStatement(layout, table)],
    })),
    ...(layout.rollups ?? []).flatMap((rollups) => rollupStatements(layout, rollups)),
  ];
}

/** Every statement `migrate` may run, in order (the chdb test runs these verbatim). */
export function schemaStatements(layout: SchemaLayout): string[] {
  return [
    createDatabaseStatement(layout),
    createMigrationsTableStatement(layout),
    ...migrations(layout).flatMap((migration) => migration.statements),
  ];
}

export interface MigrationReport {
  readonly database: string;
  /** Migrations run now (on at least one replica, for a cluster). */
  readonly applied: readonly string[];
  /** Migrations every reached server had already. */
  readonly alreadyApplied: readonly string[];
  /** One entry per server: the single server, or each replica of clickhouse.cluster. */
  readonly replicas: readonly ReplicaMigration[];
}

export interface ReplicaMigration {
  readonly url: string;
  readonly applied: readonly string[];
  readonly alreadyApplied: readonly string[];
  /** Why this replica was not migrated (it did not answer); null when it was. */
  readonly skipped: string | null;
}

/**
 * Brings the schema up to date. Safe to run concurrently and repeatedly: statements are
 * idempotent and a migration recorded twice collapses in schema_migrations. For a cluster, every
 * replica of the connection (see replicasOf) is migrated in turn; one that does not answer is
 * skipped and reported (logged as a warning), and the call fails only when none answers.
 */
export async function migrate(
  connection: ClickHouseConnection,
  config: MigrationConfig,
  options: { logger?: Logger; now?: () => number } = {},
): Promise<MigrationReport> {
  const layout = schemaLayout(config, connection.capabilities);
  if (!layout.cluster) {
    const report = await migrateServer(connection, layout, options);
    await ensureRoleUsers(connection, config.clickhouse, layout.database, options.logger);
    return { database: layout.database, ...report, replicas: [{ url: connection.url, ...report, skipped: null }] };
  }
  const replicas: ReplicaMigration[] = [];
  let firstFailure: unknown;
  for (const replica of replicasOf(connection)) {
    try {
      await replica.ping();
    } catch (error) {
      if (!(error instanceof ClickHouseError) || !error.retriable) throw error;
      firstFailure ??= error;
      replicas.push({ url: replica.url, applied: [], alreadyApplied: [], skipped: error.message });
      options.logger?.warn(
        { url: replica.url, cluster: layout.cluster, err: error.message },
        'ClickHouse replica did not answer; its migrations wait for the next migrate',
      );
      continue;
    }
    await assertClusterMember(replica, layout.cluster);
    replicas.push({ url: replica.url, ...(await migrateServer(replica, layout, options)), skipped: null });
    // Users are each server's own (no replicated access storage is assumed).
    await ensureRoleUsers(replica, config.clickhouse, layout.database, options.logger);
  }
  const reached = replicas.filter((replica) => replica.skipped === null);
  if (reached.length === 0) throw firstFailure;
  const ids = migrations(layout).map((migration) => migration.id);
  const applied = ids.filter((id) => reached.some((replica) => replica.applied.includes(id)));
  return { database: layout.database, applied, alreadyApplied: ids.filter((id) => !applied.includes(id)), replicas };
}

/** A replica must know the cluster and the macros that its Replicated tables' paths use. */
async function assertClusterMember(connection: ClickHouseConnection, cluster: string): Promise<void> {
  const [membership] = await connection.query<{ replicas: string }>(
    `SELECT count() AS replicas FROM system.clusters WHERE cluster = ${sqlString(cluster)}`,
  );
  const macros = await connection.query<{ macro: string }>(`SELECT macro FROM system.macros WHERE macro IN ('shard', 'replica')`);
  const missing = [
    ...(Number(membership?.replicas ?? 0) === 0 ? [`no cluster '${cluster}' in <remote_servers>`] : []),
    ...['shard', 'replica'].filter((macro) => !macros.some((row) => row.macro === macro)).map((macro) => `no <macros><${macro}>`),
  ];
  if (missing.length > 0) {
    throw new ConfigError(
      `config key 'clickhouse.cluster' is '${cluster}' but the server at ${connection.url} has ${missing.join(' and ')}; ` +
        'configure the server as a replica (see src/stack/clickhouse.ts) or empty clickhouse.cluster',
      { key: 'clickhouse.cluster', url: connection.url },
    );
  }
}

async function migrateServer(
  connection: ClickHouseConnection,
  layout: SchemaLayout,
  options: { logger?: Logger; now?: () => number },
): Promise<{ applied: string[]; alreadyApplied: string[] }> {
  const now = options.now ?? Date.now;
  await connection.command(createDatabaseStatement(layout));
  await connection.command(createMigrationsTableStatement(layout));
  const recorded = await connection.query<{ id: string }>(
    `SELECT id FROM ${sqlTable(layout.database, MIGRATIONS_TABLE)} FINAL`,
  );
  const done = new Set(recorded.map((row) => row.id));
  const applied: string[] = [];
  const alreadyApplied: string[] = [];
  for (const migration of migrations(layout)) {
    if (done.has(migration.id)) {
      alreadyApplied.push(migration.id);
      continue;
    }
    for (const statement of migration.statements) await connection.command(statement);
    await connection.command(
      `INSERT INTO ${sqlTable(layout.database, MIGRATIONS_TABLE)} (id, applied_at_ms, statements) VALUES ` +
        `(${sqlString(migration.id)}, ${sqlUnsigned(now())}, ${sqlString(migration.statements.join(';\n'))})`,
    );
    applied.push(migration.id);
    options.logger?.info({ database: layout.database, url: connection.url, migration: migration.id }, 'applied ClickHouse migration');
  }
  return { applied, alreadyApplied };
}
