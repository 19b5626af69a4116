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
 * 50 readings, default 16000), BENCH_PROFILE=1 (the bridge writes a --cpu-prof profile to .data/).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

const SINGLE_MESSAGES = Number(process.env['BENCH_MESSAGES'] ?? 150_000);
const BATCH_MESSAGES = Number(process.env['BENCH_BATCHES'] ?? 16_000);
const BATCH_SIZE = 50;
const WARMUP_MESSAGES = 10_000;
const DEVICES = 1000;
const PUBLISH_WINDOW = 1000;
const PHASE_TIMEOUT_MS = 60_000;
const POLL_MS = 100;

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
} else {
  await main();
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const run = uniqueName('bench-edge');
  const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
  prefix = `${config.mqtt.topicPrefix}/${run}`;
  printMachine();
  await createTopics(config.kafka.brokers, [
    { topic: names.readings, partitions: config.kafka.partitions },
    { topic: names.deadLetter, partitions: 1 },
  ]);
  const fleet = await connectFleet(config, `${run}-publisher`);
  try {
    const baselineSingle = await measureBaseline(fleet, `${run}-base1`, single(`${run}-b1`, SINGLE_MESSAGES), 1);
    const baselineBatched = await measureBaseline(fleet, `${run}-base50`, batched(`${run}-b50`, BATCH_MESSAGES), BATCH_SIZE);
    report('baseline, 1 reading/message', baselineSingle);
    report(`baseline, ${BATCH_SIZE} readings/message`, baselineBatched);

    const bridge = await startBridge(bridgeEnv(config, names, { TP_MQTT__TOPIC_PREFIX: prefix }), {
      nodeArgs: process.env['BENCH_PROFILE'] === '1' ? ['--cpu-prof', `--cpu-prof-dir=${ROOT}.data/profiles`] : [],
    });
    let bridgeSingle: Phase;
    let bridgeBatched: Phase;
    let latency: { p50: number; p99: number };
    let rssMb: number;
    try {
      await publishAndWait(fleet, single(`${run}-warm`, WARMUP_MESSAGES), () => publishedBy(bridge), WARMUP_MESSAGES);
      const before = await scrape(bridge);
      bridgeSingle = await measure(fleet, single(`${run}-s`, SINGLE_MESSAGES), 1, async () => (await publishedBy(bridge)) - before.published);
      const after = await scrape(bridge);
      latency = histogramQuantiles(before.ack, after.ack);
      bridgeSingle = { ...bridgeSingle, cpuMicros: cpuMicrosPerReading(before, after) };
      report('bridge, 1 reading/message', bridgeSingle, cpuNote(bridgeSingle.cpuMicros));
      const middle = await scrape(bridge);
      bridgeBatched = await measure(fleet, batched(`${run}-m`, BATCH_MESSAGES), BATCH_SIZE, async () => (await publishedBy(bridge)) - middle.published);
      report(`bridge, ${BATCH_SIZE} readings/message`, bridgeBatched, cpuNote(cpuMicrosPerReading(middle, await scrape(bridge))));
      rssMb = peakRssMb(bridge.child.pid!);
    } finally {
      await bridge.stop();
    }

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
      }),
    );
  } finally {
    fleet.end(true);
    await killAllBridges();
    await deleteTopics(config.kafka.brokers, [names.readings, names.deadLetter]);
  }
}

interface Phase {
  readonly cpuNote?: string;
  /** CPU time of the receiving process (bridge or bare subscriber) per reading, in µs. */
  readonly cpuMicros?: number;
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

async function measureBaseline(fleet: MqttClient, group: string, messages: Messages, perMessage: number): Promise<Phase> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/bench-edge.ts', '--baseline-subscriber', group, String(messages.length), prefix], {
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
    const phase = await measure(fleet, messages, perMessage, async () => (received - offset) * perMessage);
    const cpuMicros = (1e6 * (processCpuSeconds(child.pid!) - cpuBefore)) / phase.readings;
    return { ...phase, cpuMicros, cpuNote: `, subscriber CPU ${cpuMicros.toFixed(1)} µs/reading` };
  } finally {
    child.kill('SIGKILL');
  }
}

/** The bare subscriber: QoS 1, the same session settings as the bridge, counts and acknowledges. */
async function runBaselineSubscriber(group: string, expected: number): Promise<void> {
  const client = mqtt.connect(config.mqtt.url, {
    protocolVersion: 5,
    clientId: group,
    username: config.mqtt.username,
    password: config.mqtt.password,
    clean: true,
    properties: { receiveMaximum: config.mqtt.receiveMaximum },
  });
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

/** utime + stime of a process from /proc (clock ticks of 10 ms). */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
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
