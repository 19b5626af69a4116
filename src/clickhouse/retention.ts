import type { Logger } from '../util/log.ts';
import type { ClickHouseConnection } from './client.ts';
import type { MigrationConfig } from './migrations.ts';
import { pipelineRollups } from './rollups-sql.ts';
import { sqlString, sqlTable } from './sql.ts';

/**
 * Retention of the aggregate and rollup tables (pipeline.retentionDays, rollups[].retentionDays).
 * Where the server has table TTL (19.6+), the table's TTL is set to match the configuration (and
 * changed or removed when it changes); the server then deletes expired rows as it merges. Where it
 * has none (18.16), whole partitions whose every row is older than the retention are dropped:
 * day partitions for the aggregate, minute and hour tables, month partitions for the day table (so
 * a day rollup may outlive its retention by up to a month). Both are idempotent: run them as often
 * as you like (`npm run cli -- retention apply`, or periodically beside the rollup refresh).
 */

const DAY_MS = 86_400_000;

export interface RetentionTarget {
  readonly table: string;
  /** The DateTime column the retention counts from. */
  readonly timeColumn: 'window_start' | 'bucket_start';
  readonly retentionDays: number;
}

export type RetentionAction =
  | { readonly kind: 'ttl'; readonly table: string; readonly from: number; readonly to: number }
  | { readonly kind: 'drop-partition'; readonly table: string; readonly partition: string };

export interface RetentionReport {
  readonly mechanism: 'ttl' | 'partition-drop';
  readonly dryRun: boolean;
  /** What was done (or, in a dry run, would be). */
  readonly actions: readonly RetentionAction[];
  /** Tables checked. */
  readonly tables: readonly RetentionTarget[];
}

export function retentionTargets(config: Pick<MigrationConfig, 'aggregator'>): RetentionTarget[] {
  return config.aggregator.pipelines.flatMap((pipeline) => {
    const rollups = pipelineRollups(pipeline.table || `agg_${pipeline.name}`, pipeline.retentionDays, pipeline.rollups);
    return [
      { table: rollups.source, timeColumn: 'window_start' as const, retentionDays: pipeline.retentionDays },
      ...rollups.levels.map((level) => ({ table: level.table, timeColumn: 'bucket_start' as const, retentionDays: level.retentionDays })),
    ];
  });
}

/** The day count of a `TTL <column> + toIntervalDay(N)` clause in a table's CREATE statement; 0 when it has none. */
export function ttlDaysOf(createTableQuery: string): number {
  const match = /\bTTL\s+\w+\s*\+\s*(?:toIntervalDay\((\d+)\)|INTERVAL\s+(\d+)\s+DAY)/i.exec(createTableQuery);
  return match ? Number(match[1] ?? match[2]) : 0;
}

export function ttlStatement(database: string, target: RetentionTarget): string {
  const table = sqlTable(database, target.table);
  if (target.retentionDays === 0) return `ALTER TABLE ${table} REMOVE TTL`;
  return `ALTER TABLE ${table} MODIFY TTL ${target.timeColumn} + INTERVAL ${target.retentionDays} DAY`;
}

/** The first millisecond after a partition of toYYYYMMDD ('20231114') or toYYYYMM ('202311'); null for another key. */
export function partitionEndMs(partitionId: string): number | null {
  const day = /^(\d{4})(\d{2})(\d{2})$/.exec(partitionId);
  if (day) return Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])) + DAY_MS;
  const month = /^(\d{4})(\d{2})$/.exec(partitionId);
  if (month) return Date.UTC(Number(month[1]), Number(month[2]), 1);
  return null;
}

/** Partitions whose every row starts before now − retention. */
export function expiredPartitions(partitionIds: readonly string[], retentionDays: number, nowMs: number): string[] {
  if (retentionDays === 0) return [];
  const cutoffMs = nowMs - retentionDays * DAY_MS;
  return partitionIds.filter((id) => {
    const endMs = partitionEndMs(id);
    return endMs !== null && endMs <= cutoffMs;
  });
}

export async function applyRetention(
  connection: ClickHouseConnection,
  config: MigrationConfig,
  options: { now?: () => number; dryRun?: boolean; logger?: Logger } = {},
): Promise<RetentionReport> {
  const database = config.clickhouse.database;
  const dryRun = options.dryRun ?? false;
  const tables = retentionTargets(config);
  const mechanism = connection.capabilities.supportsTtl ? 'ttl' : 'partition-drop';
  const actions: RetentionAction[] = [];
  for (const target of tables) {
    if (mechanism === 'ttl') {
      const [row] = await connection.query<{ create_table_query: string }>(
        `SELECT create_table_query FROM system.tables WHERE database = ${sqlString(database)} AND name = ${sqlString(target.table)}`,
      );
      if (!row) continue; // not migrated yet: migrate creates it, the next run sets its TTL
      const current = ttlDaysOf(row.create_table_query);
      if (current === target.retentionDays) continue;
      actions.push({ kind: 'ttl', table: target.table, from: current, to: target.retentionDays });
      if (!dryRun) await connection.command(ttlStatement(database, target));
      continue;
    }
    const parts = await connection.query<{ partition_id: string }>(
      `SELECT DISTINCT partition_id FROM system.parts WHERE database = ${sqlString(database)} AND table = ${sqlString(target.table)} AND active ORDER BY partition_id`,
    );
    const nowMs = (options.now ?? Date.now)();
    for (const partition of expiredPartitions(parts.map((part) => part.partition_id), target.retentionDays, nowMs)) {
      actions.push({ kind: 'drop-partition', table: target.table, partition });
      if (!dryRun) await connection.command(`ALTER TABLE ${sqlTable(database, target.table)} DROP PARTITION ID ${sqlString(partition)}`);
    }
  }
  for (const action of actions) {
    options.logger?.info({ database, dryRun, ...action }, dryRun ? 'retention would change a table' : 'retention changed a table');
  }
  return { mechanism, dryRun, actions, tables };
}
