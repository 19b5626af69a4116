/**
 * `npm run bench:scale [-- --readings N --bridge-messages M --rebalance-seconds S]`: scale-out on the
 * local stack, every figure measured in this one run on this machine.
 *
 * 1. Aggregators: a topic filled with N readings (12 partitions, 10,000 devices, realistic disorder)
 *    is drained into ClickHouse by one aggregator service with 1 worker, then with 2 workers
 *    (`--instances 2`: two processes in one consumer group), then with the default (one worker per
 *    usable core), a fresh group and table each time. Throughput = N ÷ (first reading processed →
 *    group committed the end); cores = CPU of the service's processes together over that span.
 * 2. Bridges: M messages of 10 readings each published through Mosquitto to one bridge, then to two
 *    bridges in one shared subscription. Throughput = readings ÷ (first publish → Kafka acknowledged all).
 * 3. Rebalance pause: a steady stream into Kafka, one aggregator emitting 1 s windows; a second
 *    instance joins, later the first leaves (SIGTERM). The pause is the longest gap between
 *    consecutive emissions (emitted_at_ms in ClickHouse) within 30 s after each change.
 *
 * Ends with one JSON line:
 *   {"bench":"scale","aggregators_1_per_s":…,"aggregators_2_per_s":…,"aggregators_default_per_s":…,"aggregators_default_instances":…,"bridges_1_per_s":…,"bridges_2_per_s":…,"rebalance_pause_ms":…}
 * The rebalance phase runs single-worker services (instances 1), so that a join is one member.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient } from '@clickhouse/client';
import { stringify } from 'yaml';
import { roleCredentials } from '../src/clickhouse/roles.ts';
import { encodeReading } from '../src/core/wire/reading.ts';
import { ensureTopics, deleteTopics, groupProgress } from '../src/kafka/admin.ts';
import { startService, type ServiceProcess } from '../src/stack/services.ts';
import { testConfig, uniqueName } from './support/stack.ts';
import { bridgeEnv, connectFleet, killAllBridges, publishAll, startBridge, type BridgeProcess } from './support/edge-harness.ts';
import { fillReadingsTopic } from './support/fill-topic.ts';
import { ProcessMonitor } from './e2e/process-stats.ts';
import { connectRawProducer } from './support/raw-producer.ts';
import { cgroupCpuLimit, resolveInstances } from '../src/aggregator/instances.ts';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '1000000' },
    'bridge-messages': { type: 'string', default: '100000' },
    'rebalance-seconds': { type: 'string', default: '30' },
  },
});
const READINGS = Number(args.readings);
const BRIDGE_MESSAGES = Number(args['bridge-messages']);
const READINGS_PER_MESSAGE = 10;
const REBALANCE_PHASE_MS = Number(args['rebalance-seconds']) * 1000;
const PARTITIONS = 12;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const config = testConfig();
const run = uniqueName('scale').replace(/-/g, '_');
const database = `tp_${run}`;
const topic = `${run}-readings`;
const clickhouse = createClient({ url: config.clickhouse.url, ...roleCredentials(config.clickhouse, 'admin'), request_timeout: 60_000 });
const services: ServiceProcess[] = [];
const metricsPortBase = 19_000 + (process.pid % 400) * 2;

// ---- aggregators ------------------------------------------------------------------------------

interface Throughput {
  readonly perSecond: number;
  /** CPU cores the measured processes used together over the phase. */
  readonly cores: number;
}

function aggregatorConfig(name: string, pipeline: Record<string, unknown>, readingsTopic = topic, instances = 1): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tp-scale-')), 'pipeline.yaml');
  writeFileSync(file, stringify({
    // The records are written here with their ingest times, not by bridges: the bridge clock it is.
    kafka: { brokers: config.kafka.brokers, security: config.kafka.security, readingsTopic, lateTopic: `${topic}-late`, partitions: PARTITIONS, ingestClock: 'bridge' },
    clickhouse: { url: config.clickhouse.url, database, username: config.clickhouse.username, password: config.clickhouse.password, roles: config.clickhouse.roles },
    aggregator: {
      flushIntervalMs: 500,
      checkpointIntervalMs: 1000,
      sessionTimeoutMs: 6000,
      maxRowsPerInsert: 100_000,
      instances,
      pipelines: [{
        name,
        guarantee: 'exactly-once',
        idleTimeoutMs: 3000,
        consumerGroup: `${run}-${name}`,
        table: `agg_${name}`,
        ...pipeline,
      }],
    },
  }));
  return file;
}

function startAggregators(configFile: string, name: string, count: number, firstIndex = 0): ServiceProcess[] {
  return Array.from({ length: count }, (_, offset) => {
    const index = firstIndex + offset;
    const service = startService(`aggregator-${name}-${index}`, 'src/aggregator/main.ts', {
      TP_CONFIG: configFile,
      TP_AGGREGATOR__INSTANCE_ID: `${run}-${name}-${index}`,
      TP_AGGREGATOR__METRICS_PORT: String(metricsPortBase + index),
      TP_LOG__LEVEL: 'warn',
    });
    services.push(service);
    return service;
  });
}

async function processedBy(count: number, firstIndex = 0): Promise<number> {
  let sum = 0;
  for (let index = firstIndex; index < firstIndex + count; index++) {
    const text = await fetch(`http://127.0.0.1:${metricsPortBase + index}/metrics`).then((response) => response.text(), () => '');
    for (const match of text.matchAll(/^tp_agg_readings_total\{[^}]*\} (\S+)$/gm)) sum += Number(match[1]);
  }
  return sum;
}

/** The service's processes: the parent and, when it supervises workers, each worker (from its /status). */
async function servicePids(service: ServiceProcess, index: number): Promise<number[]> {
  const status = await fetch(`http://127.0.0.1:${metricsPortBase + index}/status`).then((response) => response.json() as Promise<{ workers?: { pid: number | null }[] }>, () => ({ workers: [] }));
  return [service.pid, ...(status.workers ?? []).flatMap((worker) => (worker.pid === null ? [] : [worker.pid]))];
}

/** One aggregator service with `instances` workers drains the topic. */
async function drain(instances: number, label: string): Promise<Throughput> {
  const name = `drain${label}`;
  const started = startAggregators(aggregatorConfig(name, {
    window: { kind: 'tumbling', sizeMs: 5000 },
    watermark: { kind: 'adaptive', quantile: 0.99, marginMs: 500, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 },
    latePolicy: { kind: 'drop' },
  }, topic, instances), name, 1);
  const cpu = new ProcessMonitor();
  const deadline = Date.now() + 20 * 60_000;
  let first = 0;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`${instances} aggregator(s) did not drain ${topic} within 20 minutes`);
    await sleep(250);
    if (first === 0) {
      if ((await processedBy(1)) > 0) {
        first = performance.now();
        for (const pid of await servicePids(started[0]!, 0)) cpu.watch(`aggregator-${pid}`, pid);
      }
      continue;
    }
    const progress = await groupProgress(config.kafka, `${run}-${name}`, topic);
    if (progress.committed >= progress.end) break;
  }
  const seconds = (performance.now() - first) / 1000;
  const cores = cpu.totalCores();
  await Promise.all(started.map((service) => service.stop(10_000)));
  const perSecond = READINGS / seconds;
  say(`aggregator, ${instances} worker(s): ${READINGS.toLocaleString()} readings in ${seconds.toFixed(1)} s = ${Math.round(perSecond).toLocaleString()} readings/s, ${cores.toFixed(2)} cores`);
  return { perSecond, cores };
}

// ---- bridges ----------------------------------------------------------------------------------

async function bridgeThroughput(instances: number): Promise<Throughput> {
  const names = { run: `${run}_b${instances}`, readings: `${run}-b${instances}-readings`, deadLetter: `${run}-b${instances}-dead-letter` };
  await ensureTopics(config.kafka, [
    { topic: names.readings, partitions: PARTITIONS, replicationFactor: config.kafka.replicationFactor },
    { topic: names.deadLetter, partitions: 1, replicationFactor: config.kafka.replicationFactor },
  ]);
  const bridges: BridgeProcess[] = [];
  const fleets = await Promise.all([0, 1].map((index) => connectFleet(config, `${names.run}-fleet-${index}`)));
  try {
    for (let index = 0; index < instances; index++) {
      // One client id per instance: instances of one share group must not take over each other's session.
      bridges.push(await startBridge(bridgeEnv(config, names, { TP_MQTT__CLIENT_ID_PREFIX: `${names.run}-${index}`, TP_LOG__LEVEL: 'warn' })));
    }
    const cpu = new ProcessMonitor();
    const eventTime = Date.now();
    const messagesOf = (tag: string, count: number): { topic: string; payload: string }[] =>
      Array.from({ length: count }, (_, i) => {
        const readings = Array.from({ length: READINGS_PER_MESSAGE }, (_, j) => `{"id":"${tag}${i}-${j}","ts":${eventTime + j},"metrics":{"temperature":${20 + j / 10}}}`);
        return { topic: `${config.mqtt.topicPrefix}/scale/dev-${i % 1000}`, payload: `{"readings":[${readings.join(',')}]}` };
      });
    // Warm-up (JIT, producer connections, partition metadata): measured separately, then discounted.
    const warmup = messagesOf('w', 2000);
    await Promise.all(fleets.map((fleet, index) => publishAll(fleet, warmup.filter((_, i) => i % fleets.length === index), 1000)));
    let warmed = 0;
    while (warmed < warmup.length * READINGS_PER_MESSAGE) {
      await sleep(100);
      warmed = (await Promise.all(bridges.map(publishedByBridge))).reduce((sum, count) => sum + count, 0);
    }
    const messages = messagesOf('m', BRIDGE_MESSAGES);
    const total = BRIDGE_MESSAGES * READINGS_PER_MESSAGE;
    const started = performance.now();
    bridges.forEach((bridge, index) => cpu.watch(`bridge-${index}`, bridge.child.pid!));
    // Two publisher connections, each with half of the messages, so that the publisher is not one core's bottleneck.
    const publishing = Promise.all(fleets.map((fleet, index) => publishAll(fleet, messages.filter((_, i) => i % fleets.length === index), 1000)));
    const deadline = Date.now() + 5 * 60_000;
    let published = 0;
    while (published < total) {
      if (Date.now() > deadline) throw new Error(`${instances} bridge(s) published ${published} of ${total} readings within 5 minutes`);
      await sleep(100);
      published = (await Promise.all(bridges.map(publishedByBridge))).reduce((sum, count) => sum + count, 0) - warmed;
    }
    const seconds = (performance.now() - started) / 1000;
    const cores = cpu.totalCores();
    await publishing;
    const perSecond = total / seconds;
    say(`${instances} bridge(s): ${total.toLocaleString()} readings (${READINGS_PER_MESSAGE} per message) in ${seconds.toFixed(1)} s = ${Math.round(perSecond).toLocaleString()} readings/s, ${cores.toFixed(2)} cores`);
    return { perSecond, cores };
  } finally {
    for (const fleet of fleets) fleet.end(true);
    await Promise.allSettled(bridges.map((bridge) => bridge.stop()));
    await killAllBridges();
    await deleteTopics(config.kafka, [names.readings, names.deadLetter]).catch(() => undefined);
  }
}

async function publishedByBridge(bridge: BridgeProcess): Promise<number> {
  const text = await fetch(`${bridge.url}/metrics`).then((response) => response.text(), () => '');
  return Number(/^tp_edge_readings_published_total\{source="mqtt"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

// ---- rebalance pause --------------------------------------------------------------------------

async function rebalancePause(): Promise<{ joinMs: number; leaveMs: number; steadyMs: number }> {
  const name = 'rebalance';
  const streamTopic = `${run}-live`;
  await ensureTopics(config.kafka, [{ topic: streamTopic, partitions: PARTITIONS, replicationFactor: config.kafka.replicationFactor }]);
  const configFile = aggregatorConfig(name, {
    window: { kind: 'tumbling', sizeMs: 1000 },
    watermark: { kind: 'fixed', delayMs: 1000 },
    latePolicy: { kind: 'drop' },
    idleTimeoutMs: 2000,
  }, streamTopic);
  const producer = await connectRawProducer(config.kafka, { 'enable.idempotence': true, 'linger.ms': 5 });
  producer.setPollInBackground(true);
  let streaming = true;
  let sequence = 0;
  const stream = (async () => {
    while (streaming) {
      const now = Date.now();
      // 2,000 readings/s over 500 devices, in 50 ms slices.
      for (let i = 0; i < 100; i++) {
        const device = `live-${(sequence % 500).toString().padStart(3, '0')}`;
        producer.produce(streamTopic, null, Buffer.from(encodeReading({ tenant: 'scale-live', device, id: `live:${sequence}`, eventTime: now - 50, ingestTime: now, metrics: { temperature: 21 } })), device);
        sequence++;
      }
      await sleep(50);
    }
  })();
  const first = startAggregators(configFile, name, 1, 10);
  await sleep(REBALANCE_PHASE_MS);
  const joinedAt = Date.now();
  say(`rebalance: a second aggregator joins (readings streamed so far ${sequence.toLocaleString()})`);
  startAggregators(configFile, name, 1, 11);
  await sleep(REBALANCE_PHASE_MS);
  const leftAt = Date.now();
  say('rebalance: the first aggregator leaves (SIGTERM)');
  await first[0]!.stop(20_000);
  await sleep(REBALANCE_PHASE_MS);
  streaming = false;
  await stream;
  producer.disconnect();
  const emissions = (await (await clickhouse.query({
    query: `SELECT DISTINCT emitted_at_ms AS at FROM ${database}.agg_${name} WHERE tenant = 'scale-live' ORDER BY at`,
    format: 'JSONEachRow',
  })).json<{ at: string }>()).map((row) => Number(row.at));
  const longestGap = (from: number, to: number): number => {
    let gap = 0;
    let previous = emissions.filter((at) => at < from).pop() ?? from;
    for (const at of emissions) {
      if (at < from || at > to) continue;
      gap = Math.max(gap, at - previous);
      previous = at;
    }
    return gap;
  };
  const steadyFrom = (emissions[0] ?? joinedAt) + 5000;
  return {
    steadyMs: longestGap(steadyFrom, joinedAt),
    joinMs: longestGap(joinedAt, joinedAt + REBALANCE_PHASE_MS),
    leaveMs: longestGap(leftAt, leftAt + REBALANCE_PHASE_MS),
  };
}

// ---- helpers ----------------------------------------------------------------------------------

/** CPU used by a set of processes between start() and cores(), as cores busy on average. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(): Promise<void> {
  say(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
  try {
    await ensureTopics(config.kafka, [
      { topic, partitions: PARTITIONS, replicationFactor: config.kafka.replicationFactor },
      { topic: `${topic}-late`, partitions: PARTITIONS, replicationFactor: config.kafka.replicationFactor },
    ]);
    const fillStarted = performance.now();
    await fillReadingsTopic({ connection: config.kafka, topic, partitions: PARTITIONS, readings: READINGS, devices: 10_000, tenant: 'scale' });
    say(`filled ${topic}: ${READINGS.toLocaleString()} readings in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`);

    const defaultInstances = resolveInstances(0, availableParallelism(), cgroupCpuLimit());
    const aggregators1 = await drain(1, '1');
    const aggregators2 = await drain(2, '2');
    const aggregatorsDefault = await drain(defaultInstances, 'default');
    const bridges1 = await bridgeThroughput(1);
    const bridges2 = await bridgeThroughput(2);
    const pause = await rebalancePause();

    say('');
    say(`aggregators: 1 worker ${Math.round(aggregators1.perSecond).toLocaleString()} readings/s (${aggregators1.cores.toFixed(2)} cores), ` +
      `2 workers ${Math.round(aggregators2.perSecond).toLocaleString()} readings/s (${aggregators2.cores.toFixed(2)} cores together), ` +
      `default (${defaultInstances} workers) ${Math.round(aggregatorsDefault.perSecond).toLocaleString()} readings/s (${aggregatorsDefault.cores.toFixed(2)} cores together)`);
    say(`bridges: 1 instance ${Math.round(bridges1.perSecond).toLocaleString()} readings/s (${bridges1.cores.toFixed(2)} cores), ` +
      `2 instances ${Math.round(bridges2.perSecond).toLocaleString()} readings/s (${bridges2.cores.toFixed(2)} cores together)`);
    say(`rebalance pause: join ${pause.joinMs} ms, leave ${pause.leaveMs} ms (longest gap between emissions; ${pause.steadyMs} ms before any change)`);
    say(JSON.stringify({
      bench: 'scale',
      aggregators_1_per_s: Math.round(aggregators1.perSecond),
      aggregators_2_per_s: Math.round(aggregators2.perSecond),
      aggregators_default_per_s: Math.round(aggregatorsDefault.perSecond),
      aggregators_default_instances: defaultInstances,
      bridges_1_per_s: Math.round(bridges1.perSecond),
      bridges_2_per_s: Math.round(bridges2.perSecond),
      rebalance_pause_ms: Math.max(pause.joinMs, pause.leaveMs),
      rebalance_join_pause_ms: pause.joinMs,
      rebalance_leave_pause_ms: pause.leaveMs,
      steady_emission_gap_ms: pause.steadyMs,
      aggregator_cores_per_100k_per_s: Number(((aggregators1.cores / aggregators1.perSecond) * 100_000).toFixed(3)),
      bridge_cores_per_100k_per_s: Number(((bridges1.cores / bridges1.perSecond) * 100_000).toFixed(3)),
      cores: cpus().length,
    }));
  } finally {
    await Promise.allSettled(services.map((service) => service.stop(10_000)));
    await killAllBridges();
    await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => undefined);
    await deleteTopics(config.kafka, [topic, `${topic}-late`, `${run}-live`]).catch(() => undefined);
    await clickhouse.close();
  }
}

await main();
