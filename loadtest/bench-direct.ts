/**
 * Direct mode against the bare relay, in one run (node --import tsx loadtest/bench-direct.ts): the
 * same mqtt.js publisher (QoS 1, single-reading messages, a window of unacknowledged publishes)
 * sends either to the bridge's own MQTT endpoint (direct mode: PUBACK after Kafka's ack) or to
 * Mosquitto, where a bare mqtt.js subscriber (a child process, QoS 1, shared subscription) only
 * counts and acknowledges — the relay bench:edge measures. Rounds alternate (relay, direct, ...,
 * relay) after a warm-up of the direct path; each direct round is divided by the mean of the relay
 * rounds beside it and the median is reported (the method of decision 0006). Every id of the direct
 * rounds is then read back from Kafka (lost). CPU per reading of the bridge and of the relay
 * (Mosquitto + subscriber) from /proc. Ends with one JSON line:
 *   {"bench":"edge-direct","direct_ratio":…,"ratios":[…],"direct_readings_per_s":…,"baseline_per_s":…,
 *    "direct_cpu_us":…,"relay_cpu_us":…,"lost":…}
 * Environment: BENCH_MESSAGES (per round, default 100000), BENCH_ROUNDS (default 3), BENCH_WARMUP (default 100000),
 * BENCH_CONNECTIONS (publisher connections of each path, default 4, a window of 1000 each), BENCH_PROFILE=1
 * (the bridge writes a --cpu-prof profile to .data/profiles).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeRecord } from '../src/core/readings.ts';
import { writeCredentialFile } from '../src/stack/device-credentials.ts';
import { LOCAL_MQTT_USERS } from '../src/stack/mosquitto.ts';
import { ROOT, createTopics, deleteTopics, freePort, killAllBridges, readTopic, startBridge, testConfig, uniqueName } from '../test/integration/edge-harness.ts';
import { cpuSecondsOfStat } from './e2e/process-stats.ts';

const MESSAGES = Number(process.env['BENCH_MESSAGES'] ?? 100_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const WARMUP = Number(process.env['BENCH_WARMUP'] ?? 100_000);
const WINDOW = 1000;
const CONNECTIONS = Number(process.env['BENCH_CONNECTIONS'] ?? 4);
const DEVICES = 1000;
const config = testConfig();
const run = uniqueName('bench-direct');
const tenant = run.replace(/[^A-Za-z0-9_-]/g, '_');
const topics = { readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };

type Messages = ReadonlyArray<{ topic: string; payload: string }>;

function messages(tag: string, count: number): Messages {
  const ts = Date.now();
  return Array.from({ length: count }, (_, i) => ({
    topic: `${config.mqtt.topicPrefix}/${tenant}/dev-${i % DEVICES}`,
    payload: `{"id":"${tag}-${i}","ts":${ts},"metrics":{"temperature":${(20 + (i % 100) / 10).toFixed(1)},"humidity":40}}`,
  }));
}

/**
 * QoS 1 over several connections (a device's messages on one of them), each with a window of
 * unacknowledged publishes; resolves when every PUBACK arrived. One connection's window over
 * Kafka's round trip (~30 ms) would cap direct mode near 1000 / 0.03 s: a fleet is many connections.
 */
function publish(clients: readonly MqttClient[], batch: Messages): Promise<void> {
  return Promise.all(
    clients.map(
      (client, index) =>
        new Promise<void>((resolve, reject) => {
          const mine = batch.filter((_, i) => (i % DEVICES) % clients.length === index);
          let next = 0;
          let done = 0;
          const one = (): void => {
            const message = mine[next++]!;
            client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
              if (error) return reject(error);
              if (++done === mine.length) return resolve();
              if (next < mine.length) one();
            });
          };
          if (mine.length === 0) resolve();
          for (let i = 0; i < Math.min(WINDOW, mine.length); i++) one();
        }),
    ),
  ).then(() => undefined);
}

function cpuOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuSecondsOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // gone
    }
  }
  return total;
}

function pidsOf(pattern: string): number[] {
  const out = spawnSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}

interface Round {
  readonly perSecond: number;
  readonly cpuMicros: number;
}

async function directRound(client: readonly MqttClient[], bridgePid: number, tag: string, count: number): Promise<Round> {
  const batch = messages(tag, count);
  const cpu = cpuOf([bridgePid]);
  const started = performance.now();
  await publish(client, batch);
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: count / seconds, cpuMicros: ((cpuOf([bridgePid]) - cpu) * 1e6) / count };
}

async function relayRound(publisher: readonly MqttClient[], tag: string, count: number): Promise<Round> {
  const group = `${run}-${tag}`.replace(/[^A-Za-z0-9_-]/g, '_');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SUBSCRIBER, config.mqtt.url, group, `${config.mqtt.topicPrefix}/${tenant}/+`, LOCAL_MQTT_USERS['bridge']!], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  let received = 0;
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  let done: () => void = () => undefined;
  const isDone = new Promise<void>((resolve) => (done = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) {
      if (line === 'ready') ready();
      const match = /^received (\d+)$/.exec(line);
      if (match) received = Number(match[1]);
      if (received >= count) done();
    }
  });
  await isReady;
  const relay = [...pidsOf('mosquitto'), child.pid!];
  const cpu = cpuOf(relay);
  const started = performance.now();
  await publish(publisher, messages(tag, count));
  await isDone;
  const seconds = (performance.now() - started) / 1000;
  const used = cpuOf(relay) - cpu;
  child.kill('SIGKILL');
  return { perSecond: count / seconds, cpuMicros: (used * 1e6) / count };
}

/** The bare subscriber of the relay: QoS 1, counts and acknowledges (mqtt.js sends the PUBACK). */
const SUBSCRIBER = `
import mqtt from 'mqtt';
const [url, group, filter, password] = process.argv.slice(1);
const client = mqtt.connect(url, { protocolVersion: 5, clientId: group, username: 'bridge', password, clean: true, properties: { receiveMaximum: 20000 }, log: () => undefined });
let received = 0;
client.on('message', () => received++);
await new Promise((resolve) => client.once('connect', resolve));
await client.subscribeAsync('$share/' + group + '/' + filter, { qos: 1 });
process.stdout.write('ready\\n');
setInterval(() => process.stdout.write('received ' + received + '\\n'), 10);
`;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

async function main(): Promise<void> {
  console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadavg().map((value) => value.toFixed(2)).join(' ')}, node ${process.version}`);
  const credentials = join(mkdtempSync(join(tmpdir(), 'bench-direct-')), 'devices');
  writeCredentialFile(credentials, [{ username: 'fleet', password: 'fleet-secret', tenant, device: '*' }]);
  await createTopics(config.kafka.brokers, [
    { topic: topics.readings, partitions: 12 },
    { topic: topics.deadLetter, partitions: 1 },
  ]);
  const port = await freePort();
  const bridge = await startBridge({
    TP_KAFKA__BROKERS: config.kafka.brokers.join(','),
    TP_KAFKA__READINGS_TOPIC: topics.readings,
    TP_KAFKA__DEAD_LETTER_TOPIC: topics.deadLetter,
    TP_MQTT__MODE: 'direct',
    TP_MQTT__LISTEN__PORT: String(port),
    TP_MQTT__CREDENTIALS_FILE: credentials,
    LOG_LEVEL: 'warn',
  }, { nodeArgs: process.env['BENCH_PROFILE'] === '1' ? ['--cpu-prof', `--cpu-prof-dir=${join(ROOT, '.data', 'profiles')}`] : [] });
  const connections = (url: string, name: string, password: string): Promise<MqttClient[]> =>
    Promise.all(Array.from({ length: CONNECTIONS }, (_, index) => mqtt.connectAsync(url, { protocolVersion: 5, clientId: `${run}-${name}-${index}`, username: 'fleet', password, log: () => undefined } as mqtt.IClientOptions)));
  const device = await connections(`mqtt://127.0.0.1:${port}`, 'direct', 'fleet-secret');
  const relayPublisher = await connections(config.mqtt.url, 'relay', LOCAL_MQTT_USERS['fleet']!);
  try {
    const warm = await directRound(device, bridge.child.pid!, 'warmup', WARMUP);
    console.log(`warm-up direct: ${Math.round(warm.perSecond)} readings/s`);
    const relays: Round[] = [];
    const directs: Round[] = [];
    const expected: string[] = ['warmup'];
    for (let round = 0; round < ROUNDS; round++) {
      relays.push(await relayRound(relayPublisher, `relay${round}`, MESSAGES));
      console.log(`relay ${round}: ${Math.round(relays.at(-1)!.perSecond)} readings/s, ${relays.at(-1)!.cpuMicros.toFixed(1)} µs CPU per reading (Mosquitto + subscriber)`);
      directs.push(await directRound(device, bridge.child.pid!, `direct${round}`, MESSAGES));
      expected.push(`direct${round}`);
      console.log(`direct ${round}: ${Math.round(directs.at(-1)!.perSecond)} readings/s, ${directs.at(-1)!.cpuMicros.toFixed(1)} µs CPU per reading (bridge)`);
    }
    relays.push(await relayRound(relayPublisher, `relay${ROUNDS}`, MESSAGES));
    console.log(`relay ${ROUNDS}: ${Math.round(relays.at(-1)!.perSecond)} readings/s`);
    const ratios = directs.map((direct, index) => direct.perSecond / ((relays[index]!.perSecond + relays[index + 1]!.perSecond) / 2));
    const ids = new Set<string>();
    for (const record of await readTopic(config.kafka.brokers, topics.readings)) {
      const decoded = decodeRecord(record.value!);
      if (decoded.ok) for (const reading of decoded.readings) ids.add(reading.id);
    }
    const lost = WARMUP + ROUNDS * MESSAGES - ids.size;
    console.log(
      JSON.stringify({
        bench: 'edge-direct',
        direct_ratio: Number(median(ratios).toFixed(3)),
        ratios: ratios.map((ratio) => Number(ratio.toFixed(3))),
        direct_readings_per_s: Math.round(median(directs.map((round) => round.perSecond))),
        baseline_per_s: Math.round(median(relays.map((round) => round.perSecond))),
        direct_cpu_us: Number(median(directs.map((round) => round.cpuMicros)).toFixed(1)),
        relay_cpu_us: Number(median(relays.map((round) => round.cpuMicros)).toFixed(1)),
        lost,
      }),
    );
  } finally {
    await Promise.all([...device, ...relayPublisher].map((client) => client.endAsync()));
    await bridge.stop(); // SIGTERM: a profile (BENCH_PROFILE=1) is written on a clean exit
    await killAllBridges();
    await deleteTopics(config.kafka.brokers, [topics.readings, topics.deadLetter]);
  }
}

await main();
