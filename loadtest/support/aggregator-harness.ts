import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import kafkaJs from '@confluentinc/kafka-javascript';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { stringify } from 'yaml';
import { roleCredentials } from '../../src/clickhouse/roles.ts';
import type { LocalStackConfig } from '../../src/stack/config-schema.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import { encodeReading } from '../../src/core/wire/reading.ts';
import { encodeTick } from '../../src/core/wire/tick.ts';
import { ensureTopics } from '../../src/kafka/admin.ts';
import { eventually, startService, type ServiceProcess } from '../../src/stack/services.ts';
import { CRASH_AT_ENV, CRASHING_AGGREGATOR_SCRIPT } from './crashing-aggregator.ts';
import { testConfig, uniqueName } from './stack.ts';
import type { ExpectedRow } from './readings-dataset.ts';
import { connectRawProducer } from './raw-producer.ts';

/**
 * One aggregator scenario against the real Kafka and ClickHouse: a fresh topic, database and
 * consumer groups; readings written straight into the readings topic (as the bridge writes them);
 * aggregator instances as child processes; and the tables read back under FINAL.
 */
export interface PipelineUnderTest {
  readonly name: string;
  readonly guarantee: 'at-most-once' | 'at-least-once' | 'exactly-once';
  readonly window: { kind: 'tumbling'; sizeMs: number } | { kind: 'sliding'; sizeMs: number; slideMs: number } | { kind: 'session'; gapMs: number };
  readonly watermark?: Record<string, unknown>;
  readonly latePolicy?: Record<string, unknown>;
}

export class AggregatorScenario {
  readonly id = uniqueName('agg').replace(/-/g, '_');
  readonly topic = `${this.id}-readings`;
  readonly database = `tp_${this.id}`;
  readonly config: LocalStackConfig = testConfig();
  readonly partitions: number;
  readonly clickhouse: ClickHouseClient;
  /** The configuration file the aggregators run with (a CLI command of the test can run with it too). */
  readonly configFile: string;
  private readonly services: ServiceProcess[] = [];
  private producer: kafkaJs.Producer | null = null;
  private delivered = 0;
  private produced = 0;
  /** Delivery failures Kafka reported: a throw in librdkafka's callback would be an uncaught exception, not a failed test. */
  private readonly deliveryErrors: string[] = [];

  constructor(
    readonly pipelines: readonly PipelineUnderTest[],
    options: { partitions?: number; aggregator?: Record<string, unknown> } = {},
  ) {
    this.partitions = options.partitions ?? 4;
    this.clickhouse = createClient({ url: this.config.clickhouse.url, ...roleCredentials(this.config.clickhouse, 'admin'), request_timeout: 60_000 });
    const dir = mkdtempSync(join(tmpdir(), 'tp-agg-'));
    this.configFile = join(dir, 'pipeline.yaml');
    writeFileSync(
      this.configFile,
      stringify({
        // These tests write the records themselves, with the ingest times they choose: they play the bridge's clock.
        kafka: { brokers: this.config.kafka.brokers, security: this.config.kafka.security, readingsTopic: this.topic, lateTopic: `${this.topic}-late`, partitions: this.partitions, ingestClock: 'bridge' },
        // The local stack's role users (src/clickhouse/roles.ts): the aggregator inserts as ingest, migrates as admin.
        clickhouse: { url: this.config.clickhouse.url, database: this.database, username: this.config.clickhouse.username, password: this.config.clickhouse.password, roles: this.config.clickhouse.roles },
        aggregator: {
          flushIntervalMs: 200,
          checkpointIntervalMs: 500,
          sessionTimeoutMs: 6000,
          metricsPort: 0,
          // One process per aggregator, as these tests kill and restart them one by one; a test of
          // the supervised service asks for more (aggregator.instances or TP_AGGREGATOR__INSTANCES).
          instances: 1,
          ...options.aggregator,
          pipelines: pipelines.map((pipeline) => ({
            name: pipeline.name,
            guarantee: pipeline.guarantee,
            window: pipeline.window,
            watermark: pipeline.watermark ?? { kind: 'fixed', delayMs: 3000 },
            latePolicy: pipeline.latePolicy ?? { kind: 'reemit', allowedLatenessMs: 60_000 },
            idleTimeoutMs: 5000,
            consumerGroup: `${this.id}-${pipeline.name}`,
            table: `agg_${pipeline.name}`,
          })),
        },
      }),
    );
  }

  async setUp(): Promise<void> {
    await ensureTopics(this.config.kafka, [
      { topic: this.topic, partitions: this.partitions, replicationFactor: this.config.kafka.replicationFactor },
      { topic: `${this.topic}-late`, partitions: this.partitions, replicationFactor: this.config.kafka.replicationFactor },
    ]);
    this.producer = await connectRawProducer(this.config.kafka, {
      'enable.idempotence': true,
      acks: 'all',
      'linger.ms': 5,
      dr_cb: true,
    });
    const producer = this.producer;
    producer.setPollInterval(10);
    producer.on('delivery-report', (error) => {
      if (error) this.deliveryErrors.push(error.message);
      else this.delivered++;
    });
  }

  /** With `TEST_AGGREGATOR_CRASH_AT` in `env`, the failure tests' entry point (loadtest/support/crashing-aggregator.ts) runs instead of the service's. */
  startAggregator(instance: string, env: NodeJS.ProcessEnv = {}, options: { nodeArgs?: readonly string[] } = {}): ServiceProcess {
    const script = env[CRASH_AT_ENV] ? CRASHING_AGGREGATOR_SCRIPT : 'src/aggregator/main.ts';
    const service = startService(
      `aggregator-${instance}`,
      script,
      {
        TP_CONFIG: this.configFile,
        TP_AGGREGATOR__INSTANCE_ID: `${this.id}-${instance}`,
        ...env,
      },
      options.nodeArgs ? { nodeArgs: options.nodeArgs } : {},
    );
    this.services.push(service);
    return service;
  }

  /** Writes readings keyed by device, as the bridge does; resolves when Kafka acknowledged all. */
  async produce(records: readonly ReadingRecord[]): Promise<void> {
    for (const record of records) {
      this.producer!.produce(this.topic, null, Buffer.from(encodeReading(record)), record.device);
      this.produced++;
    }
    await this.allDelivered();
  }

  /** A tick on every partition: an idle partition's watermark advances to `ingestTime`. */
  async tick(ingestTime: number): Promise<void> {
    for (let partition = 0; partition < this.partitions; partition++) {
      this.producer!.produce(this.topic, partition, Buffer.from(encodeTick(ingestTime, 'test')), null);
      this.produced++;
    }
    await this.allDelivered();
  }

  private async allDelivered(): Promise<void> {
    await eventually(`Kafka answers for all ${this.produced} records`, async () => (this.deliveryErrors.length > 0 || this.delivered >= this.produced ? true : undefined), 30_000, 20);
    if (this.deliveryErrors.length > 0) throw new Error(`Kafka refused ${this.deliveryErrors.length} record(s): ${this.deliveryErrors.slice(0, 3).join('; ')}`);
  }

  /** The end of each started service's log, for a failure message. */
  serviceLogs(charsEach: number): string {
    return this.services.map((service) => `--- ${service.logFile} ---\n${service.log().slice(-charsEach)}`).join('\n');
  }

  async query<Row>(sql: string): Promise<Row[]> {
    return (await this.clickhouse.query({ query: sql, format: 'JSONEachRow' })).json<Row>();
  }

  /** The aggregates table under FINAL, in the shape of ExpectedRow (plus version and late count). */
  async finalRows(pipeline: string): Promise<(ExpectedRow & { version: number; lateReadings: number })[]> {
    const rows = await this.query<Record<string, string | number>>(
      `SELECT device, metric, window_start_ms, window_end_ms, count, sum, min, max, version, late_readings ` +
        `FROM ${this.database}.agg_${pipeline} FINAL ORDER BY device, metric, window_start_ms`,
    );
    return rows.map((row) => ({
      device: String(row['device']),
      metric: String(row['metric']),
      windowStart: Number(row['window_start_ms']),
      windowEnd: Number(row['window_end_ms']),
      count: Number(row['count']),
      sum: Number(row['sum']),
      min: Number(row['min']),
      max: Number(row['max']),
      version: Number(row['version']),
      lateReadings: Number(row['late_readings']),
    }));
  }

  /** Keys that appear more than once under FINAL: must be none. */
  async duplicateKeys(pipeline: string): Promise<number> {
    const [row] = await this.query<{ n: string }>(
      `SELECT count() AS n FROM (SELECT tenant, device, metric, window_start_ms, count() AS c ` +
        `FROM ${this.database}.agg_${pipeline} FINAL GROUP BY tenant, device, metric, window_start_ms HAVING c > 1)`,
    );
    return Number(row?.n ?? 0);
  }

  async rawReadingsCount(): Promise<number> {
    const [row] = await this.query<{ n: string }>(`SELECT count() AS n FROM (SELECT DISTINCT tenant, device, reading_id FROM ${this.database}.readings_raw FINAL)`);
    return Number(row?.n ?? 0);
  }

  async tearDown(): Promise<void> {
    await Promise.allSettled(this.services.map((service) => service.stop(5000)));
    this.producer?.disconnect();
    await this.clickhouse.command({ query: `DROP DATABASE IF EXISTS ${this.database}` }).catch(() => undefined);
    await this.clickhouse.close();
  }
}

/** Rows without version and late count, comparable with expectedRows(). */
export function comparable(rows: readonly (ExpectedRow & { version: number; lateReadings: number })[]): ExpectedRow[] {
  return rows.map(({ device, metric, windowStart, windowEnd, count, sum, min, max }) => ({ device, metric, windowStart, windowEnd, count, sum, min, max }));
}
