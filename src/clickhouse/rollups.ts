import type { Logger } from '../util/log.ts';
import type { ClickHouseConnection } from './client.ts';
import {
  LEVEL_MS,
  MARK_MS,
  insertedPerHourSql,
  rebuildLevelSql,
  rebuiltPerHourSql,
  recordRebuiltSql,
  type PipelineRollups,
  type RollupLevel,
} from './rollups-sql.ts';

/**
 * Brings one pipeline's rollup tables up to date: every hour whose insert count grew since a level
 * last rebuilt it is rebuilt, finest level first, then recorded. Idempotent and safe to repeat or
 * to run from two processes at once (rows carry the insert count they were computed from as their
 * version; the higher count wins). Run it periodically and after a replay or backfill; it has
 * nothing to do when nothing was inserted.
 */

const DAY_MS = LEVEL_MS['1d'];
/** Largest span one INSERT … SELECT rebuilds, so that a first build of a long history runs in bounded statements. */
export const DEFAULT_MAX_RANGE_MS = 7 * DAY_MS;
const RECORDS_PER_INSERT = 1000;

export interface LevelRefresh {
  readonly level: RollupLevel;
  readonly table: string;
  /** Hours whose inserts this level had not absorbed. */
  readonly dirtyHours: number;
  /** INSERT … SELECT statements run (one per contiguous range of at most maxRangeMs). */
  readonly statements: number;
  /** Dirty hours older than the level below keeps (its retention): rebuilding them would read a partial source. */
  readonly skippedHours: number;
}

export interface RefreshReport {
  readonly source: string;
  readonly levels: readonly LevelRefresh[];
}

export interface RefreshOptions {
  readonly now?: () => number;
  readonly logger?: Logger;
  readonly maxRangeMs?: number;
}

export async function refreshRollups(
  connection: ClickHouseConnection,
  database: string,
  rollups: PipelineRollups,
  options: RefreshOptions = {},
): Promise<RefreshReport> {
  const nowMs = (options.now ?? Date.now)();
  const maxRangeMs = Math.max(options.maxRangeMs ?? DEFAULT_MAX_RANGE_MS, DAY_MS);
  const inserted = new Map<number, number>();
  for (const row of await connection.query<{ hour_ms: string | number; inserted: string | number }>(insertedPerHourSql(database, rollups, 0))) {
    inserted.set(Number(row.hour_ms), Number(row.inserted));
  }
  const rebuilt = new Map<string, number>();
  for (const row of await connection.query<{ level: string; hour_ms: string | number; inserted: string | number }>(rebuiltPerHourSql(database, rollups, 0))) {
    rebuilt.set(`${row.level}@${Number(row.hour_ms)}`, Number(row.inserted));
  }

  const levels: LevelRefresh[] = [];
  for (const [index, level] of rollups.levels.entries()) {
    const sourceRetentionDays = index === 0 ? rollups.sourceRetentionDays : rollups.levels[index - 1]!.retentionDays;
    const sourceCutoffMs = sourceRetentionDays === 0 ? 0 : nowMs - sourceRetentionDays * DAY_MS;
    const dirty = [...inserted].filter(([hourMs, count]) => count > (rebuilt.get(`${level.level}@${hourMs}`) ?? -1));
    // A bucket coarser than an hour is rebuilt whole; finer ones are rebuilt an hour at a time.
    const unitMs = Math.max(LEVEL_MS[level.level], MARK_MS);
    const units = new Set<number>();
    let skippedHours = 0;
    for (const [hourMs] of dirty) {
      const unitStart = hourMs - (hourMs % unitMs);
      if (unitStart < sourceCutoffMs) skippedHours++;
      else units.add(unitStart);
    }
    const ranges = contiguousRanges([...units].sort((a, b) => a - b), unitMs, maxRangeMs - (maxRangeMs % unitMs));
    for (const range of ranges) {
      const versions = new Map<number, number>();
      for (let unitStart = range.fromMs; unitStart < range.toMs; unitStart += unitMs) {
        versions.set(unitStart, insertedBetween(inserted, unitStart, unitStart + unitMs));
      }
      await connection.command(rebuildLevelSql(database, rollups, index, { ...range, versions, versionUnitMs: unitMs }));
    }
    const records = dirty.map(([hourMs, count]) => ({ hourMs, inserted: count }));
    for (let start = 0; start < records.length; start += RECORDS_PER_INSERT) {
      await connection.command(recordRebuiltSql(database, rollups, level.level, records.slice(start, start + RECORDS_PER_INSERT)));
    }
    const refresh = { level: level.level, table: level.table, dirtyHours: dirty.length, statements: ranges.length, skippedHours };
    if (dirty.length > 0) options.logger?.info({ database, source: rollups.source, ...refresh }, 'rebuilt rollup buckets');
    levels.push(refresh);
  }
  return { source: rollups.source, levels };
}

function insertedBetween(inserted: ReadonlyMap<number, number>, fromMs: number, toMs: number): number {
  let total = 0;
  for (let hourMs = fromMs; hourMs < toMs; hourMs += MARK_MS) total += inserted.get(hourMs) ?? 0;
  return total;
}

/** Sorted unit starts → [from, to) ranges of adjacent units, each at most maxSpanMs long. */
export function contiguousRanges(unitStarts: readonly number[], unitMs: number, maxSpanMs: number): { fromMs: number; toMs: number }[] {
  const ranges: { fromMs: number; toMs: number }[] = [];
  for (const start of unitStarts) {
    const last = ranges[ranges.length - 1];
    if (last && last.toMs === start && last.toMs - last.fromMs + unitMs <= maxSpanMs) last.toMs = start + unitMs;
    else ranges.push({ fromMs: start, toMs: start + unitMs });
  }
  return ranges;
}
