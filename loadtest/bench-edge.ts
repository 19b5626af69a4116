/**
 * Edge bridge throughput (npm run bench:edge): devices → Mosquitto → bridge (child process) →
 * Kafka, against a baseline measured in the same run: the same publisher, through the same
 * Mosquitto, to a bare mqtt.js subscriber that does nothing but acknowledge (QoS 1, child process).
 *
 * Phases: baseline (batches of 50); the bridge starts and warms up (rounds of 50,000 messages until
 * the Kafka broker's JIT compiler is quiet, see warmUpBridge); then BENCH_ROUNDS rounds of baseline
 * and bridge (1 reading per message) and a last baseline; bridge (batches of 50) before that last
 * baseline. The baselines publish to topics beside the bridge's, which the idle bridge does not
 * receive. Then every id is read back from Kafka (lost), through decodeRecord (single-reading and
 * batch records: a message of 50 readings is one Kafka record). Ends with one JSON line:
 *   {"bench":"edge","readings_per_s":…,"baseline_per_s":…,"ratio":…,"ratios":[…],"bridge_cpu_us":…,
 *    "baseline_cpu_us":…,"batched_readings_per_s":…,"ack_p50_ms":…,"ack_p99_ms":…,"lost":…,"rss_mb":…,
 *    "warmup_messages":…}
 * ratios = each bridge round's rate over the mean of the two baselines beside it (one reading per
 * message); ratio = their median; readings_per_s and baseline_per_s are medians of the phases.
 * The machine's speed drifts by tens of percent within minutes here, so a bridge phase is compared
 * only with its neighbours. *_cpu_us = CPU time per reading of the bridge and of the bare subscriber
 * (µs, all threads, medians). ack_* come from the bridge's receipt → delivery-report histogram over
 * the single-reading rounds.
 *
 * Environment: BENCH_MESSAGES (single-reading messages per phase, default 150000), BENCH_BATCHES
 * (messages of 50 readings, default 16000), BENCH_ROUNDS (default 3), BENCH_WARMUP_ROUND,
 * BENCH_WARMUP_MIN_ROUNDS, BENCH_WARMUP_MAX_ROUNDS (warm-up rounds: messages, fewest, most),
 * BENCH_PROFILE=1 (the bridge writes a --cpu-prof profile to .data/),
 * BENCH_THREADS=1 (CPU per reading by thread of the receiver, and of the Kafka broker and Mosquitto),
 * BENCH_FLOOR=on-receipt|after-kafka (adds a phase with the floor subscriber, see runFloorSubscriber),
 * BENCH_BRIDGE_NODE_ARGS (V8 flags for the bridge process, to try).
 */
import { spawn, spawnSync } from 'node:child_process';
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
/**
 * The bridge's warm-up is in rounds of this many messages, until the Kafka broker's JIT compiler is
 * quiet (see warmUpBridge); at least WARMUP_MIN_ROUNDS, at most WARMUP_MAX_ROUNDS.
 */
const WARMUP_ROUND_MESSAGES = Number(process.env['BENCH_WARMUP_ROUND'] ?? 50_000);
const WARMUP_MIN_ROUNDS = Number(process.env['BENCH_WARMUP_MIN_ROUNDS'] ?? 2);
const WARMUP_MAX_ROUNDS = Number(process.env['BENCH_WARMUP_MAX_ROUNDS'] ?? 24);
/** A round in which the broker's JVM compiled for less than this is quiet; two quiet rounds in a row end the warm-up. */
const JIT_QUIET_SECONDS = 0.05;
const DEVICES = 1000;
const PUBLISH_WINDOW = 1000;
const PHASE_TIMEOUT_MS = 60_000;
/** Rounds of baseline then bridge (single-reading messages), and a last baseline. */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const POLL_MS = 100;
/** Diagnostics (BENCH_THREADS=1): CPU by thread of the receiver, and of the co-located servers. */
const THREADS = process.env['BENCH_THREADS'] === '1';
/** Diagnostics: BENCH_FLOOR=on-receipt|after-kafka adds a phase with the floor subscriber (see runFloorSubscriber). */
const FLOOR = process.env['BENCH_FLOOR'] === 'on-receipt' || process.env['BENCH_FLOOR'] === 'after-kafka' ? process.env['BENCH_FLOOR'] : undefined;
/** The Kafka broker's command line (a JVM running kafka.Kafka). */
const KAFKA_PROCESS = /kafka\.Kafka/;
const SERVERS: ReadonlyArray<readonly [label: string, pattern: RegExp]> = [
  ['kafka', KAFKA_PROCESS],
  ['mosquitto', /mosquitto/],
];

const config = testConfig();
/**
 * The run's own topic prefix (under the configured one, which the broker's ACL grants): the bridge
 * and the baseline subscriber then see only this run's messages, not those of whoever else
 * publishes to the same broker at the time (which would count as throughput and as ids).
 */
let prefix = config.mqtt.topicPrefix;
/** The baseline's topics: beside the bridge's, so that the (idle) bridge does not receive them. */
let baselinePrefix = prefix;

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
  baselinePrefix = `${prefix}-base`;
  printMachine();
  await createTopics(config.kafka.brokers, [
    { topic: names.readings, partitions: config.kafka.partitions },
    { topic: names.deadLetter, partitions: 1 },
    ...(FLOOR === undefined ? [] : [{ topic: names.floor, partitions: config.kafka.partitions }]),
  ]);
  const fleet = await connectFleet(config, `${run}-publisher`);
  try {
    const baselineBatched = await measureBaseline(fleet, `${run}-base50`, batched(baselinePrefix, `${run}-b50`, BATCH_MESSAGES), BATCH_SIZE);
    report(`baseline, ${BATCH_SIZE} readings/message`, baselineBatched);

    const bridge = await startBridge(bridgeEnv(config, names, { TP_MQTT__TOPIC_PREFIX: prefix }), {
      nodeArgs: [
        ...(process.env['BENCH_PROFILE'] === '1' ? ['--cpu-prof', `--cpu-prof-dir=${ROOT}.data/profiles`] : []),
        // Diagnostics: V8 flags to try on the bridge (space-separated), e.g. --max-semi-space-size=64.
        ...(process.env['BENCH_BRIDGE_NODE_ARGS'] ?? '').split(' ').filter((flag) => flag !== ''),
      ],
    });
    const baselines: Phase[] = [];
    const bridges: Phase[] = [];
    let bridgeBatched: Phase;
    let latency: { p50: number; p99: number };
    let rssMb: number;
    let warmupMessages = 0;
    try {
      warmupMessages = await warmUpBridge(fleet, run, bridge);
      // Baseline and bridge take turns, and each bridge phase is compared with the baselines on
      // either side of it: the machine's speed drifts by tens of percent within minutes here. The
      // bridge stays up (idle) during a baseline, whose topics it does not subscribe to.
      const first = await scrape(bridge);
      let last = first;
      for (let round = 1; round <= ROUNDS; round++) {
        baselines.push(await measureBaseline(fleet, `${run}-base1-${round}`, single(baselinePrefix, `${run}-b1-${round}`, SINGLE_MESSAGES), 1));
        report(`baseline ${round}, 1 reading/message`, baselines.at(-1)!);
        const messages = single(prefix, `${run}-s${round}`, SINGLE_MESSAGES);
        const before = await scrape(bridge);
        const threadsBefore = cpuBreakdown(bridge.child.pid!);
        const phase = await measure(fleet, messages, 1, async () => (await publishedBy(bridge)) - before.published);
        last = await scrape(bridge);
        const machineMicros = reportCpuBreakdown(`bridge ${round}, 1 reading/message`, threadsBefore, cpuBreakdown(bridge.child.pid!), phase.readings);
        bridges.push({ ...phase, cpuMicros: cpuMicrosPerReading(before, last), machineMicros });
        report(`bridge ${round}, 1 reading/message`, bridges.at(-1)!, cpuNote(bridges.at(-1)!.cpuMicros));
      }
      latency = histogramQuantiles(first.ack, last.ack);
      bridgeBatched = await measure(fleet, batched(prefix, `${run}-m`, BATCH_MESSAGES), BATCH_SIZE, async () => (await publishedBy(bridge)) - last.published);
      report(`bridge, ${BATCH_SIZE} readings/message`, bridgeBatched, cpuNote(cpuMicrosPerReading(last, await scrape(bridge))));
      rssMb = sampleProcess(bridge.child.pid!)?.peakRssMb ?? 0;
      baselines.push(await measureBaseline(fleet, `${run}-base1-last`, single(baselinePrefix, `${run}-b1-last`, SINGLE_MESSAGES), 1));
      report(`baseline ${ROUNDS + 1}, 1 reading/message`, baselines.at(-1)!);
    } finally {
      await bridge.stop();
    }

    const floor =
      FLOOR === undefined
        ? undefined
        : await measureBaseline(fleet, `${run}-floor`, single(baselinePrefix, `${run}-f`, SINGLE_MESSAGES), 1, ['--floor-subscriber', names.floor, FLOOR]);
    if (floor) report(`floor (${FLOOR}), 1 reading/message`, floor);

    const ratios = bridges.map((phase, i) => phase.perSecond / ((baselines[i]!.perSecond + baselines[i + 1]!.perSecond) / 2));
    const ratio = median(ratios);
    const baselinePerSecond = median(baselines.map((phase) => phase.perSecond));
    const expected = warmupMessages + ROUNDS * SINGLE_MESSAGES + BATCH_MESSAGES * BATCH_SIZE;
    const { lost, records } = await countLost(names.readings, expected);
    const machine = machineMicros(baselines, bridges, floor);
    console.log(`ratio by round (bridge / mean of the baselines beside it): ${ratios.map((value) => value.toFixed(3)).join(', ')}; median ${ratio.toFixed(3)}`);
    console.log(`ack latency (receipt → Kafka ack): p50 ${latency.p50.toFixed(1)} ms, p99 ${latency.p99.toFixed(1)} ms`);
    console.log(`bridge peak RSS ${rssMb.toFixed(0)} MB; readings lost: ${lost} of ${expected}, carried by ${records} Kafka records`);
    console.log(`targets: ratio ≥ 0.8 (${ratio.toFixed(2)}), lost = 0 (${lost}), batched ≥ 200000/s (${Math.round(bridgeBatched.perSecond)})`);
    console.log(
      JSON.stringify({
        bench: 'edge',
        readings_per_s: Math.round(median(bridges.map((phase) => phase.perSecond))),
        baseline_per_s: Math.round(baselinePerSecond),
        ratio: Number(ratio.toFixed(3)),
        ratios: ratios.map((value) => Number(value.toFixed(3))),
        bridge_cpu_us: round1(median(bridges.map((phase) => phase.cpuMicros ?? Number.NaN))),
        baseline_cpu_us: round1(median(baselines.map((phase) => phase.cpuMicros ?? Number.NaN))),
        batched_readings_per_s: Math.round(bridgeBatched.perSecond),
        ack_p50_ms: Number(latency.p50.toFixed(1)),
        ack_p99_ms: Number(latency.p99.toFixed(1)),
        lost,
        rss_mb: Math.round(rssMb),
        warmup_messages: warmupMessages,
        ...machine,
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

/**
 * Diagnostics (BENCH_THREADS=1): the machine's CPU per reading (receiver, publisher, Mosquitto,
 * Kafka; medians over the phases), and the ratio the phases would have if the two cores were the only limit.
 */
function machineMicros(baselines: readonly Phase[], bridges: readonly Phase[], floor: Phase | undefined): Record<string, number | null> {
  if (!THREADS) return {};
  const baseline = median(baselines.map((phase) => phase.machineMicros ?? Number.NaN));
  const bridge = median(bridges.map((phase) => phase.machineMicros ?? Number.NaN));
  return {
    machine_cpu_us_baseline: round1(baseline),
    machine_cpu_us_bridge: round1(bridge),
    cpu_ratio: Number((baseline / bridge).toFixed(3)),
    ...(floor?.machineMicros === undefined ? {} : { machine_cpu_us_floor: round1(floor.machineMicros) }),
  };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
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

function single(topicPrefix: string, tag: string, count: number): Messages {
  const ts = Date.now();
  return Array.from({ length: count }, (_, i) => ({
    topic: `${topicPrefix}/bench/dev-${i % DEVICES}`,
    payload: `{"id":"${tag}-${i}","ts":${ts},"metrics":{"temperature":${(20 + (i % 100) / 10).toFixed(1)},"humidity":40}}`,
  }));
}

function batched(topicPrefix: string, tag: string, count: number): Messages {
  const ts = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const readings = Array.from({ length: BATCH_SIZE }, (_, j) => `{"id":"${tag}-${i}-${j}","ts":${ts + j},"metrics":{"temperature":${20 + j / 10},"humidity":40}}`);
    return { topic: `${topicPrefix}/bench/dev-${i % DEVICES}`, payload: `{"readings":[${readings.join(',')}]}` };
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
 * Time from the first publish until `delivered()` reports every reading. Polled every 100 ms
 * (the bridge's count is one metric of its /metrics, `?name=` keeps that cheap), and every 10 ms
 * once the end is expected within 100 ms.
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
    // Close to the end, poll as often as the baseline's child reports (10 ms), so that the
    // polling interval does not lengthen the bridge's phases more than the baseline's.
    const remainingMs = count > 0 ? ((readings - count) * (finished - started)) / count : POLL_MS;
    await sleep(Math.max(10, Math.min(POLL_MS, remainingMs)));
  }
  await publishing;
  const seconds = (finished - started) / 1000;
  return { readings, seconds, perSecond: Math.min(count, readings) / seconds, delivered: count };
}

/**
 * Warms the bridge's path up until the Kafka broker is warm, and returns the messages it published.
 * A broker started minutes ago spends several times more CPU per record while its JVM compiles the
 * produce path (seen here after a restart: 41, 17, 18, 15, 9 µs per record in the first rounds of
 * 50,000, with bursts of compilation up to the 17th round, then 3–4 µs), and that CPU is taken from
 * the two cores everything shares. So rounds go through the bridge until the JVM compiled for less
 * than JIT_QUIET_SECONDS in two rounds in a row (jstat -compiler); without jstat, all
 * WARMUP_MAX_ROUNDS rounds. Each round's figures are printed.
 */
async function warmUpBridge(fleet: MqttClient, run: string, bridge: BridgeProcess): Promise<number> {
  const kafka = serverPids(KAFKA_PROCESS);
  let quietRounds = 0;
  let published = 0;
  for (let round = 1; round <= WARMUP_MAX_ROUNDS; round++) {
    const before = await publishedBy(bridge);
    const kafkaBefore = cpuSecondsOf(kafka);
    const compileBefore = jitSecondsOf(kafka);
    const phase = await measure(fleet, single(prefix, `${run}-warm${round}`, WARMUP_ROUND_MESSAGES), 1, async () => (await publishedBy(bridge)) - before);
    published += WARMUP_ROUND_MESSAGES;
    const kafkaMicros = (1e6 * (cpuSecondsOf(kafka) - kafkaBefore)) / WARMUP_ROUND_MESSAGES;
    const compileSeconds = jitSecondsOf(kafka) - compileBefore;
    console.log(
      `  warm-up ${String(round).padStart(2)}: ${Math.round(phase.perSecond).toString().padStart(6)} readings/s, Kafka broker CPU ${kafkaMicros.toFixed(1)} µs/record, compiling ${compileSeconds.toFixed(2)} s`,
    );
    quietRounds = compileSeconds < JIT_QUIET_SECONDS ? quietRounds + 1 : 0;
    if (round >= WARMUP_MIN_ROUNDS && quietRounds >= 2) break;
  }
  return published;
}

/** Processes whose command line matches (the co-located servers, found in /proc). */
function serverPids(pattern: RegExp): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (pattern.test(readFileSync(`/proc/${entry}/cmdline`, 'utf8'))) pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

/** Seconds the JVMs spent compiling (the Time column of `jstat -compiler`); NaN without jstat. */
function jitSecondsOf(pids: readonly number[]): number {
  let seconds = 0;
  for (const pid of pids) {
    const result = spawnSync('jstat', ['-compiler', String(pid)], { encoding: 'utf8' });
    // Compiled Failed Invalid Time FailedType FailedMethod, then one line of values.
    seconds += Number(result.stdout?.split('\n')[1]?.trim().split(/\s+/)[3]);
  }
  return seconds;
}

function cpuSecondsOf(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
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
  const child = spawn(process.execPath, [...profile, '--import', 'tsx', 'loadtest/bench-edge.ts', ...mode, group, String(messages.length), baselinePrefix, ...(floor ?? []).slice(1)], {
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
  for (const [label, pattern] of SERVERS) seconds.set(`[${label}]`, cpuSecondsOf(serverPids(pattern)));
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
