import type { Config } from '../config/schema.ts';
import type { ClickHouseConnection } from '../clickhouse/client.ts';
import { schemaLayout } from '../clickhouse/migrations.ts';
import { refreshRollups } from '../clickhouse/rollups.ts';
import { applyRetention } from '../clickhouse/retention.ts';
import { errorMessage } from '../core/errors.ts';
import type { Logger } from '../util/log.ts';
import { withRetry, type RetryPolicy } from '../util/retry.ts';
import type { MaintenanceMetrics } from './metrics.ts';

/**
 * The schedule of the rollup refresh and of retention (aggregator.rollupRefreshIntervalMs,
 * aggregator.retentionIntervalMs), run by the aggregator service itself so that rollups stay fresh
 * and 18.16's expired partitions go without an external cron. Both jobs are idempotent (a refresh
 * writes rows versioned by the insert count they were computed from; retention sets a TTL or drops
 * partitions already expired), so every replica of the service may run them without a leader: two
 * at once cost work, never correctness.
 *
 * A run that fails is retried within a bound that ends before the next run is due, then counted and
 * logged; the next interval tries again. It never stops the service: rollups are derived data, and
 * the pipelines' own inserts must not wait on them.
 */

export interface MaintenanceOptions {
  readonly config: Config;
  /** The service's connection, or how to make one (the parent of workers has none of its own). */
  readonly connection: () => Promise<ClickHouseConnection>;
  readonly metrics: MaintenanceMetrics;
  readonly logger: Logger;
  /** Injected for tests. */
  readonly policy?: (intervalMs: number) => RetryPolicy;
}

type Job = 'refresh' | 'retention';

/** Retries end well before the next run is due, so runs never pile up. */
export function maintenanceRetryPolicy(intervalMs: number): RetryPolicy {
  return { maxAttempts: 5, initialDelayMs: 1000, maxDelayMs: 30_000, maxElapsedMs: Math.max(1000, Math.min(intervalMs / 2, 300_000)) };
}

export class Maintenance {
  private readonly timers = new Map<Job, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private state: 'idle' | 'started' | 'stopped' = 'idle';

  constructor(private readonly options: MaintenanceOptions) {}

  /** Whether there is anything to schedule: a non-zero interval (and, for the refresh, a pipeline with rollups). */
  static enabled(config: Config): boolean {
    const { rollupRefreshIntervalMs, retentionIntervalMs, pipelines } = config.aggregator;
    return retentionIntervalMs > 0 || (rollupRefreshIntervalMs > 0 && pipelines.some((pipeline) => pipeline.rollups.length > 0));
  }

  /** Runs each scheduled job once now, then every interval (a run starts only after the previous one ended). */
  start(): void {
    if (this.state !== 'idle') throw new Error(`maintenance cannot start when ${this.state}`);
    this.state = 'started';
    const { rollupRefreshIntervalMs, retentionIntervalMs } = this.options.config.aggregator;
    if (rollupRefreshIntervalMs > 0) this.schedule('refresh', 0, rollupRefreshIntervalMs);
    if (retentionIntervalMs > 0) this.schedule('retention', 0, retentionIntervalMs);
  }

  /** Cancels pending runs and retry waits; resolves when a run in progress has ended. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.abort.abort(new Error('maintenance stopped'));
    await Promise.allSettled([...this.running]);
  }

  private schedule(job: Job, delayMs: number, intervalMs: number): void {
    const timer = setTimeout(() => {
      const run = (job === 'refresh' ? this.refreshOnce(intervalMs) : this.retentionOnce(intervalMs)).finally(() => {
        this.running.delete(run);
        if (this.state === 'started') this.schedule(job, intervalMs, intervalMs);
      });
      this.running.add(run);
    }, delayMs);
    this.timers.set(job, timer);
  }

  /** One scheduled refresh of every pipeline with rollups; never rejects. */
  async refreshOnce(intervalMs = this.options.config.aggregator.rollupRefreshIntervalMs): Promise<void> {
    const { config, metrics, logger } = this.options;
    // Metrics name the pipeline, as the pipelines' own do; the layout knows only its table.
    const names = new Map(config.aggregator.pipelines.map((pipeline) => [pipeline.table || `agg_${pipeline.name}`, pipeline.name]));
    try {
      const connection = await this.retried('connecting to ClickHouse for the rollup refresh', intervalMs, () => this.options.connection());
      for (const rollups of schemaLayout(config, connection.capabilities).rollups ?? []) {
        const pipeline = names.get(rollups.source) ?? rollups.source;
        const endTimer = metrics.refreshSeconds.startTimer({ pipeline });
        try {
          const report = await this.retried(`refreshing the rollups of ${pipeline}`, intervalMs, () => refreshRollups(connection, config.clickhouse.database, rollups, { logger }), () =>
            metrics.refreshRetries.inc({ pipeline }),
          );
          for (const level of report.levels) metrics.refreshHours.inc({ pipeline, level: level.level }, level.dirtyHours);
          metrics.refreshRuns.inc({ pipeline, outcome: 'success' });
          metrics.refreshLastSuccess.set({ pipeline }, Date.now() / 1000);
        } catch (error) {
          if (this.abort.signal.aborted) return;
          metrics.refreshRuns.inc({ pipeline, outcome: 'failure' });
          logger.error({ err: error, pipeline }, `scheduled rollup refresh failed; the next one is in ${intervalMs} ms: ${errorMessage(error)}`);
        } finally {
          endTimer();
        }
      }
    } catch (error) {
      if (this.abort.signal.aborted) return;
      for (const pipeline of config.aggregator.pipelines.filter((p) => p.rollups.length > 0)) {
        metrics.refreshRuns.inc({ pipeline: pipeline.name, outcome: 'failure' });
      }
      logger.error({ err: error }, `scheduled rollup refresh could not reach ClickHouse; the next one is in ${intervalMs} ms: ${errorMessage(error)}`);
    }
  }

  /** One scheduled retention run; never rejects. */
  async retentionOnce(intervalMs = this.options.config.aggregator.retentionIntervalMs): Promise<void> {
    const { config, metrics, logger } = this.options;
    try {
      const report = await this.retried('applying retention', intervalMs, async () => applyRetention(await this.options.connection(), config, { logger }));
      for (const action of report.actions) metrics.retentionActions.inc({ kind: action.kind === 'ttl' ? 'ttl' : 'drop_partition' });
      metrics.retentionRuns.inc({ outcome: 'success' });
      metrics.retentionLastSuccess.set({ mechanism: report.mechanism === 'ttl' ? 'ttl' : 'partition_drop' }, Date.now() / 1000);
    } catch (error) {
      if (this.abort.signal.aborted) return;
      metrics.retentionRuns.inc({ outcome: 'failure' });
      logger.error({ err: error }, `scheduled retention failed; the next run is in ${intervalMs} ms: ${errorMessage(error)}`);
    }
  }

  private retried<T>(operation: string, intervalMs: number, attempt: () => Promise<T>, counted?: () => void): Promise<T> {
    return withRetry(attempt, {
      policy: (this.options.policy ?? maintenanceRetryPolicy)(intervalMs),
      operation,
      signal: this.abort.signal,
      // Any failure may pass (a merge in progress, a replica restarting): the bound keeps it short.
      shouldRetry: () => !this.abort.signal.aborted,
      onRetry: (error, attempt, delayMs) => {
        counted?.();
        this.options.logger.warn({ err: error, attempt, delayMs }, `${operation} failed; retrying`);
      },
    });
  }
}
