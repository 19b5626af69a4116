/**
 * `node --import tsx loadtest/edge/tls-cost.ts [--messages N] [--rounds N] [--connects N]`: what TLS
 * costs the bridge's direct MQTT endpoint, measured in one run on the local stack. Two bridges, one
 * plaintext (edge.tls.mode 'plaintext') and one with TLS (the certificates of a private copy of the
 * local CA), take the same QoS 1 single-reading messages (PUBACK after Kafka's ack) in alternating
 * rounds; each TLS round is divided by the mean of the plaintext rounds beside it. Then the cost of
 * a connection: CONNECT to CONNACK, one after another, each way. Ends with one JSON line:
 *   {"bench":"edge-tls","throughput_ratio":…,"plain_readings_per_s":…,"tls_readings_per_s":…,
 *    "plain_cpu_us":…,"tls_cpu_us":…,"plain_connect_ms":…,"tls_connect_ms":…,"lost":…}
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { writeCredentialFile } from '../../src/stack/device-credentials.ts';
import { eventually, startService } from '../../src/stack/services.ts';
import { fetchText } from '../../src/stack/tls-client.ts';
import { ensureLocalTls, localTlsFiles } from '../../src/stack/tls.ts';
import { createTopics, deleteTopics, freePort, killAllBridges, readTopic, startBridge, testConfig, uniqueName } from '../support/edge-harness.ts';
import { directPhase } from './direct-phase.ts';
import { MqttJsPublisher, singleReadings, type Phase } from './publish.ts';

const positive = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError('expected a whole number of at least 1');
  return parsed;
};
const options = new Command('edge-tls-cost')
  .option('--messages <n>', 'single-reading messages per round of each bridge', positive, 30_000)
  .option('--rounds <n>', 'rounds of plaintext and TLS (then a last plaintext one)', positive, 3)
  .option('--warmup <n>', 'messages through each bridge before the rounds', positive, 20_000)
  .option('--connections <n>', 'publisher connections per bridge', positive, 4)
  .option('--window <n>', 'unacknowledged publishes per connection', positive, 1000)
  .option('--connects <n>', 'sequential CONNECT → CONNACK per bridge for the connection cost', positive, 200)
  .parse()
  .opts<{ messages: number; rounds: number; warmup: number; connections: number; window: number; connects: number }>();

const config = testConfig();
const run = uniqueName('bench-tls');
const tenant = run.replace(/[^A-Za-z0-9_-]/g, '_');
const topics = { readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
const prefix = `${config.mqtt.topicPrefix}/${tenant}`;
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const report = (name: string, phase: Phase): void =>
  say(`${name.padEnd(16)} ${Math.round(phase.perSecond).toString().padStart(8)} readings/s  ${phase.cpuMicros.toFixed(1).padStart(6)} µs CPU/reading (bridge)  (${phase.readings} in ${phase.seconds.toFixed(2)} s)`);

function connect(url: string, clientId: string, ca: Buffer | undefined): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 5, clientId, username: 'fleet', password: 'fleet-secret', reconnectPeriod: 0, log: () => undefined, ...(ca ? { ca } : {}) } as mqtt.IClientOptions);
}

/** Mean milliseconds from opening a connection to its CONNACK (TCP, and TLS when asked), one after another. */
async function connectCost(url: string, ca: Buffer | undefined, tag: string): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < options.connects; i++) await (await connect(url, `${run}-${tag}-c${i}`, ca)).endAsync(true);
  return Number(process.hrtime.bigint() - started) / 1e6 / options.connects;
}

async function main(): Promise<void> {
  say(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`);
  const dir = mkdtempSync(join(tmpdir(), 'bench-tls-'));
  const stack = { ...config.stack, dataDir: dir };
  ensureLocalTls(stack);
  const files = localTlsFiles(stack);
  const ca = readFileSync(files.caFile);
  const credentials = join(dir, 'devices');
  writeCredentialFile(credentials, [{ username: 'fleet', password: 'fleet-secret', tenant, device: '*' }]);
  await createTopics(config.kafka, [
    { topic: topics.readings, partitions: config.kafka.partitions },
    { topic: topics.deadLetter, partitions: 1 },
  ]);
  const common = { TP_KAFKA__BROKERS: config.kafka.brokers.join(','), TP_KAFKA__READINGS_TOPIC: topics.readings, TP_KAFKA__DEAD_LETTER_TOPIC: topics.deadLetter, TP_LOG__LEVEL: 'warn', TP_MQTT__MODE: 'direct', TP_MQTT__CREDENTIALS_FILE: credentials };
  const [plainPort, tlsPort, tlsHttpPort] = [await freePort(), await freePort(), await freePort()];
  // The harness's bridge is plaintext by its explicit setting; the TLS one gets the private CA's files.
  const plain = await startBridge({ ...common, TP_MQTT__LISTEN__PORT: String(plainPort), TP_MQTT__CLIENT_ID_PREFIX: `${run}-plain` });
  const secure = startService('bridge-tls', 'edge/main.ts', {
    ...common,
    TP_MQTT__LISTEN__PORT: String(tlsPort),
    TP_MQTT__CLIENT_ID_PREFIX: `${run}-tls`,
    TP_EDGE__HTTP_PORT: String(tlsHttpPort),
    TP_EDGE__TLS__MODE: 'required',
    TP_EDGE__TLS__CERT_FILE: files.certFile,
    TP_EDGE__TLS__KEY_FILE: files.keyFile,
  });
  await eventually('TLS bridge ready', async () => ((await fetchText(`https://127.0.0.1:${tlsHttpPort}/readyz`, { ca }).catch(() => null))?.ok ? true : undefined), 60_000);
  const plainDevices = await Promise.all(Array.from({ length: options.connections }, (_, i) => connect(`mqtt://127.0.0.1:${plainPort}`, `${run}-plain-${i}`, undefined)));
  const tlsDevices = await Promise.all(Array.from({ length: options.connections }, (_, i) => connect(`mqtts://127.0.0.1:${tlsPort}`, `${run}-tls-${i}`, ca)));
  const plainPublisher = new MqttJsPublisher(plainDevices);
  const tlsPublisher = new MqttJsPublisher(tlsDevices);
  try {
    const phase = (tls: boolean, tag: string, count: number): Promise<Phase> =>
      directPhase(tls ? tlsPublisher : plainPublisher, { path: [tls ? secure.pid : plain.child.pid!], kafka: [] }, singleReadings(prefix, tag, count), 1, options.window);
    report('warm-up plain', await phase(false, 'warm-plain', options.warmup));
    report('warm-up tls', await phase(true, 'warm-tls', options.warmup));
    const plains: Phase[] = [];
    const secures: Phase[] = [];
    for (let round = 1; round <= options.rounds; round++) {
      plains.push(await phase(false, `plain${round}`, options.messages));
      report(`plain ${round}`, plains.at(-1)!);
      secures.push(await phase(true, `tls${round}`, options.messages));
      report(`tls ${round}`, secures.at(-1)!);
    }
    plains.push(await phase(false, 'plain-last', options.messages));
    report(`plain ${options.rounds + 1}`, plains.at(-1)!);
    const ratios = secures.map((phase, i) => phase.perSecond / ((plains[i]!.perSecond + plains[i + 1]!.perSecond) / 2));
    const plainConnectMs = await connectCost(`mqtt://127.0.0.1:${plainPort}`, undefined, 'plain');
    const tlsConnectMs = await connectCost(`mqtts://127.0.0.1:${tlsPort}`, ca, 'tls');
    say(`connection (CONNECT → CONNACK, one after another, ${options.connects} each): plaintext ${plainConnectMs.toFixed(2)} ms, TLS ${tlsConnectMs.toFixed(2)} ms`);

    const expected = 2 * options.warmup + (2 * options.rounds + 1) * options.messages;
    const ids = new Set<string>();
    for (const message of await readTopic(config.kafka, topics.readings)) {
      const decoded = decodeRecord(message.value!);
      if (decoded.ok) for (const reading of decoded.readings) ids.add(reading.id);
    }
    say(`ratio by round (TLS / mean of the plaintext rounds beside it): ${ratios.map((r) => r.toFixed(3)).join(', ')}`);
    say(
      JSON.stringify({
        bench: 'edge-tls',
        throughput_ratio: Number(median(ratios).toFixed(3)),
        plain_readings_per_s: Math.round(median(plains.map((p) => p.perSecond))),
        tls_readings_per_s: Math.round(median(secures.map((p) => p.perSecond))),
        plain_cpu_us: Number(median(plains.map((p) => p.cpuMicros)).toFixed(1)),
        tls_cpu_us: Number(median(secures.map((p) => p.cpuMicros)).toFixed(1)),
        plain_connect_ms: Number(plainConnectMs.toFixed(2)),
        tls_connect_ms: Number(tlsConnectMs.toFixed(2)),
        lost: expected - ids.size,
        messages: options.messages,
        connections: options.connections,
        load: loadavg().map((l) => Number(l.toFixed(1))),
      }),
    );
  } finally {
    await Promise.allSettled([plainPublisher.close(), tlsPublisher.close()]);
    secure.signal('SIGTERM');
    await Promise.allSettled([plain.stop(), secure.exited]);
    await killAllBridges();
    await deleteTopics(config.kafka, [topics.readings, topics.deadLetter]);
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await main();
  process.exit(0);
} catch (error) {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
}
