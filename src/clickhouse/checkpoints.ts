import type { Config } from '../config/schema.ts';
import type { RetryPolicy } from '../util/retry.ts';
import type { ClickHouseConnection } from './client.ts';
import { CHECKPOINT_COLUMNS, ROW_FORMAT, encodeBatch, encodeCheckpointRow } from './encode.ts';
import { insertRetryPolicy, insertWithRetry, type InsertHooks } from './insert.ts';
import { CHECKPOINTS_TABLE } from './migrations.ts';
import { integerField, stringField } from './result.ts';
import { sqlString, sqlTable, sqlUnsigned } from './sql.ts';

/**
 * Window-state snapshots keyed by (pipeline, Kafka partition, offset). The aggregator saves the
 * state that matches an offset before committing that offset to Kafka; after a restart it loads
 * the snapshot of exactly the committed offset (never a neighbour, which would replay or skip
 * readings).
 */
export interface Checkpoint {
  readonly offset: number;
  readonly state: string;
  readonly createdAt: number;
}

/** One partition's state at an offset, as saved. */
export interface PartitionCheckpoint {
  readonly partition: number;
  readonly offset: number;
  readonly state: string;
}

export interface CheckpointStore {
  save(pipeline: string, partition: number, offset: number, state: string): Promise<void>;
  /**
   * Saves several partitions' checkpoints in ONE insert (one block, so all or none of them land),
   * which is what a commit of all owned partitions needs: one round trip instead of one each.
   */
  saveAll(pipeline: string, checkpoints: readonly PartitionCheckpoint[]): Promise<void>;
  /** The state saved at exactly this offset, or null. */
  load(pipeline: string, partition: number, offset: number): Promise<string | null>;
  /** The checkpoint with the highest offset, or null. */
  latest(pipeline: string, partition: number): Promise<Checkpoint | null>;
}

export interface ClickHouseCheckpointStoreOptions extends InsertHooks {
  readonly database: string;
  readonly retryPolicy: RetryPolicy;
  /** Wall clock for created_at_ms (the newest save at an offset wins). */
  readonly now?: () => number;
}

export class ClickHouseCheckpointStore implements CheckpointStore {
  private readonly table: string;
  private readonly now: () => number;

  constructor(
    private readonly connection: ClickHouseConnection,
    private readonly options: ClickHouseCheckpointStoreOptions,
  ) {
    this.table = sqlTable(options.database, CHECKPOINTS_TABLE);
    this.now = options.now ?? Date.now;
  }

  save(pipeline: string, partition: number, offset: number, state: string): Promise<void> {
    return this.saveAll(pipeline, [{ partition, offset, state }]);
  }

  async saveAll(pipeline: string, checkpoints: readonly PartitionCheckpoint[]): Promise<void> {
    if (checkpoints.length === 0) return;
    const createdAt = this.now();
    const rows = checkpoints.map(({ partition, offset, state }) => ({ pipeline, partition, offset, state, createdAt }));
    const body = Buffer.from(encodeBatch(rows, 0, rows.length, encodeCheckpointRow), 'utf8');
    await insertWithRetry(
      this.connection,
      { target: this.table, columns: CHECKPOINT_COLUMNS, body, format: ROW_FORMAT, rows: rows.length },
      this.options.retryPolicy,
      this.options,
    );
  }

  async load(pipeline: string, partition: number, offset: number): Promise<string | null> {
    const rows = await this.connection.query<Record<string, unknown>>(
      `SELECT state FROM ${this.table} FINAL WHERE ${this.keyFilter(pipeline, partition)} ` +
        `AND kafka_offset = ${sqlUnsigned(offset)} ORDER BY created_at_ms DESC LIMIT 1`,
    );
    const row = rows[0];
    return row === undefined ? null : stringField(row, 'state');
  }

  async latest(pipeline: string, partition: number): Promise<Checkpoint | null> {
    const rows = await this.connection.query<Record<string, unknown>>(
      `SELECT kafka_offset, state, created_at_ms FROM ${this.table} FINAL WHERE ${this.keyFilter(pipeline, partition)} ` +
        'ORDER BY kafka_offset DESC, created_at_ms DESC LIMIT 1',
    );
    const row = rows[0];
    if (row === undefined) return null;
    return {
      offset: integerField(row, 'kafka_offset'),
      state: stringField(row, 'state'),
      createdAt: integerField(row, 'created_at_ms'),
    };
  }

  /**
   * The checkpoint with the highest offset at or below `offset`, or null: where a replay can start
   * and still emit exactly what the live pipeline emitted (see src/replay/plan.ts).
   */
  async atOrBefore(pipeline: string, partition: number, offset: number): Promise<Checkpoint | null> {
    const rows = await this.connection.query<Record<string, unknown>>(
      `SELECT kafka_offset, state, created_at_ms FROM ${this.table} FINAL WHERE ${this.keyFilter(pipeline, partition)} ` +
        `AND kafka_offset <= ${sqlUnsigned(offset)} ORDER BY kafka_offset DESC, created_at_ms DESC LIMIT 1`,
    );
    const row = rows[0];
    if (row === undefined) return null;
    return { offset: integerField(row, 'kafka_offset'), state: stringField(row, 'state'), createdAt: integerField(row, 'created_at_ms') };
  }

  /**
   * Deletes all but the newest `keep` checkpoints of a partition with ALTER ... DELETE (a mutation:
   * 18.16 has them, runs them asynchronously and rewrites whole parts). Call it rarely (say hourly),
   * not per checkpoint. Returns the offset below which checkpoints are deleted, or null when there
   * is nothing to prune.
   */
  async prune(pipeline: string, partition: number, keep: number): Promise<number | null> {
    if (!Number.isInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, got ${keep}`);
    const rows = await this.connection.query<Record<string, unknown>>(
      `SELECT kafka_offset FROM ${this.table} FINAL WHERE ${this.keyFilter(pipeline, partition)} ` +
        `ORDER BY kafka_offset DESC LIMIT ${keep - 1}, 1`,
    );
    const row = rows[0];
    if (row === undefined) return null;
    const oldestKept = integerField(row, 'kafka_offset');
    await this.connection.command(
      `ALTER TABLE ${this.table} DELETE WHERE ${this.keyFilter(pipeline, partition)} AND kafka_offset < ${sqlUnsigned(oldestKept)}`,
    );
    return oldestKept;
  }

  private keyFilter(pipeline: string, partition: number): string {
    return `pipeline = ${sqlString(pipeline)} AND kafka_partition = ${sqlUnsigned(partition)}`;
  }
}

export function createCheckpointStore(
  connection: ClickHouseConnection,
  config: Pick<Config, 'clickhouse'>,
  hooks: InsertHooks & { now?: () => number } = {},
): ClickHouseCheckpointStore {
  return new ClickHouseCheckpointStore(connection, {
    ...hooks,
    database: config.clickhouse.database,
    retryPolicy: insertRetryPolicy(config.clickhouse),
  });
}
