/**
 * `npm run bench:edge -- [--messages N] [--batches N] [--rounds N] [--warmup N] [--connections N] [--window N] [--publisher raw|mqtt.js]`:
 * the edge's two MQTT modes against the bare relay, in one run, on the local stack:
 *   relay   publisher → Mosquitto → a subscriber that only acknowledges (the baseline; QoS 1)
 *   direct  publisher → the bridge's own MQTT endpoint → Kafka (PUBACK after Kafka's ack)
 *   broker  publisher → Mosquitto → the bridge (shared subscription) → Kafka
 * The same publisher (QoS 1, single-reading messages, several connections with a window each)
 * feeds every path: by default raw MQTT 5 packets encoded before each phase (raw-publisher.ts), so
 * that it is no path's limit (the mqtt.js publisher, `--publisher mqtt.js`, spent 12–17 µs per
 * reading on every path; decision 0006's addendum). After a warm-up of each, rounds take turns:
 * relay, direct, broker, …, relay; each direct and broker round is divided by the mean of the
 * relay rounds on either side of it (the machine's speed drifts within minutes; decision 0006) and
 * the medians are reported. CPU per reading is the path's own processes' (relay: Mosquitto +
 * subscriber; direct: the bridge; broker: Mosquitto + the bridge); every party's share of a core (publisher, path processes and
 * their main threads, Kafka) and the machine's busy share are reported beside it, to show where
 * each phase's limit lies. Then direct mode with batches of 50 readings, and every id of the
 * direct and broker phases read back from Kafka (lost). Ends with one JSON line:
 *   {"bench":"edge","direct_ratio":…,"broker_ratio":…,"direct_readings_per_s":…,"broker_readings_per_s":…,
 *    "baseline_per_s":…,"batched_readings_per_s":…,"direct_cpu_us":…,"broker_cpu_us":…,"relay_cpu_us":…,
 *    "kafka_cpu_us":…,"cores":{"relay":{…},"direct":{…},"broker":{…}},"ratios":{…},"lost":…,"publisher":…,"load":[…]}
 */
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import mqtt from 'mqtt';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { writeCredentialFile } from '../../src/stack/device-credentials.ts';
import { kafkaNodes } from '../../src/stack/kafka.ts';
import { LOCAL_MQTT_USERS, mosquittoProcess } from '../../src/stack/mosquitto.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import { runningPid } from '../../src/stack/processes.ts';
import { createTopics, deleteTopics, freePort, killAllBridges, readTopic, startBridge, testConfig, uniqueName } from '../support/edge-harness.ts';
import { brokerPhase } from './broker-phase.ts';
import { directPhase } from './direct-phase.ts';
import { BATCH_SIZE, batchedReadings, MqttJsPublisher, singleReadings, type Messages, type Phase, type Publisher } from './publish.ts';
import { RawPublisher } from './raw-publisher.ts';
import { relayPhase } from './relay-baseline.ts';

const positive = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return parsed;
};
const options = new Command('bench:edge')
  .description('direct and broker mode against the bare MQTT relay, in one run')
  .option('--messages <n>', 'single-reading messages per round of each path', positive, 100_000)
  .option('--batches <n>', `messages of ${BATCH_SIZE} readings in the batched direct phase`, positive, 4000)
  .option('--rounds <n>', 'rounds of relay, direct and broker (then a last relay)', positive, 3)
  .option('--warmup <n>', 'messages through each path before the rounds', positive, 50_000)
  .option('--connections <n>', 'publisher connections of each path', positive, 4)
  .option('--window <n>', 'unacknowledged publishes per connection', positive, 1000)
  .addOption(new Option('--publisher <kind>', 'the publisher of every phase: raw MQTT packets encoded ahead, or mqtt.js clients (the method before decision 0006\'s addendum)').choices(['raw', 'mqtt.js']).default('raw'))
  .option('--phase-timeout-ms <n>', 'longest a phase may take', positive, 120_000)
  .option('--profile', 'the bridges write a CPU profile (--cpu-prof) to .data/profiles/edge', false)
  .parse()
  .opts<{ messages: number; batches: number; rounds: number; warmup: number; connections: number; window: number; publisher: 'raw' | 'mqtt.js'; phaseTimeoutMs: number; profile: boolean }>();

const config = testConfig();
const run = uniqueName('bench-edge');
const tenant = run.replace(/[^A-Za-z0-9_-]/g, '_');
const topics = { readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
/** Each path publishes under its own topic prefix, so that no path receives another's messages. */
const brokerTopicPrefix = `${config.mqtt.topicPrefix}/${run}-broker`;
/** Where each path's devices publish: `<prefix>/<tenant>` (then `/<device>`). */
const prefixes = {
  direct: `${config.mqtt.topicPrefix}/${tenant}`,
  broker: `${brokerTopicPrefix}/${tenant}`,
  relay: `${config.mqtt.topicPrefix}/${run}-relay/${tenant}`,
};

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const round1 = (value: number): number => Number(value.toFixed(1));
const round3 = (value: number): number => Number(value.toFixed(3));
const round2 = (value: number): number => Number(value.toFixed(2));
/** Median share of a core of the publisher, each path process (and its main thread, `<name>_main`) and Kafka over `phases`; and the machine's busy share (of all its cores). */
function cores(phases: readonly Phase[], names: readonly string[]): Record<string, number> {
  const of = (pick: (phase: Phase) => number): number => round2(median(phases.map(pick)));
  const shares: Record<string, number> = { publisher: of((phase) => phase.publisherCores) };
  names.forEach((name, index) => {
    shares[name] = of((phase) => phase.pathCores[index]!);
    shares[`${name}_main`] = of((phase) => phase.pathMainCores[index]!);
  });
  shares['kafka'] = of((phase) => phase.kafkaCores);
  shares['machine_busy'] = of((phase) => phase.machineBusy);
  return shares;
}
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const percent = (cores: number): string => `${Math.round(cores * 100)}`;
const report = (name: string, phase: Phase): void =>
  say(
    `${name.padEnd(30)} ${Math.round(phase.perSecond).toString().padStart(8)} readings/s  ${phase.cpuMicros.toFixed(1).padStart(6)} µs CPU/reading  ` +
      `(${phase.readings} in ${phase.seconds.toFixed(2)} s)\n${''.padEnd(32)}% of a core: publisher ${percent(phase.publisherCores)}, path ${phase.pathCores.map(percent).join(' + ')} ` +
      `(main threads ${phase.pathMainCores.map(percent).join(', ')}), Kafka ${percent(phase.kafkaCores)}; machine ${percent(phase.machineBusy)} % busy; µs/reading: publisher ${phase.publisherMicros.toFixed(1)}, Kafka ${phase.kafkaMicros.toFixed(1)}`,
  );

/** The chosen publisher's connections to one MQTT server, as the fleet's account. */
async function connections(url: string, name: string, password: string): Promise<Publisher> {
  const clientId = `${run}-${name}`;
  if (options.publisher === 'raw') {
    const target = new URL(url);
    if (target.protocol !== 'mqtt:') throw new Error(`the raw publisher speaks plain MQTT; ${url} is not mqtt://`);
    return RawPublisher.open({ host: target.hostname, port: Number(target.port || 1883), username: 'fleet', password, clientId }, options.connections);
  }
  const clients = await Promise.all(
    Array.from({ length: options.connections }, (_, index) =>
      mqtt.connectAsync(url, { protocolVersion: 5, clientId: `${clientId}-${index}`, username: 'fleet', password, log: () => undefined } as mqtt.IClientOptions),
    ),
  );
  return new MqttJsPublisher(clients);
}

/** Readings of these tags missing from the topic. */
async function countLost(expected: number): Promise<{ lost: number; records: number }> {
  const ids = new Set<string>();
  let records = 0;
  for (const message of await readTopic(config.kafka, topics.readings)) {
    const decoded = decodeRecord(message.value!);
    if (!decoded.ok) continue;
    records++;
    for (const reading of decoded.readings) ids.add(reading.id);
  }
  return { lost: expected - ids.size, records };
}

async function main(): Promise<void> {
  say(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
  say(`per round: ${options.messages} single-reading messages per path, ${options.connections} connections × window ${options.window}; ${options.rounds} rounds; publisher ${options.publisher}`);
  const mosquittoPid = runningPid(mosquittoProcess(config.stack));
  if (mosquittoPid === null) throw new Error(`the local stack's Mosquitto is not running (${config.mqtt.url}): npm run stack -- up`);
  const kafkaPids = kafkaNodes(config.stack).flatMap((node) => runningPid(node.process) ?? []);
  const credentials = join(mkdtempSync(join(tmpdir(), 'bench-edge-')), 'devices');
  writeCredentialFile(credentials, [{ username: 'fleet', password: 'fleet-secret', tenant, device: '*' }]);
  await createTopics(config.kafka, [
    { topic: topics.readings, partitions: config.kafka.partitions },
    { topic: topics.deadLetter, partitions: 1 },
  ]);
  const common = { TP_KAFKA__BROKERS: config.kafka.brokers.join(','), TP_KAFKA__READINGS_TOPIC: topics.readings, TP_KAFKA__DEAD_LETTER_TOPIC: topics.deadLetter, TP_LOG__LEVEL: 'warn' };
  const listenPort = await freePort();
  // A profile is written on a clean exit: the bridges are stopped with SIGTERM at the end.
  const nodeArgs = options.profile ? ['--cpu-prof', `--cpu-prof-dir=${join(REPO_ROOT, '.data', 'profiles', 'edge')}`] : [];
  const direct = await startBridge({ ...common, TP_MQTT__MODE: 'direct', TP_MQTT__LISTEN__PORT: String(listenPort), TP_MQTT__CREDENTIALS_FILE: credentials }, { nodeArgs });
  const broker = await startBridge(
    { ...common, TP_MQTT__MODE: 'broker', TP_MQTT__URL: config.mqtt.url, TP_MQTT__TOPIC_PREFIX: brokerTopicPrefix, TP_MQTT__SHARE_GROUP: `${tenant}-broker`, TP_MQTT__CLIENT_ID_PREFIX: `${run}-broker` },
    { nodeArgs },
  );
  const devices = await connections(`mqtt://127.0.0.1:${listenPort}`, 'direct', 'fleet-secret');
  const publisher = await connections(config.mqtt.url, 'relay', LOCAL_MQTT_USERS['fleet']!);
  const relayTarget = { url: config.mqtt.url, password: LOCAL_MQTT_USERS['bridge']!, mosquittoPid, kafkaPids, timeoutMs: options.phaseTimeoutMs };
  const brokerBridge = { pid: broker.child.pid!, url: broker.url, mosquittoPid, kafkaPids, timeoutMs: options.phaseTimeoutMs };
  const directWatch = { path: [direct.child.pid!], kafka: kafkaPids };
  const relay = (tag: string, messages: Messages): Promise<Phase> => relayPhase(publisher, relayTarget, `${tenant}-${tag}`, `${prefixes.relay}/+`, messages, 1, options.window);
  try {
    // Warm-up: each path's processes (and the Kafka broker's JIT behind two of them) at speed.
    report('warm-up relay', await relay('warm', singleReadings(prefixes.relay, 'warm-relay', options.warmup)));
    report('warm-up direct', await directPhase(devices, directWatch, singleReadings(prefixes.direct, 'warm-direct', options.warmup), 1, options.window));
    report('warm-up broker', await brokerPhase(publisher, brokerBridge, singleReadings(prefixes.broker, 'warm-broker', options.warmup), 1, options.window));
    const relays: Phase[] = [];
    const directs: Phase[] = [];
    const brokers: Phase[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      relays.push(await relay(`r${round}`, singleReadings(prefixes.relay, `relay${round}`, options.messages)));
      report(`relay ${round}`, relays.at(-1)!);
      directs.push(await directPhase(devices, directWatch, singleReadings(prefixes.direct, `direct${round}`, options.messages), 1, options.window));
      report(`direct ${round}`, directs.at(-1)!);
      brokers.push(await brokerPhase(publisher, brokerBridge, singleReadings(prefixes.broker, `broker${round}`, options.messages), 1, options.window));
      report(`broker ${round}`, brokers.at(-1)!);
    }
    relays.push(await relay('last', singleReadings(prefixes.relay, 'relay-last', options.messages)));
    report(`relay ${options.rounds + 1}`, relays.at(-1)!);
    const batched = await directPhase(devices, directWatch, batchedReadings(prefixes.direct, 'batched', options.batches), BATCH_SIZE, options.window);
    report(`direct, ${BATCH_SIZE} readings/message`, batched);

    const beside = (phases: readonly Phase[]): number[] => phases.map((phase, i) => phase.perSecond / ((relays[i]!.perSecond + relays[i + 1]!.perSecond) / 2));
    const ratios = { direct: beside(directs), broker: beside(brokers) };
    const expected = 2 * options.warmup + 2 * options.rounds * options.messages + options.batches * BATCH_SIZE;
    const { lost, records } = await countLost(expected);
    say(`ratio by round (path / mean of the relay rounds beside it): direct ${ratios.direct.map((r) => r.toFixed(3)).join(', ')}; broker ${ratios.broker.map((r) => r.toFixed(3)).join(', ')}`);
    say(`readings lost: ${lost} of ${expected} (direct and broker phases), carried by ${records} Kafka records`);
    say(`target: direct_ratio ≥ 1.2 (${median(ratios.direct).toFixed(2)}), lost = 0 (${lost})`);
    say(
      JSON.stringify({
        bench: 'edge',
        direct_ratio: round3(median(ratios.direct)),
        broker_ratio: round3(median(ratios.broker)),
        direct_readings_per_s: Math.round(median(directs.map((phase) => phase.perSecond))),
        broker_readings_per_s: Math.round(median(brokers.map((phase) => phase.perSecond))),
        baseline_per_s: Math.round(median(relays.map((phase) => phase.perSecond))),
        batched_readings_per_s: Math.round(batched.perSecond),
        direct_cpu_us: round1(median(directs.map((phase) => phase.cpuMicros))),
        broker_cpu_us: round1(median(brokers.map((phase) => phase.cpuMicros))),
        relay_cpu_us: round1(median(relays.map((phase) => phase.cpuMicros))),
        kafka_cpu_us: round1(median(directs.map((phase) => phase.kafkaMicros))),
        // Median share of a core of each party (where a phase's limit lies): path processes in the order of the header comment.
        cores: { relay: cores(relays, ['mosquitto', 'subscriber']), direct: cores(directs, ['bridge']), broker: cores(brokers, ['mosquitto', 'bridge']) },
        ratios: { direct: ratios.direct.map(round3), broker: ratios.broker.map(round3) },
        lost,
        publisher: options.publisher,
        messages: options.messages,
        connections: options.connections,
        load: loadavg().map(round1),
      }),
    );
  } finally {
    await Promise.allSettled([devices.close(), publisher.close()]);
    await Promise.allSettled([direct.stop(), broker.stop()]);
    await killAllBridges();
    await deleteTopics(config.kafka, [topics.readings, topics.deadLetter]);
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  say(JSON.stringify({ bench: 'edge', lost: null, passed: false, reasons: [error instanceof Error ? error.message : String(error)] }));
  process.exitCode = 1;
}
