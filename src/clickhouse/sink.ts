import type { Config } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import type { AggregateRow, EmittedAggregateRow, RawReadingRow } from '../core/rows.ts';
import type { RetryPolicy } from '../util/retry.ts';
import type { ClickHouseConnection } from './client.ts';
import {
  AGGREGATE_COLUMNS,
  RAW_READING_COLUMNS,
  encodeAggregateRow,
  encodeAggregateRowAt,
  encodeBatch,
  encodeRawReadingRow,
  EncodedRows,
  ROW_FORMAT,
} from './encode.ts';
import { insertRetryPolicy, insertWithRetry, type InsertHooks } from './insert.ts';
import { RAW_READINGS_TABLE } from './migrations.ts';
import { sqlTable } from './sql.ts';

/**
 * Where the aggregator's rows go. Resolves once every row is confirmed by the server; rejects
 * with RetriesExhaustedError (its cause a ClickHouseError, usually with outcome 'unknown') or
 * with a non-retriable error. After a rejection some batches may have landed: the caller retries
 * the same rows, which the tables collapse (ReplacingMergeTree on the window / reading key).
 */
export interface AggregateSink {
  insertAggregates(table: string, rows: readonly EmittedAggregateRow[] | EncodedRows<AggregateRow>): Promise<InsertReport>;
  insertRawReadings(rows: readonly RawReadingRow[] | EncodedRows<RawReadingRow>): Promise<InsertReport>;
  /** An empty buffer that encodes raw readings as they are collected, for insertRawReadings. */
  rawReadingsBuffer(): EncodedRows<RawReadingRow>;
  /** An empty buffer that encodes aggregate rows emitted at `emittedAt`, for insertAggregates. */
  aggregateRowsBuffer(emittedAt: number): EncodedRows<AggregateRow>;
}

export interface InsertReport {
  readonly rows: number;
  readonly batches: number;
  /** Attempts over all batches (batches when nothing was retried). */
  readonly attempts: number;
  readonly bytes: number;
}

export interface ClickHouseSinkOptions extends InsertHooks {
  readonly database: string;
  /** Rows per INSERT (aggregator.maxRowsPerInsert); batch boundaries depend only on row order. */
  readonly maxRowsPerInsert: number;
  readonly retryPolicy: RetryPolicy;
}

export class ClickHouseSink implements AggregateSink {
  constructor(
    private readonly connection: ClickHouseConnection,
    private readonly options: ClickHouseSinkOptions,
  ) {
    if (!Number.isInteger(options.maxRowsPerInsert) || options.maxRowsPerInsert < 1) {
      throw new ConfigError(
        `config key 'aggregator.maxRowsPerInsert' is ${options.maxRowsPerInsert}; it must be a positive integer`,
        { key: 'aggregator.maxRowsPerInsert' },
      );
    }
  }

  insertAggregates(table: string, rows: readonly EmittedAggregateRow[] | EncodedRows<AggregateRow>): Promise<InsertReport> {
    const target = sqlTable(this.options.database, table);
    if (rows instanceof EncodedRows) return this.insertEncoded(target, AGGREGATE_COLUMNS, rows);
    return this.insertAll(target, AGGREGATE_COLUMNS, rows, encodeAggregateRow);
  }

  insertRawReadings(rows: readonly RawReadingRow[] | EncodedRows<RawReadingRow>): Promise<InsertReport> {
    const target = sqlTable(this.options.database, RAW_READINGS_TABLE);
    if (rows instanceof EncodedRows) return this.insertEncoded(target, RAW_READING_COLUMNS, rows);
    return this.insertAll(target, RAW_READING_COLUMNS, rows, encodeRawReadingRow);
  }

  rawReadingsBuffer(): EncodedRows<RawReadingRow> {
    return new EncodedRows(encodeRawReadingRow, this.options.maxRowsPerInsert);
  }

  aggregateRowsBuffer(emittedAt: number): EncodedRows<AggregateRow> {
    return new EncodedRows((row: AggregateRow) => encodeAggregateRowAt(row, emittedAt), this.options.maxRowsPerInsert);
  }

  /** The buffer's batches were cut every maxRowsPerInsert rows, as insertAll cuts them. */
  private async insertEncoded<Row>(target: string, columns: readonly string[], rows: EncodedRows<Row>): Promise<InsertReport> {
    let batches = 0;
    let attempts = 0;
    for (const batch of rows.batches()) {
      attempts += await insertWithRetry(this.connection, { target, columns, body: batch.body, format: ROW_FORMAT, rows: batch.rows }, this.options.retryPolicy, this.options);
      batches++;
    }
    return { rows: rows.size, batches, attempts, bytes: rows.byteLength };
  }

  private async insertAll<Row>(
    target: string,
    columns: readonly string[],
    rows: readonly Row[],
    encode: (row: Row) => string,
  ): Promise<InsertReport> {
    const size = this.options.maxRowsPerInsert;
    let batches = 0;
    let attempts = 0;
    let bytes = 0;
    for (let from = 0; from < rows.length; from += size) {
      const to = Math.min(rows.length, from + size);
      const body = Buffer.from(encodeBatch(rows, from, to, encode), 'utf8');
      attempts += await insertWithRetry(this.connection, { target, columns, body, format: ROW_FORMAT, rows: to - from }, this.options.retryPolicy, this.options);
      batches++;
      bytes += body.length;
    }
    return { rows: rows.length, batches, attempts, bytes };
  }
}

export function createClickHouseSink(
  connection: ClickHouseConnection,
  config: Pick<Config, 'clickhouse' | 'aggregator'>,
  hooks: InsertHooks = {},
): ClickHouseSink {
  return new ClickHouseSink(connection, {
    ...hooks,
    database: config.clickhouse.database,
    maxRowsPerInsert: config.aggregator.maxRowsPerInsert,
    retryPolicy: insertRetryPolicy(config.clickhouse),
  });
}
