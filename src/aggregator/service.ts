import { hostname } from 'node:os';
import type { Server } from 'node:http';
import type { Config } from '../config/schema.ts';
import { connectClickHouse, type ClickHouseConnection } from '../clickhouse/client.ts';
import { createCheckpointStore } from '../clickhouse/checkpoints.ts';
import { migrate } from '../clickhouse/migrations.ts';
import { createClickHouseSink } from '../clickhouse/sink.ts';
import { KafkaProducer } from '../kafka/producer.ts';
import { startOpsServer } from '../metrics/ops-server.ts';
import type { Logger } from '../util/log.ts';
import { createAggregatorMetrics, type AggregatorMetrics } from './metrics.ts';
import { PipelineRunner } from './pipeline-runner.ts';
import { CrashPoints } from './crash-points.ts';

/**
 * The aggregator service: every configured pipeline in one process, sharing one ClickHouse
 * connection and one operations endpoint. Migrations run at start.
 */
export class AggregatorService {
  private readonly runners: PipelineRunner[] = [];
  private connection: ClickHouseConnection | null = null;
  private lateProducer: KafkaProducer | null = null;
  private opsServer: Server | null = null;
  readonly metrics: AggregatorMetrics;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    this.metrics = createAggregatorMetrics();
  }

  get instanceId(): string {
    return this.config.aggregator.instanceId || `${hostname()}-${process.pid}`;
  }

  async start(): Promise<void> {
    const { config, logger, metrics } = this;
    this.connection = await connectClickHouse(config.clickhouse, { logger });
    const report = await migrate(this.connection, config, { logger });
    logger.info({ database: report.database, applied: report.applied }, 'ClickHouse schema up to date');

    const needsPlainLateProducer = config.aggregator.pipelines.some((p) => p.latePolicy.kind === 'late-topic' && p.guarantee !== 'exactly-once');
    if (needsPlainLateProducer) {
      this.lateProducer = new KafkaProducer({
        brokers: config.kafka.brokers,
        clientId: `${config.kafka.clientId}-aggregator-late`,
        deliveryTimeoutMs: 30_000,
        logger,
      });
      await this.lateProducer.connect();
    }

    const rawWriter = config.aggregator.writeRawReadings
      ? (config.aggregator.pipelines.find((p) => p.guarantee === 'exactly-once') ?? config.aggregator.pipelines[0])?.name
      : undefined;
    const crashPoints = new CrashPoints(config.aggregator.crashAt);
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
          sink: createClickHouseSink(this.connection, config, hooks),
          checkpoints: createCheckpointStore(this.connection, config, hooks),
          metrics,
          logger,
          writesRawReadings: pipeline.name === rawWriter,
          instanceId: this.instanceId,
          crashPoints,
          ...(this.lateProducer ? { lateProducer: this.lateProducer } : {}),
        }),
      );
    }
    for (const runner of this.runners) await runner.start();
    this.opsServer = await startOpsServer({
      host: config.aggregator.metricsHost,
      port: config.aggregator.metricsPort,
      registry: metrics.registry,
      readiness: () => ({
        ready: this.runners.every((runner) => runner.isHealthy()),
        detail: { pipelines: this.runners.map((runner) => runner.status()) },
      }),
      json: { '/status': () => ({ instance: this.instanceId, pipelines: this.runners.map((runner) => runner.status()) }) },
    });
    logger.info({ instance: this.instanceId, pipelines: this.runners.map((r) => `${r.name} (${r.tier})`), metricsPort: config.aggregator.metricsPort }, 'aggregator started');
  }

  /** Resolves when any pipeline stops on its own (a fatal error); rejects with that error. */
  whenAnyFails(): Promise<void> {
    return Promise.race(this.runners.map((runner) => runner.finished));
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.runners.map((runner) => runner.stop()));
    await this.lateProducer?.close();
    await this.connection?.close();
    await new Promise<void>((resolve) => (this.opsServer ? this.opsServer.close(() => resolve()) : resolve()));
  }
}
