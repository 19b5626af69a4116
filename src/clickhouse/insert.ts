import { createHash } from 'node:crypto';
import type { ClickHouseConfig } from '../config/schema.ts';
import type { Logger } from '../util/log.ts';
import { withRetry, type RetryPolicy } from '../util/retry.ts';
import { usesDeduplicationToken } from './capabilities.ts';
import type { ClickHouseConnection, InsertFormat } from './client.ts';
import { ClickHouseError } from './errors.ts';

/**
 * One insert (JSONEachRow or TabSeparated), retried with bounded attempts and time through the one retry helper.
 * A retry sends the identical bytes. Where the server supports it, the request carries an
 * `insert_deduplication_token` derived from the target and the bytes, so a retry of an insert
 * that did land (a timeout with unknown outcome) is dropped by the server; elsewhere (18.16)
 * ReplacingMergeTree collapses the duplicate rows.
 */

export interface InsertRetryEvent {
  /** The formatted target table. */
  readonly target: string;
  readonly rows: number;
  /** The attempt that failed (1-based); the next one follows after delayMs. */
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
}

export interface InsertHooks {
  /** Called before every retry: count it in a metric. */
  readonly onRetry?: (event: InsertRetryEvent) => void;
  readonly logger?: Logger;
  readonly signal?: AbortSignal;
  /** Timeout of each attempt; defaults to the connection's clickhouse.requestTimeoutMs. */
  readonly attemptTimeoutMs?: number;
}

export function insertRetryPolicy(config: ClickHouseConfig): RetryPolicy {
  return {
    maxAttempts: config.insertMaxAttempts,
    initialDelayMs: 100,
    maxDelayMs: 5000,
    maxElapsedMs: config.insertMaxElapsedMs,
  };
}

/** Same target and same bytes → same token; 40 hex characters (SHA-1 is plenty for identity). */
export function deduplicationToken(target: string, body: Buffer): string {
  return createHash('sha1').update(target).update('\n').update(body).digest('hex');
}

export interface InsertBatch {
  readonly target: string;
  readonly columns: readonly string[];
  readonly body: Buffer;
  /** The body's format (the encoders' ROW_FORMAT). */
  readonly format: InsertFormat;
  readonly rows: number;
}

/** Returns the number of attempts it took. Throws RetriesExhaustedError or a non-retriable ClickHouseError. */
export async function insertWithRetry(
  connection: ClickHouseConnection,
  batch: InsertBatch,
  policy: RetryPolicy,
  hooks: InsertHooks = {},
): Promise<number> {
  const settings = usesDeduplicationToken(connection.capabilities)
    ? { insert_deduplication_token: deduplicationToken(batch.target, batch.body) }
    : undefined;
  let attempts = 0;
  await withRetry(
    async (attempt) => {
      attempts = attempt;
      await connection.insert(batch.target, batch.columns, batch.body, {
        format: batch.format,
        ...(settings === undefined ? {} : { settings }),
        ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
        ...(hooks.attemptTimeoutMs === undefined ? {} : { timeoutMs: hooks.attemptTimeoutMs }),
      });
    },
    {
      policy,
      operation: `insert of ${batch.rows} row(s) into ${batch.target}`,
      ...(hooks.signal === undefined ? {} : { signal: hooks.signal }),
      onRetry: (error, attempt, delayMs) => {
        hooks.logger?.warn(
          {
            target: batch.target,
            rows: batch.rows,
            attempt,
            delayMs,
            code: error instanceof ClickHouseError ? error.code : undefined,
            outcome: error instanceof ClickHouseError ? error.outcome : undefined,
            err: error instanceof Error ? error.message : String(error),
          },
          'ClickHouse insert failed; retrying the identical batch',
        );
        hooks.onRetry?.({ target: batch.target, rows: batch.rows, attempt, delayMs, error });
      },
    },
  );
  return attempts;
}
