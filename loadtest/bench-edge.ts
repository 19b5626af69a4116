/**
 * Edge bridge throughput (npm run bench:edge): devices → Mosquitto → bridge (child process) →
 * Kafka, against a baseline measured in the same run: the same publisher, through the same
 * Mosquitto, to a bare mqtt.js subscriber that does nothing but acknowledge (QoS 1, child process).
 *
 * Phases: baseline (1 reading per message), baseline (batches of 50), bridge (1 per message),
 * bridge (batches of 50), baseline again (1 per message); each with a warm-up. Then every id is read back from Kafka (lost), through
 * decodeRecord (single-reading and batch records: a message of 50 readings is one Kafka record).
 * Ends with one JSON line:
 *   {"bench":"edge","readings_per_s":…,"baseline_per_s":…,"ratio":…,"bridge_cpu_us":…,"baseline_cpu_us":…,
 *    "batched_readings_per_s":…,
 *    "ack_p50_ms":…,"ack_p99_ms":…,"lost":…,"rss_mb":…}
 * ratio = readings_per_s / baseline_per_s (one reading per message; baseline_per_s is the mean of
 * the runs before and after the bridge); *_cpu_us = CPU time per reading of
 * the bridge and of the bare subscriber in that phase (µs, all threads). ack_* come from the bridge's
 * receipt → delivery-report histogram over the single-reading phase.
 *
 * Environment: BENCH_MESSAGES (single-reading messages, default 150000), BENCH_BATCHES (messages of
 * 50 readings, default 16000), BENCH_PROFILE=1 (the bridge writes a --cpu-prof profile to .data/),
 * BENCH_THREADS=1 (CPU per reading by thread of the receiver, and of the Kafka broker and Mosquitto),
 * BENCH_FLOOR=on-receipt|after-kafka (adds a phase with the floor subscriber, see runFloorSubscriber),
 * BENCH_BRIDGE_NODE_ARGS (V8 flags for the bridge process, to try).
 */
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, totalmem, loadavg } from 'node:os';
import KafkaLib from '@confluentinc/kafka-javascript';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeRecord } from '../src/core/readings.ts';
import {
  ROOT,
  bridgeEnv,
  connectFleet,
  createTopics,
  deleteTopics,
  killAllBridges,
  readTopic,
  startBridge,
  testConfig,
  uniqueName,
  type BridgeProcess,
} from '../test/integration/edge-harness.ts';
import { hookPubacks } from '../edge/mqtt-puback-hook.ts';
import { cpuSecondsOfStat, sampleProcess } from './e2e/process-stats.ts';

const SINGLE_MESSAGES = Number(process.env['BENCH_MESSAGES'] ?? 150_000);
const BATCH_MESSAGES = Number(process.env['BENCH_BATCHES'] ?? 16_000);
const BATCH_SIZE = 50;
const WARMUP_MESSAGES = 10_000;
const DEVICES = 1000;
const PUBLISH_WINDOW = 1000;
const PHASE_TIMEOUT_MS = 60_000;
const POLL_MS = 100;
/** Diagnostics (BENCH_THREADS=1): CPU by thread of the receiver, and of the co-located servers. */
const THREADS = process.env['BENCH_THREADS'] === '1';
/** Diagnostics: BENCH_FLOOR=on-receipt|after-kafka adds a phase with the floor subscriber (see runFloorSubscriber). */
const FLOOR = process.env['BENCH_FLOOR'] === 'on-receipt' || process.env['BENCH_FLOOR'] === 'after-kafka' ? process.env['BENCH_FLOOR'] : undefined;
const SERVERS: ReadonlyArray<readonly [label: string, pattern: RegExp]> = [
  ['kafka', /kafka\.Kafka/],
  ['mosquitto', /mosquitto/],
];

const config = testConfig();
/**
 * The run's own topic prefix (under the configured one, which the broker's ACL grants): the bridge
 * and the baseline subscriber then see only this run's messages, not those of whoever else
 * publishes to the same broker at the time (which would count as throughput and as ids).
 */
let prefix = config.mqtt.topicPrefix;

if (process.argv[2] === '--baseline-subscriber') {
  prefix = process.argv[5]!;
  await runBaselineSubscriber(process.argv[3]!, Number(process.argv[4]));
} else if (process.argv[2] === '--floor-subscriber') {
  prefix = process.argv[5]!;
  await runFloorSubscriber(process.argv[3]!, process.argv[6]!, process.argv[7] === 'after-kafka');
} else {
  await main();
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const run = uniqueName('bench-edge');
  const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter`, floor: `${run}.floor` };
  prefix = `${config.mqtt.topicPrefix}/${run}`;
  printMachine();
  await createTopics(config.kafka.brokers, [
    { topic: names.readings, partitions: config.kafka.partitions },
    { topic: names.deadLetter, partitions: 1 },
    ...(FLOOR === undefined ? [] : [{ topic: names.floor, partitions: config.kafka.partitions }]),
  ]);
  const fleet = await connectFleet(config, `${run}-publisher`);
  try {
    const baselineSingle = await measureBaseline(fleet, `${run}-base1`, single(`${run}-b1`, SINGLE_MESSAGES), 1);
    const baselineBatched = await measureBaseline(fleet, `${run}-base50`, batched(`${run}-b50`, BATCH_MESSAGES), BATCH_SIZE);
    report('baseline, 1 reading/message', baselineSingle);
    report(`baseline, ${BATCH_SIZE} readings/message`, baselineBatched);

    const bridge = await startBridge(bridgeEnv(config, names, { TP_MQTT__TOPIC_PREFIX: prefix }), {
      nodeArgs: [
        ...(process.env['BENCH_PROFILE'] === '1' ? ['--cpu-prof', `--cpu-prof-dir=${ROOT}.data/profiles`] : []),
        // Diagnostics: V8 flags to try on the bridge (space-separated), e.g. --max-semi-space-size=64.
        ...(process.env['BENCH_BRIDGE_NODE_ARGS'] ?? '').split(' ').filter((flag) => flag !== ''),
      ],
    });
    let bridgeSingle: Phase;
    let bridgeBatched: Phase;
    let latency: { p50: number; p99: number };
    let rssMb: number;
    try {
      await publishAndWait(fleet, single(`${run}-warm`, WARMUP_MESSAGES), () => publishedBy(bridge), WARMUP_MESSAGES);
      const before = await scrape(bridge);
      const threadsBefore = cpuBreakdown(bridge.child.pid!);
      bridgeSingle = await measure(fleet, single(`${run}-s`, SINGLE_MESSAGES), 1, async () => (await publishedBy(bridge)) - before.published);
      const after = await scrape(bridge);
      const bridgeMachineMicros = reportCpuBreakdown('bridge, 1 reading/message', threadsBefore, cpuBreakdown(bridge.child.pid!), bridgeSingle.readings);
      latency = histogramQuantiles(before.ack, after.ack);
      bridgeSingle = { ...bridgeSingle, cpuMicros: cpuMicrosPerReading(before, after), machineMicros: bridgeMachineMicros };
      report('bridge, 1 reading/message', bridgeSingle, cpuNote(bridgeSingle.cpuMicros));
      const middle = await scrape(bridge);
      bridgeBatched = await measure(fleet, batched(`${run}-m`, BATCH_MESSAGES), BATCH_SIZE, async () => (await publishedBy(bridge)) - middle.published);
      report(`bridge, ${BATCH_SIZE} readings/message`, bridgeBatched, cpuNote(cpuMicrosPerReading(middle, await scrape(bridge))));
      rssMb = sampleProcess(bridge.child.pid!)?.peakRssMb ?? 0;
    } finally {
      await bridge.stop();
    }

    const floor =
      FLOOR === undefined
        ? undefined
        : await measureBaseline(fleet, `${run}-floor`, single(`${run}-f`, SINGLE_MESSAGES), 1, ['--floor-subscriber', names.floor, FLOOR]);
    if (floor) report(`floor (${FLOOR}), 1 reading/message`, floor);

    // The bare subscriber again, after the bridge: its rate moves from run to run (24k–41k/s seen),
    // so the ratio uses the mean of the two, as bench:aggregator does.
    const baselineSingleAfter = await measureBaseline(fleet, `${run}-base1-after`, single(`${run}-b1a`, SINGLE_MESSAGES), 1);
    report('baseline again, 1 reading/message', baselineSingleAfter);
    const baselinePerSecond = (baselineSingle.perSecond + baselineSingleAfter.perSecond) / 2;
    const expected = WARMUP_MESSAGES + SINGLE_MESSAGES + BATCH_MESSAGES * BATCH_SIZE;
    const { lost, records } = await countLost(names.readings, expected);
    const ratio = bridgeSingle.perSecond / baselinePerSecond;
    console.log(`ack latency (receipt → Kafka ack): p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms`);
    console.log(`bridge peak RSS ${rssMb.toFixed(0)} MB; readings lost: ${lost} of ${expected}, carried by ${records} Kafka records`);
    console.log(`targets: ratio ≥ 0.8 (${ratio.toFixed(2)}), lost = 0 (${lost}), batched ≥ 200000/s (${Math.round(bridgeBatched.perSecond)})`);
    console.log(
      JSON.stringify({
        bench: 'edge',
        readings_per_s: Math.round(bridgeSingle.perSecond),
        baseline_per_s: Math.round(baselinePerSecond),
        baseline_before_per_s: Math.round(baselineSingle.perSecond),
        baseline_after_per_s: Math.round(baselineSingleAfter.perSecond),
        ratio: Number(ratio.toFixed(3)),
        bridge_cpu_us: round1(bridgeSingle.cpuMicros),
        baseline_cpu_us: round1(baselineSingle.cpuMicros),
        batched_readings_per_s: Math.round(bridgeBatched.perSecond),
        ack_p50_ms: Number(latency.p50.toFixed(1)),
        ack_p99_ms: Number(latency.p99.toFixed(1)),
        lost,
        rss_mb: Math.round(rssMb),
        // Diagnostics (BENCH_THREADS=1): the machine's CPU per reading in each phase (receiver, publisher,
        // Mosquitto, Kafka), and the ratio the phases would have if the two cores were the only limit.
        ...(bridgeSingle.machineMicros === undefined || baselineSingle.machineMicros === undefined || baselineSingleAfter.machineMicros === undefined
          ? {}
          : {
              machine_cpu_us_baseline: round1((baselineSingle.machineMicros + baselineSingleAfter.machineMicros) / 2),
              machine_cpu_us_bridge: round1(bridgeSingle.machineMicros),
              cpu_ratio: Number(((baselineSingle.machineMicros + baselineSingleAfter.machineMicros) / 2 / bridgeSingle.machineMicros).toFixed(3)),
              ...(floor?.machineMicros === undefined ? {} : { machine_cpu_us_floor: round1(floor.machineMicros) }),
            }),
        ...(floor === undefined
          ? {}
          : { floor: FLOOR, floor_per_s: Math.round(floor.perSecond), floor_ratio: Number((floor.perSecond / baselinePerSecond).toFixed(3)), floor_cpu_us: round1(floor.cpuMicros) }),
      }),
    );
  } finally {
    fleet.end(true);
    await killAllBridges();
    await deleteTopics(config.kafka.brokers, [names.readings, names.deadLetter, ...(FLOOR === undefined ? [] : [names.floor])]);
  }
}

interface Phase {
  readonly cpuNote?: string;
  /** CPU time of the receiving process (bridge or bare subscriber) per reading, in µs. */
  readonly cpuMicros?: number;
  /** BENCH_THREADS=1: CPU per reading of the receiver, the publisher, Mosquitto and Kafka together (µs). */
  readonly machineMicros?: number;
  readonly readings: number;
  readonly seconds: number;
  readonly perSecond: number;
  readonly delivered: number;
}

type Messages = ReadonlyArray<{ topic: string; payload: string }>;

function single(tag: string, count: number): Messages {
  const ts = Date.now();
  return Array.from({ length: count }, (_, i) => ({
    topic: `${prefix}/bench/dev-${i % DEVICES}`,
    payload: `{"id":"${tag}-${i}","ts":${ts},"metrics":{"temperature":${(20 + (i % 100) / 10).toFixed(1)},"humidity":40}}`,
  }));
}

function batched(tag: string, count: number): Messages {
  const ts = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const readings = Array.from({ length: BATCH_SIZE }, (_, j) => `{"id":"${tag}-${i}-${j}","ts":${ts + j},"metrics":{"temperature":${20 + j / 10},"humidity":40}}`);
    return { topic: `${prefix}/bench/dev-${i % DEVICES}`, payload: `{"readings":[${readings.join(',')}]}` };
  });
}

/** Publishes at QoS 1 with a window of unacknowledged publishes; resolves when the broker acked all. */
function publish(client: MqttClient, messages: Messages): Promise<void> {
  return new Promise((resolve, reject) => {
    let next = 0;
    let done = 0;
    const one = (): void => {
      const message = messages[next++]!;
      client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
        if (error) return reject(error);
        if (++done === messages.length) return resolve();
        if (next < messages.length) one();
      });
    };
    for (let i = 0; i < Math.min(PUBLISH_WINDOW, messages.length); i++) one();
  });
}

/**
 * Time from the first publish until `delivered()` reports every reading. Polled every 100 ms: a
 * /metrics scrape costs the bridge a few ms of CPU (process metrics read /proc), so polling faster
 * would measure the poller; 100 ms is about 1 % of a phase.
 */
async function measure(client: MqttClient, messages: Messages, perMessage: number, delivered: () => Promise<number>): Promise<Phase> {
  const readings = messages.length * perMessage;
  const started = performance.now();
  const publishing = publish(client, messages);
  let count = 0;
  let finished = started;
  while (performance.now() - started < PHASE_TIMEOUT_MS) {
    count = await delivered();
    finished = performance.now();
    if (count >= readings) break;
    await sleep(POLL_MS);
  }
  await publishing;
  const seconds = (finished - started) / 1000;
  return { readings, seconds, perSecond: Math.min(count, readings) / seconds, delivered: count };
}

async function publishAndWait(client: MqttClient, messages: Messages, delivered: () => Promise<number>, target: number): Promise<void> {
  await publish(client, messages);
  const deadline = Date.now() + PHASE_TIMEOUT_MS;
  while ((await delivered()) < target && Date.now() < deadline) await sleep(50);
}

// ---- baseline: a bare subscriber in its own process ------------------------------------------

async function measureBaseline(fleet: MqttClient, group: string, messages: Messages, perMessage: number, floor?: readonly string[]): Promise<Phase> {
  const mode = floor === undefined ? ['--baseline-subscriber'] : ['--floor-subscriber'];
  const profile = floor !== undefined && process.env['BENCH_PROFILE'] === '1' ? ['--cpu-prof', `--cpu-prof-dir=${ROOT}.data/profiles/floor`] : [];
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'loadtest/bench-edge.ts', ...mode, group, String(messages.length), prefix, ...(floor ?? []).slice(1)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let received = 0;
  let ready = false;
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line.startsWith('received ')) received = Number(line.slice(9));
    }
  });
  try {
    const deadline = Date.now() + 20_000;
    while (!ready && Date.now() < deadline) await sleep(20);
    if (!ready) throw new Error('baseline subscriber did not subscribe');
    const warmup = messages.slice(0, Math.min(WARMUP_MESSAGES, messages.length));
    await publishAndWait(fleet, warmup, async () => received, warmup.length);
    const offset = received;
    const cpuBefore = processCpuSeconds(child.pid!);
    const threadsBefore = cpuBreakdown(child.pid!);
    const phase = await measure(fleet, messages, perMessage, async () => (received - offset) * perMessage);
    const machineMicros = reportCpuBreakdown(`${floor === undefined ? 'subscriber' : 'floor'} (${group.slice(group.lastIndexOf('-') + 1)})`, threadsBefore, cpuBreakdown(child.pid!), phase.readings);
    const cpuMicros = (1e6 * (processCpuSeconds(child.pid!) - cpuBefore)) / phase.readings;
    return { ...phase, cpuMicros, machineMicros, cpuNote: `, subscriber CPU ${cpuMicros.toFixed(1)} µs/reading` };
  } finally {
    if (profile.length === 0) child.kill('SIGKILL');
    else {
      // A profile is written only on a normal exit.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

/** MQTT 5, the bridge's receive maximum; the broker's session is not kept (each phase has its own group). */
function subscriberOptions(group: string): mqtt.IClientOptions {
  return {
    protocolVersion: 5,
    clientId: group,
    username: config.mqtt.username,
    password: config.mqtt.password,
    clean: true,
    properties: { receiveMaximum: config.mqtt.receiveMaximum },
  };
}

/** The bare subscriber: QoS 1, the same session settings as the bridge, counts and acknowledges. */
async function runBaselineSubscriber(group: string, expected: number): Promise<void> {
  const client = mqtt.connect(config.mqtt.url, subscriberOptions(group));
  let received = 0;
  client.on('message', () => {
    received++;
  });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await client.subscribeAsync(`$share/${group}/${prefix}/+/+`, { qos: 1 });
  process.stdout.write('ready\n');
  setInterval(() => process.stdout.write(`received ${received}\n`), 10);
  void expected;
}

/**
 * The floor (BENCH_FLOOR=on-receipt|after-kafka): the least any bridge does — mqtt.js receives,
 * librdkafka's raw produce() takes the payload as it is (key = the topic's device; the bridge's
 * producer settings), no validation, no re-encoding, no metrics. `on-receipt`: mqtt.js sends the
 * PUBACK at once; `after-kafka`: the PUBACK waits for the delivery report (the bridge's PUBACK
 * hook, receipt order). It counts delivery reports, so its rate compares with the bridge's.
 */
async function runFloorSubscriber(group: string, topic: string, afterKafka: boolean): Promise<void> {
  const producer = new KafkaLib.Producer({
    'metadata.broker.list': config.kafka.brokers.join(','),
    dr_cb: true,
    'enable.idempotence': config.edge.producer.idempotence,
    acks: config.edge.producer.acks,
    'compression.type': config.edge.producer.compression,
    'linger.ms': config.edge.producer.lingerMs,
    'batch.size': 1_000_000,
    'batch.num.messages': 10_000,
    'queue.buffering.max.messages': 500_000,
    partitioner: 'murmur2_random',
  } as KafkaLib.ProducerGlobalConfig);
  await new Promise<void>((resolve, reject) => producer.connect({}, (error) => (error ? reject(error) : resolve())));
  producer.setPollInBackground(true);
  const client = mqtt.connect(config.mqtt.url, { ...subscriberOptions(group), log: () => undefined });
  let delivered = 0;
  // after-kafka: PUBACKs kept in receipt order, each released once its report and all before it are in.
  let pubacks: unknown[] = [];
  let settled: boolean[] = [];
  let base = 0; // sequence number of index 0
  let next = 0; // index of the next PUBACK to release
  let sent = 0;
  const hook = afterKafka ? hookPubacks(client, (puback) => (pubacks[sent - 1 - base] = puback)) : undefined;
  producer.on('delivery-report', (error, report) => {
    if (error) throw error;
    delivered++;
    if (hook === undefined) return;
    settled[(report.opaque as number) - base] = true;
    while (next < settled.length && settled[next] === true && pubacks[next] !== undefined) hook.send(pubacks[next++]);
    if (next > 4096) {
      pubacks = pubacks.slice(next);
      settled = settled.slice(next);
      base += next;
      next = 0;
    }
  });
  client.on('message', (topicName, payload) => {
    const device = topicName.slice(topicName.lastIndexOf('/') + 1);
    sent++;
    producer.produce(topic, null, payload, device, null, afterKafka ? sent - 1 : undefined);
  });
  process.once('SIGTERM', () => process.exit(0));
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await client.subscribeAsync(`$share/${group}/${prefix}/+/+`, { qos: 1 });
  process.stdout.write('ready\n');
  setInterval(() => process.stdout.write(`received ${delivered}\n`), 10);
}

// ---- reading the bridge's metrics -------------------------------------------------------------

interface Scrape {
  readonly published: number;
  readonly cpuSeconds: number;
  readonly ack: Map<number, number>;
}

async function scrape(bridge: BridgeProcess): Promise<Scrape> {
  const text = await fetch(`${bridge.url}/metrics`).then((response) => response.text());
  const published = Number(/^tp_edge_readings_published_total\{source="mqtt"\} (\S+)$/m.exec(text)?.[1] ?? 0);
  const cpuSeconds = Number(/^tp_edge_process_cpu_seconds_total (\S+)$/m.exec(text)?.[1] ?? 0);
  const ack = new Map<number, number>();
  for (const match of text.matchAll(/^tp_edge_ack_latency_seconds_bucket\{le="([^"]+)",source="mqtt"\} (\S+)$/gm)) {
    ack.set(match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), Number(match[2]));
  }
  return { published, cpuSeconds, ack };
}

/**
 * Only the one counter: polled ten times a second, a full scrape (process metrics read /proc, the
 * event-loop histogram) would charge the bridge a few per cent of its CPU for the measurement.
 */
async function publishedBy(bridge: BridgeProcess): Promise<number> {
  const text = await fetch(`${bridge.url}/metrics?name=tp_edge_readings_published_total`).then((response) => response.text());
  return Number(/^tp_edge_readings_published_total\{source="mqtt"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

/** Quantiles of the difference of two cumulative histograms, interpolated inside a bucket (ms). */
function histogramQuantiles(before: Map<number, number>, after: Map<number, number>): { p50: number; p99: number } {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((bound) => (after.get(bound) ?? 0) - (before.get(bound) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  const quantile = (q: number): number => {
    const rank = q * total;
    let lower = 0;
    let lowerCount = 0;
    for (let i = 0; i < bounds.length; i++) {
      if (counts[i]! >= rank) {
        const upper = Number.isFinite(bounds[i]!) ? bounds[i]! : lower;
        const inBucket = counts[i]! - lowerCount;
        return 1000 * (inBucket > 0 ? lower + ((upper - lower) * (rank - lowerCount)) / inBucket : upper);
      }
      lower = bounds[i]!;
      lowerCount = counts[i]!;
    }
    return Number.NaN;
  };
  return { p50: quantile(0.5), p99: quantile(0.99) };
}

/** utime + stime of a process (0 once it is gone). */
function processCpuSeconds(pid: number): number {
  return sampleProcess(pid)?.cpuSeconds ?? 0;
}

/**
 * Diagnostics (BENCH_THREADS=1): CPU seconds by thread name of the receiving process, and of the
 * co-located Kafka broker and Mosquitto (found by name in /proc) and of this process (the publisher
 * and poller), to see where a phase's CPU went.
 */
function cpuBreakdown(pid: number): Map<string, number> {
  const seconds = new Map<string, number>();
  if (!THREADS) return seconds;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Node names all of its threads "node": the main thread is told apart by its id.
      const name = tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/\d+$/, '#');
      seconds.set(name, (seconds.get(name) ?? 0) + cpuSecondsOfStat(stat));
    } catch {
      // the thread ended meanwhile
    }
  }
  const own = process.cpuUsage();
  seconds.set('[publisher]', (own.user + own.system) / 1e6);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const server = SERVERS.find(([, pattern]) => pattern.test(cmdline));
    if (server) seconds.set(`[${server[0]}]`, (seconds.get(`[${server[0]}]`) ?? 0) + processCpuSeconds(Number(entry)));
  }
  return seconds;
}

/** Prints the breakdown; returns the CPU per reading of all of it together (µs), undefined without BENCH_THREADS. */
function reportCpuBreakdown(name: string, before: Map<string, number>, after: Map<string, number>, readings: number): number | undefined {
  if (!THREADS) return undefined;
  const parts = [...after]
    .map(([thread, seconds]) => [thread, (1e6 * (seconds - (before.get(thread) ?? 0))) / readings] as const)
    .sort((a, b) => b[1] - a[1]);
  const total = parts.reduce((sum, [, micros]) => sum + micros, 0);
  const shown = parts.filter(([, micros]) => micros >= 0.05).map(([thread, micros]) => `${thread} ${micros.toFixed(1)}`);
  console.log(`  cpu µs/reading, ${name}: total ${total.toFixed(1)} = ${shown.join(', ')}`);
  return total;
}

// ---- checking for loss -------------------------------------------------------------------------

/** Readings missing from the topic, and how many Kafka records carried the readings (batch records hold several). */
async function countLost(topic: string, expected: number): Promise<{ lost: number; records: number }> {
  const ids = new Set<string>();
  let records = 0;
  for (const message of await readTopic(config.kafka.brokers, topic)) {
    const decoded = decodeRecord(message.value!);
    if (!decoded.ok || decoded.readings.length === 0) continue;
    records++;
    for (const reading of decoded.readings) ids.add(reading.id);
  }
  return { lost: expected - ids.size, records };
}

// ---- reporting ---------------------------------------------------------------------------------

function printMachine(): void {
  const cpu = cpus();
  console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`node ${process.version}, librdkafka ${KafkaLib.librdkafkaVersion}, mqtt ${config.mqtt.url}, kafka ${config.kafka.brokers.join(',')}`);
  console.log(`messages: ${SINGLE_MESSAGES} single-reading, ${BATCH_MESSAGES} × ${BATCH_SIZE}-reading; publisher window ${PUBLISH_WINDOW}`);
}

/** The bridge process's CPU time (all threads, librdkafka's included) per reading, in µs: robust to a busy machine. */
function cpuMicrosPerReading(before: Scrape, after: Scrape): number | undefined {
  const readings = after.published - before.published;
  return readings > 0 ? (1e6 * (after.cpuSeconds - before.cpuSeconds)) / readings : undefined;
}

function cpuNote(micros: number | undefined): string {
  return micros === undefined ? '' : `, bridge CPU ${micros.toFixed(1)} µs/reading`;
}

function round1(value: number | undefined): number | null {
  return value === undefined ? null : Number(value.toFixed(1));
}

function report(name: string, phase: Phase, extra = phase.cpuNote ?? ''): void {
  const note = phase.delivered < phase.readings ? ` (only ${phase.delivered} of ${phase.readings} within ${PHASE_TIMEOUT_MS / 1000} s)` : '';
  console.log(`${name.padEnd(36)} ${Math.round(phase.perSecond).toString().padStart(9)} readings/s  (${phase.readings} in ${phase.seconds.toFixed(2)} s${extra})${note}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
