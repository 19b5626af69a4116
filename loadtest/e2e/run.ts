import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { Auditor } from '../../src/clickhouse/audit.ts';
import { connectClickHouse, type ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { latencyOverTimeSql, latencyQuantilesSql } from '../../src/clickhouse/latency-sql.ts';
import { ensureTopics, pipelineTopics } from '../../src/kafka/admin.ts';
import { clickhouseProcess } from '../../src/stack/clickhouse.ts';
import { kafkaNodes } from '../../src/stack/kafka.ts';
import { mosquittoProcess } from '../../src/stack/mosquitto.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import { runningPid } from '../../src/stack/processes.ts';
import { eventually, startService, type ServiceProcess } from '../../src/stack/services.ts';
import { configForLocalStack, stackUp } from '../../src/stack/stack.ts';
import { DEFAULT_PATTERNS, STEADY_PATTERNS } from '../fleet/model.ts';
import { runFleet, type FleetResult } from '../fleet/publisher.ts';
import { ProcessMonitor, type ProcessUsage } from './process-stats.ts';
import { startPrometheus } from '../../deploy/prometheus/local.ts';

/**
 * One end-to-end run on the local stack: a fresh topic and database, the bridge and the aggregator
 * as real processes, a simulated fleet over MQTT for the duration, then the audit and the latency
 * measured in ClickHouse. Shared by `npm run loadtest` and the demo.
 */
export interface EndToEndOptions {
  readonly ratePerSecond: number;
  readonly durationS: number;
  readonly devices: number;
  readonly connections: number;
  readonly batchSize: number;
  readonly patterns: 'realistic' | 'steady';
  readonly windowSizeMs: number;
  readonly slaP95Ms: number;
  readonly minCompleteness: number;
  readonly aggregators: number;
  /** Start the local Prometheus scraping this run's processes. */
  readonly prometheus?: boolean;
  /** The pipeline's delivery guarantee (default exactly-once). */
  readonly guarantee?: 'at-most-once' | 'at-least-once' | 'exactly-once';
  readonly log: (line: string) => void;
}

export interface EndToEndResult {
  readonly runId: string;
  readonly database: string;
  readonly table: string;
  readonly fleet: Omit<FleetResult, 'ackedIds'>;
  readonly readingsPerS: number;
  readonly latency: { p50: number; p95: number; p99: number; max: number; readings: number };
  readonly latencyOverTime: { bucketMs: number; p50: number; p95: number; p99: number; readings: number }[];
  readonly acceptedValues: number;
  readonly countedValues: number;
  readonly completeness: number;
  readonly lateDropped: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly processes: ProcessUsage[];
  readonly slaMet: boolean;
  readonly configFile: string;
}

export async function runEndToEnd(options: EndToEndOptions): Promise<EndToEndResult> {
  const log = options.log;
  const base = loadConfig();
  log('starting the local stack (Kafka, ClickHouse, Mosquitto)');
  await stackUp(base, (line) => log(`  ${line}`));
  const local = configForLocalStack(base);

  const runId = `${new Date().toISOString().replace(/[-:T.Z]/g, '').slice(0, 14)}_${process.pid}`;
  const runDir = join(REPO_ROOT, '.data', 'runs', runId);
  mkdirSync(runDir, { recursive: true });
  const httpPort = 18080 + (process.pid % 1000);
  const metricsPort = 19464 + (process.pid % 500);
  // A tenant of its own, so that the audit counts this run's readings and nothing else on the broker.
  const tenant = `load${runId}`;
  const config = parseConfig(runConfig(local, runId, options, httpPort, metricsPort));
  const configFile = join(runDir, 'pipeline.yaml');
  writeFileSync(configFile, stringify(config));
  await ensureTopics(config.kafka.brokers, pipelineTopics(config.kafka));
  log(`run ${runId}: topic ${config.kafka.readingsTopic}, database ${config.clickhouse.database}, config ${configFile}`);

  const services: ServiceProcess[] = [];
  const monitor = new ProcessMonitor();
  const connection = await connectClickHouse(config.clickhouse);
  try {
    for (let index = 0; index < options.aggregators; index++) {
      const aggregator = startService(`aggregator-${index}`, 'src/aggregator/main.ts', {
        TP_CONFIG: configFile,
        TP_AGGREGATOR__INSTANCE_ID: `${runId}-${index}`,
        TP_AGGREGATOR__METRICS_PORT: String(metricsPort + index),
        LOG_LEVEL: 'warn',
      });
      services.push(aggregator);
    }
    const bridge = startService('bridge', 'edge/main.ts', { TP_CONFIG: configFile, LOG_LEVEL: 'warn' });
    services.push(bridge);
    await eventually('bridge ready', async () => ((await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => null))?.ok ? true : undefined), 60_000);
    for (let index = 0; index < options.aggregators; index++) {
      await eventually('aggregator ready', async () => ((await fetch(`http://127.0.0.1:${metricsPort + index}/readyz`).catch(() => null))?.ok ? true : undefined), 60_000);
    }
    log(`live status page: http://127.0.0.1:${metricsPort}/status/  (metrics: http://127.0.0.1:${metricsPort}/metrics, bridge: http://127.0.0.1:${httpPort}/metrics)`);
    if (options.prometheus) {
      const prometheus = await startPrometheus(config.stack, {
        bridges: [`127.0.0.1:${httpPort}`],
        aggregators: Array.from({ length: options.aggregators }, (_, index) => `127.0.0.1:${metricsPort + index}`),
      });
      log(`Prometheus: ${prometheus.url} (scraping the bridge and the aggregator; alert rules from deploy/prometheus/rules.yml)`);
    }
    services.forEach((service, index) => monitor.watch(index === services.length - 1 ? 'bridge' : `aggregator-${index}`, service.pid));
    for (const node of kafkaNodes(config.stack)) {
      const pid = runningPid(node.process);
      if (pid) monitor.watch(`kafka-${node.id}`, pid);
    }
    const clickhousePid = runningPid(clickhouseProcess(config.stack));
    if (clickhousePid) monitor.watch('clickhouse', clickhousePid);
    const mosquittoPid = runningPid(mosquittoProcess(config.stack));
    if (mosquittoPid) monitor.watch('mosquitto', mosquittoPid);

    log(`fleet: ${options.devices} devices on ${options.connections} connections, ${options.ratePerSecond} readings/s for ${options.durationS} s, ${options.batchSize} per message, ${options.patterns} arrival patterns`);
    const fleet = await runFleet(
      {
        tenant,
        devices: options.devices,
        gateways: options.connections,
        ratePerSecond: options.ratePerSecond,
        batchSize: options.batchSize,
        patterns: options.patterns === 'realistic' ? DEFAULT_PATTERNS : STEADY_PATTERNS,
        seed: 42,
      },
      { url: config.mqtt.url, username: 'fleet', password: 'fleet-secret', connections: options.connections, durationMs: options.durationS * 1000, clientIdPrefix: `fleet-${runId}`, log },
    );
    const processes = monitor.usage();
    log(`fleet done: ${fleet.acked} readings acknowledged by the bridge (${fleet.failed} failed) in ${fleet.seconds.toFixed(1)} s; waiting for the last windows to close`);

    const auditor = new Auditor(connection, config.clickhouse.database);
    const table = config.aggregator.pipelines[0]!.table;
    // Windows close once the watermark passes them: idle partitions advance on the bridge's ticks.
    let lastCounted = -1;
    let stableSince = Date.now();
    const balance = await eventually('aggregates settled', async () => {
      const current = await auditor.readingsBalance(table, { tenant });
      if (current.countedValues !== lastCounted) {
        lastCounted = current.countedValues;
        stableSince = Date.now();
      }
      const complete = current.acceptedValues >= fleet.acked && current.countedValues >= current.acceptedValues;
      return complete || (current.acceptedValues >= fleet.acked && Date.now() - stableSince > 15_000) ? current : undefined;
    }, 180_000, 1000);

    const expected = [...fleet.ackedIds].flatMap(([device, ids]) => ids.map((readingId) => ({ tenant, device, readingId })));
    const missing = await auditor.missingReadings(expected, 5);
    const duplicateKeys = await auditor.duplicateAggregateKeys(table, { tenant }, 5);
    const miscounted = await auditor.miscountedSeries(table, { tenant }, 1, 1000);
    const overcounted = miscounted.sample.reduce((sum, series) => sum + Math.max(0, series.countedValues - series.acceptedValues), 0);
    const latency = await latencyOf(connection, config, table, options.windowSizeMs, tenant);
    const overTime = await latencyTimeline(connection, config, table, options.windowSizeMs, tenant);

    const completeness = balance.acceptedValues === 0 ? 0 : balance.countedValues / balance.acceptedValues;
    const slaMet = latency.p95 <= options.slaP95Ms && completeness >= options.minCompleteness && missing.total === 0;
    const { ackedIds: _ids, ...fleetSummary } = fleet;
    return {
      runId,
      database: config.clickhouse.database,
      table,
      fleet: fleetSummary,
      readingsPerS: fleet.acked / fleet.seconds,
      latency,
      latencyOverTime: overTime,
      acceptedValues: balance.acceptedValues,
      countedValues: balance.countedValues,
      completeness,
      lateDropped: Math.max(0, balance.acceptedValues - balance.countedValues),
      lost: missing.total,
      duplicated: duplicateKeys.total + overcounted,
      processes,
      slaMet,
      configFile,
    };
  } finally {
    await Promise.allSettled(services.map((service) => service.stop(20_000)));
    await connection.close();
  }
}

function runConfig(local: Config, runId: string, options: EndToEndOptions, httpPort: number, metricsPort: number): Record<string, unknown> {
  return {
    kafka: { ...local.kafka, readingsTopic: `load-${runId}`, deadLetterTopic: `load-${runId}-dead-letter`, lateTopic: `load-${runId}-late` },
    // A run's bridge session must not outlive the run: the broker would queue every later reading for it.
    mqtt: { ...local.mqtt, shareGroup: `load${runId}`, clientIdPrefix: `bridge-${runId}`, sessionExpirySeconds: 60 },
    edge: { ...local.edge, httpPort },
    clickhouse: { ...local.clickhouse, database: `load_${runId}` },
    aggregator: {
      ...local.aggregator,
      metricsPort,
      statusBridges: [`http://127.0.0.1:${httpPort}`],
      slaP95Ms: options.slaP95Ms,
      pipelines: [
        {
          name: 'load',
          guarantee: options.guarantee ?? 'exactly-once',
          window: { kind: 'tumbling', sizeMs: options.windowSizeMs },
          // Late readings are absorbed and their windows re-emitted at once (reemit), so the delay
          // needs to cover ordinary network jitter only, not a gateway's backlog: that keeps P95 low.
          watermark: { kind: 'adaptive', quantile: 0.95, marginMs: 300, floorMs: 200, ceilingMs: 3000, horizonMs: 60_000 },
          // 30 s for everyone: at 20k readings/s a 180 s allowed lateness kept six times the windows,
          // and checkpointing them made the aggregator fall behind. The fleet's devices whose clocks
          // run 2 min behind get their own later deadlines instead (maxDeviceClockOffsetMs).
          latePolicy: { kind: 'reemit', allowedLatenessMs: 30_000 },
          maxDeviceClockOffsetMs: 300_000,
          idleTimeoutMs: 3000,
          consumerGroup: `load-${runId}`,
          table: 'agg_load',
        },
      ],
    },
    stack: local.stack,
  };
}

async function latencyOf(connection: ClickHouseConnection, config: Config, table: string, windowSizeMs: number, tenant: string): Promise<EndToEndResult['latency']> {
  const [row] = await connection.query<Record<string, string | number>>(latencyQuantilesSql(config.clickhouse.database, table, windowSizeMs, tenant));
  return { p50: Number(row?.['p50'] ?? 0), p95: Number(row?.['p95'] ?? 0), p99: Number(row?.['p99'] ?? 0), max: Number(row?.['max'] ?? 0), readings: Number(row?.['readings'] ?? 0) };
}

async function latencyTimeline(connection: ClickHouseConnection, config: Config, table: string, windowSizeMs: number, tenant: string): Promise<EndToEndResult['latencyOverTime']> {
  const rows = await connection.query<Record<string, string | number>>(latencyOverTimeSql(config.clickhouse.database, table, windowSizeMs, 5000, tenant));
  return rows.map((row) => ({ bucketMs: Number(row['bucket_ms']), p50: Number(row['p50']), p95: Number(row['p95']), p99: Number(row['p99']), readings: Number(row['readings']) }));
}
