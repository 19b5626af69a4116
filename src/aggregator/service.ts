import { hostname } from 'node:os';
import type { Server } from 'node:http';
import type { Config } from '../config/schema.ts';
import { connectClickHouse, type ClickHouseConnection } from '../clickhouse/client.ts';
import { createCheckpointStore } from '../clickhouse/checkpoints.ts';
import { migrate } from '../clickhouse/migrations.ts';
import { asRole } from '../clickhouse/roles.ts';
import { insertRetryPolicy } from '../clickhouse/insert.ts';
import { withRetry } from '../util/retry.ts';
import { createClickHouseSink } from '../clickhouse/sink.ts';
import { KafkaProducer } from '../kafka/producer.ts';
import { checkIngestClock } from '../kafka/ingest-clock.ts';
import { startOpsServer } from '../metrics/ops-server.ts';
import type { Logger } from '../util/log.ts';
import { createAggregatorMetrics, type AggregatorMetrics } from './metrics.ts';
import { PipelineRunner } from './pipeline-runner.ts';
import { createStatusPage, type StatusPage } from '../status/status-page.ts';
import type { CrashPoints } from './crash-points.ts';
import { Maintenance } from './maintenance.ts';

/**
 * The aggregator service: every configured pipeline in one process, sharing one ClickHouse
 * connection and one operations endpoint. Migrations run at start.
 */
export class AggregatorService {
  private readonly runners: PipelineRunner[] = [];
  private connection: ClickHouseConnection | null = null;
  /** The admin role's connection: migrations at start, then maintenance (DDL the ingest user may not run). */
  private adminConnection: ClickHouseConnection | null = null;
  private lateProducer: KafkaProducer | null = null;
  private opsServer: Server | null = null;
  private statusPage: StatusPage | null = null;
  private maintenance: Maintenance | null = null;
  readonly metrics: AggregatorMetrics;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly hooks: {
      /** Fault injection, installed only by the failure tests' entry point (loadtest/support/crashing-aggregator.ts). */
      readonly crashPoints?: CrashPoints;
      /** Resolves when the pipelines may join their consumer groups (a supervised worker waits for its siblings). */
      readonly beforeJoin?: () => Promise<void>;
    } = {},
  ) {
    this.metrics = createAggregatorMetrics();
  }

  get instanceId(): string {
    return this.config.aggregator.instanceId || `${hostname()}-${process.pid}`;
  }

  async start(): Promise<void> {
    const { config, logger, metrics } = this;
    await checkIngestClock(config.kafka, logger);
    // ClickHouse may be down when the aggregator starts (a restart during an outage): wait for it
    // within the insert retry budget rather than crash-looping.
    const report = await withRetry(
      async () => {
        this.adminConnection ??= await connectClickHouse(asRole(config.clickhouse, 'admin'), { logger });
        const report = await migrate(this.adminConnection, config, { logger });
        this.connection ??= await connectClickHouse(config.clickhouse, { logger });
        return report;
      },
      {
        policy: insertRetryPolicy(config.clickhouse),
        operation: `connecting to ClickHouse at ${config.clickhouse.url}`,
        onRetry: (error, attempt, delayMs) => logger.warn({ err: error, attempt, delayMs }, 'ClickHouse not available at start; retrying'),
      },
    );
    logger.info({ database: report.database, applied: report.applied }, 'ClickHouse schema up to date');
    const connection = this.connection!;
    const adminConnection = this.adminConnection!;

    const needsPlainLateProducer = config.aggregator.pipelines.some((p) => p.latePolicy.kind === 'late-topic' && p.guarantee !== 'exactly-once');
    if (needsPlainLateProducer) {
      this.lateProducer = new KafkaProducer({
        connection: config.kafka,
        clientId: `${config.kafka.clientId}-aggregator-late`,
        deliveryTimeoutMs: 30_000,
        logger,
      });
      await this.lateProducer.connect();
    }

    const rawWriter = config.aggregator.writeRawReadings
      ? (config.aggregator.pipelines.find((p) => p.guarantee === 'exactly-once') ?? config.aggregator.pipelines[0])?.name
      : undefined;
    for (const pipeline of config.aggregator.pipelines) {
      const labels = { pipeline: pipeline.name, tier: pipeline.guarantee };
      const hooks = {
        logger,
        // The sink logs each retry itself (with the target and outcome); here it is counted.
        onRetry: () => metrics.insertRetries.inc(labels),
      };
      this.runners.push(
        new PipelineRunner({
          config,
          pipeline,
          sink: createClickHouseSink(connection, config, hooks),
          checkpoints: createCheckpointStore(connection, config, hooks),
          metrics,
          logger,
          writesRawReadings: pipeline.name === rawWriter,
          instanceId: this.instanceId,
          ...(this.hooks.crashPoints ? { crashPoints: this.hooks.crashPoints } : {}),
          ...(this.lateProducer ? { lateProducer: this.lateProducer } : {}),
        }),
      );
    }
    await this.hooks.beforeJoin?.();
    for (const runner of this.runners) await runner.start();
    // The parent of workers sets both intervals to 0 for them and runs the schedule itself, once.
    if (Maintenance.enabled(config)) {
      this.maintenance = new Maintenance({ config, connection: async () => adminConnection, metrics: metrics.maintenance, logger });
      this.maintenance.start();
    }
    const runnerStatus = () => this.runners.map((runner) => runner.status());
    this.statusPage = createStatusPage({ config, instance: this.instanceId, registry: metrics.registry, runners: runnerStatus, logger });
    this.opsServer = await startOpsServer({
      host: config.aggregator.metricsHost,
      port: config.aggregator.metricsPort,
      registry: metrics.registry,
      readiness: () => ({
        ready: this.runners.every((runner) => runner.isHealthy()),
        detail: { pipelines: this.runners.map((runner) => runner.status()) },
      }),
      json: { '/status': () => ({ instance: this.instanceId, pipelines: runnerStatus() }), ...this.statusPage.json },
      html: this.statusPage.html,
    });
    logger.info({ instance: this.instanceId, pipelines: this.runners.map((r) => `${r.name} (${r.tier})`), metricsPort: config.aggregator.metricsPort }, 'aggregator started');
  }

  /** The port the operations server listens on (the configured one, or the one chosen for port 0). */
  get metricsPort(): number | null {
    const address = this.opsServer?.address();
    return address && typeof address === 'object' ? address.port : null;
  }

  /** Resolves when any pipeline stops on its own (a fatal error); rejects with that error. */
  whenAnyFails(): Promise<void> {
    return Promise.race(this.runners.map((runner) => runner.finished));
  }

  async stop(): Promise<void> {
    await this.maintenance?.stop();
    await Promise.allSettled(this.runners.map((runner) => runner.stop()));
    await this.lateProducer?.close();
    await this.connection?.close();
    await this.adminConnection?.close();
    await new Promise<void>((resolve) => (this.opsServer ? this.opsServer.close(() => resolve()) : resolve()));
    await this.statusPage?.close();
  }
}
