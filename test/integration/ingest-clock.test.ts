import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { AggregatorService } from '../../src/aggregator/service.ts';
import type { Config } from '../../src/config/schema.ts';
import { ensureTopics, pipelineTopics } from '../../src/kafka/admin.ts';
import { IngestClockError, checkIngestClock } from '../../src/kafka/ingest-clock.ts';
import { describeTopicConfig } from '../../src/kafka/topic-configs.ts';
import { parsePrometheusText } from '../../src/status/prom-text.ts';
import { createLogger } from '../../src/util/log.ts';
import type { StatusData } from '../../src/status/model.ts';
import { pace } from '../support/pace.ts';
import { ScratchDatabases } from '../support/scratch-database.ts';
import { bridgeEnv, connectFleet, deleteTopics, eventually, freePort, killAllBridges, startBridge, testConfig, uniqueName, type BridgeProcess } from './edge-harness.ts';

/**
 * One trustworthy clock for ingest time (issue 22): two bridges in one shared subscription, one
 * with its JavaScript clock 30 s behind. The readings go through a real aggregator into ClickHouse:
 * every reading's ingest time is the broker's, the device-clock learner sees no skewed device, and
 * each bridge reports its own offset to the broker's clock (the skewed one warning once).
 */
const SKEW_MS = -30_000;
const DEVICES = 12;
const ROUNDS = 14; // > 10 s of readings: long enough for the device-clock learner to take a device in
const run = uniqueName('ingest-clock').replace(/-/g, '_');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter`, late: `${run}.late` };
const scratch = new ScratchDatabases();
const database = scratch.adopt(`tp_${run}`); // made by the aggregator's migration
const base = testConfig();
const ports = { right: await freePort(), skewed: await freePort() };
const config: Config = testConfig({
  kafka: { readingsTopic: names.readings, deadLetterTopic: names.deadLetter, lateTopic: names.late, partitions: 4 },
  clickhouse: { database },
  aggregator: {
    instances: 1,
    instanceId: run,
    metricsPort: 0,
    flushIntervalMs: 200,
    sessionTimeoutMs: 6000,
    statusBridges: [`http://127.0.0.1:${ports.right}`, `http://127.0.0.1:${ports.skewed}`],
    pipelines: [
      {
        name: 'clock',
        guarantee: 'at-least-once',
        window: { kind: 'tumbling', sizeMs: 2000 },
        watermark: { kind: 'fixed', delayMs: 1000 },
        latePolicy: { kind: 'drop' },
        idleTimeoutMs: 3000,
      },
    ],
  },
});
const logger = createLogger('ingest-clock-test', 'warn');
let service: AggregatorService | undefined;
let clickhouse: ClickHouseConnection | undefined;
const bridges: { right?: BridgeProcess; skewed?: BridgeProcess } = {};

before(async () => {
  await ensureTopics(config.kafka, pipelineTopics(config.kafka));
  clickhouse = await scratch.connect(config.clickhouse);
  service = new AggregatorService(config, logger);
  await service.start();
  const env = (suffix: 'right' | 'skewed', extra: Record<string, string> = {}) =>
    bridgeEnv(base, names, { TP_MQTT__CLIENT_ID_PREFIX: `${run}-${suffix}`, TP_EDGE__TICK_INTERVAL_MS: '200', TP_EDGE__HTTP_PORT: String(ports[suffix]), ...extra });
  bridges.right = await startBridge(env('right'));
  bridges.skewed = await startBridge(env('skewed', { TEST_CLOCK_SKEW_MS: String(SKEW_MS) }), { nodeArgs: ['--import', 'tsx', '--import', './test/support/clock-skew.ts'] });
});

after(async () => {
  await killAllBridges();
  await service?.stop();
  await scratch.dropAll();
  await deleteTopics(config.kafka, [names.readings, names.deadLetter, names.late]);
});

async function metrics(bridge: BridgeProcess): Promise<ReturnType<typeof parsePrometheusText>> {
  return parsePrometheusText(await (await fetch(`${bridge.url}/metrics`)).text());
}

async function gauge(bridge: BridgeProcess, name: string): Promise<number> {
  return (await metrics(bridge)).filter((sample) => sample.name === name).reduce((sum, sample) => sum + sample.value, 0);
}

async function query<T>(sql: string): Promise<T[]> {
  return clickhouse!.query<T>(sql);
}

test('a CreateTime readings topic stops the aggregator with the fix; ensureTopics sets LogAppendTime on it', async () => {
  const topic = `${run}.createtime`;
  await ensureTopics(config.kafka, [{ topic, partitions: 1, replicationFactor: 1 }]);
  try {
    const kafka = { ...config.kafka, readingsTopic: topic };
    await assert.rejects(checkIngestClock(kafka, logger), (error: unknown) => {
      assert.ok(error instanceof IngestClockError);
      assert.equal(error.code, 'INGEST_CLOCK_NOT_BROKER');
      assert.match(error.message, new RegExp(`topic ${topic.replace(/\./g, '\\.')} has message\\.timestamp\\.type=CreateTime`));
      assert.match(error.message, /--add-config message\.timestamp\.type=LogAppendTime/);
      return true;
    });
    await checkIngestClock({ ...kafka, ingestClock: 'bridge' }, logger); // the explicit opt-out starts
    const altered: string[] = [];
    await ensureTopics(config.kafka, pipelineTopics(kafka).slice(0, 1), (name) => altered.push(name));
    assert.deepEqual(altered, [topic], 'the existing topic was altered, not re-created');
    assert.equal((await describeTopicConfig(config.kafka, topic, ['message.timestamp.type'])).get('message.timestamp.type'), 'LogAppendTime');
    await checkIngestClock(kafka, logger);
  } finally {
    await deleteTopics(config.kafka, [topic]);
  }
});

test('one of two bridges 30 s behind: ingest times are the broker\'s, no device looks skewed, each bridge reports its offset', async () => {
  const fleet = await connectFleet(base);
  let sent = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const ts = Date.now();
    for (let device = 0; device < DEVICES; device++) {
      fleet.publish(`${base.mqtt.topicPrefix}/clock/dev-${device}`, JSON.stringify({ seq: round, ts, metrics: { temperature: 20 + device } }), { qos: 1 });
      sent++;
    }
    await pace(1000, 'readings spread over ROUNDS seconds of event time, as a fleet sends them');
  }
  fleet.end();

  const raw = `${database}.readings_raw`;
  await eventually(
    () => query<{ n: string }>(`SELECT uniqExact(device, reading_id) AS n FROM ${raw} WHERE tenant = 'clock'`),
    (rows) => Number(rows[0]?.n ?? 0) >= sent,
    60_000,
  );
  const [span] = await query<{ min_lag: string; max_lag: string; readings: string }>(
    `SELECT min(ingest_time_ms - event_time_ms) AS min_lag, max(ingest_time_ms - event_time_ms) AS max_lag, uniqExact(device, reading_id) AS readings FROM ${raw} WHERE tenant = 'clock'`,
  );
  assert.equal(Number(span!.readings), sent);
  assert.ok(Number(span!.min_lag) >= -1000, `no reading's ingest time is before its event time (least ingest − event: ${span!.min_lag} ms)`);
  assert.ok(Number(span!.max_lag) <= 5000, `no reading's ingest time is far after its event time (largest: ${span!.max_lag} ms)`);

  // Both bridges carried readings: the shared subscription gave the skewed one its share.
  for (const bridge of [bridges.right!, bridges.skewed!]) assert.ok((await gauge(bridge, 'tp_edge_readings_published_total')) > 0, `${bridge.url} published readings`);

  const shifted = (await service!.metrics.registry.getMetricsAsJSON()).find((metric) => metric.name === 'tp_agg_clock_shifted_devices');
  const byState = new Map((shifted?.values ?? []).map((value) => [String(value.labels['state']), value.value]));
  assert.equal(byState.get('behind') ?? 0, 0, 'no device taken for one whose clock runs behind');
  assert.equal(byState.get('ahead') ?? 0, 0, 'no device taken for one whose clock runs ahead');

  const skewedOffset = await gauge(bridges.skewed!, 'tp_edge_clock_offset_seconds');
  const rightOffset = await gauge(bridges.right!, 'tp_edge_clock_offset_seconds');
  assert.ok(Math.abs(skewedOffset - SKEW_MS / 1000) < 1, `the skewed bridge measures about ${SKEW_MS / 1000} s (${skewedOffset})`);
  assert.ok(Math.abs(rightOffset) < 1, `the other bridge measures about 0 s (${rightOffset})`);
  assert.equal(await gauge(bridges.skewed!, 'tp_edge_clock_offset_bound_seconds'), base.edge.clockOffsetWarnMs / 1000);

  const status = (await (await fetch(`http://127.0.0.1:${service!.metricsPort}/status/data`)).json()) as StatusData;
  const shown = new Map(status.topology.bridges.map((bridge) => [bridge.url, bridge.clockOffsetSeconds]));
  assert.ok(Math.abs((shown.get(bridges.skewed!.url) ?? 0) - SKEW_MS / 1000) < 1, `the status page shows the skewed bridge's offset (${shown.get(bridges.skewed!.url)})`);
  assert.ok(Math.abs(shown.get(bridges.right!.url) ?? Number.NaN) < 1, `the status page shows the other bridge's offset (${shown.get(bridges.right!.url)})`);

  const warnings = (bridge: BridgeProcess) => bridge.output().split('\n').filter((line) => line.includes('clock is off the Kafka broker')).length;
  assert.equal(warnings(bridges.skewed!), 1, 'the skewed bridge warned once');
  assert.equal(warnings(bridges.right!), 0, 'the other bridge did not warn');
});
