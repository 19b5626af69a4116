import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { directEndpoint, type DirectEndpoint } from '../support/direct-bridge.ts';
import { bridgeMetric, createTopics, deleteTopics, eventually, killAllBridges, readTopic, testConfig, uniqueName, type BridgeProcess } from './edge-harness.ts';

/**
 * Will messages on the direct endpoint against the real Kafka, with clients nobody here wrote
 * (mqtt.js, mosquitto_pub): a device that drops its connection without DISCONNECT has its will
 * taken in as its own PUBLISH would be (its reading in the readings topic, or a dead letter); a
 * clean DISCONNECT leaves nothing; MQTT 5 DISCONNECT 0x04 publishes it; a will on a topic the
 * account may not publish on is refused at CONNECT.
 */
const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('will');
const names = { readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
const tenant = run.replace(/[^A-Za-z0-9_-]/g, '_');
let endpoint: DirectEndpoint;
let bridge: BridgeProcess;

before(async () => {
  await createTopics(kafka, [
    { topic: names.readings, partitions: 2 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
  endpoint = await directEndpoint({
    brokers: kafka.brokers,
    readingsTopic: names.readings,
    deadLetterTopic: names.deadLetter,
    accounts: [{ username: 'gw', password: 'gw-secret', tenant, device: '*' }],
  });
  bridge = await endpoint.start();
});

after(async () => {
  await killAllBridges();
  await deleteTopics(kafka, [names.readings, names.deadLetter]);
});

const topicOf = (device: string): string => `telemetry/${tenant}/${device}`;
const reading = (id: string): string => JSON.stringify({ id, ts: Date.now(), metrics: { online: 0 } });

function connect(options: IClientOptions): Promise<MqttClient> {
  return endpoint.connect({ username: 'gw', password: 'gw-secret' }, { reconnectPeriod: 0, ...options });
}

/** Reading ids in the readings topic, by device. */
async function readingIds(device: string): Promise<string[]> {
  const ids: string[] = [];
  for (const record of await readTopic(kafka, names.readings)) {
    const decoded = decodeRecord(record.value!);
    if (decoded.ok) for (const one of decoded.readings) if (one.device === device) ids.push(one.id);
  }
  return ids;
}

/** Drops the TCP connection the way a device losing power or network does: no DISCONNECT. */
async function dropSocket(client: MqttClient): Promise<void> {
  const closed = new Promise<void>((resolve) => client.stream.once('close', () => resolve()));
  client.stream.destroy();
  await closed;
  client.end(true);
}

const wills = (event: string): Promise<number> => bridgeMetric(bridge, new RegExp(`^tp_edge_mqtt_direct_wills_total\\{event="${event}"\\}`));

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 4 ? '3.1.1' : '5'} (mqtt.js): a device that drops its connection has its will's reading in Kafka`, async () => {
    const device = `dropped-v${version}`;
    const client = await connect({ protocolVersion: version, clientId: uniqueName(device), will: { topic: topicOf(device), payload: Buffer.from(reading(`${device}-will`)), qos: 1, retain: false } });
    await client.publishAsync(topicOf(device), reading(`${device}-1`), { qos: 1 });
    await dropSocket(client);
    const ids = await eventually(() => readingIds(device), (found) => found.includes(`${device}-will`), 30_000);
    assert.deepEqual(ids, [`${device}-1`, `${device}-will`], 'the will follows the last reading, in the same partition');
  });
}

test('a clean DISCONNECT leaves no will in Kafka (a later reading of the same device is there, the will is not)', async () => {
  const device = 'graceful';
  const discardedBefore = await wills('discarded');
  const client = await connect({ clientId: uniqueName(device), will: { topic: topicOf(device), payload: Buffer.from(reading(`${device}-will`)), qos: 1, retain: false } });
  await client.endAsync();
  const discarded = await eventually(() => wills('discarded'), (n) => n > discardedBefore, 10_000, 100);
  assert.equal(discarded, discardedBefore + 1, 'the bridge discarded the will on the DISCONNECT');
  // Same device, same key, same partition: a reading sent after the end arrives after anything the end produced.
  const after = await connect({ clientId: uniqueName(device) });
  await after.publishAsync(topicOf(device), reading(`${device}-after`), { qos: 1 });
  await after.endAsync();
  const ids = await eventually(() => readingIds(device), (found) => found.includes(`${device}-after`), 30_000);
  assert.deepEqual(ids, [`${device}-after`]);
});

test('MQTT 5 DISCONNECT 0x04 (disconnect with will message) publishes the will', async () => {
  const device = 'with-will';
  const client = await connect({ clientId: uniqueName(device), will: { topic: topicOf(device), payload: Buffer.from(reading(`${device}-will`)), qos: 1, retain: false } });
  await new Promise<void>((resolve) => client.end(false, { reasonCode: 0x04 }, () => resolve()));
  const ids = await eventually(() => readingIds(device), (found) => found.includes(`${device}-will`), 30_000);
  assert.deepEqual(ids, [`${device}-will`]);
});

test('mosquitto_pub --will-topic, killed (SIGKILL) while connected: its will is in Kafka', async () => {
  const device = 'mosquitto-pub';
  const child = spawn(
    'mosquitto_pub',
    ['-h', '127.0.0.1', '-p', String(endpoint.port), '-V', 'mqttv5', '-u', 'gw', '-P', 'gw-secret', '-i', uniqueName(device), '-t', topicOf(device), '-l', '-q', '1',
      '--will-topic', topicOf(device), '--will-payload', reading(`${device}-will`), '--will-qos', '1'],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    child.stdin!.write(`${reading(`${device}-1`)}\n`);
    // Its first reading in Kafka: connected, will accepted.
    const first = await eventually(() => readingIds(device), (found) => found.includes(`${device}-1`), 30_000);
    assert.deepEqual(first, [`${device}-1`], `mosquitto_pub connected and published ${errors}`);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
  const ids = await eventually(() => readingIds(device), (found) => found.includes(`${device}-will`), 30_000);
  assert.deepEqual(ids, [`${device}-1`, `${device}-will`]);
});

test('a will that is no valid reading is dead-lettered with its reason; a will on a topic the account may not publish on is refused at CONNECT (0x87)', async () => {
  const device = 'broken-will';
  const client = await connect({ clientId: uniqueName(device), will: { topic: topicOf(device), payload: Buffer.from('{"id":"broken'), qos: 1, retain: false } });
  await dropSocket(client);
  const letters = await eventually(
    async () => (await readTopic(kafka, names.deadLetter)).map((record) => JSON.parse(record.value!.toString()) as { reason: string; origin: string; detail: string }).filter((letter) => letter.origin === topicOf(device)),
    (found) => found.length > 0,
    30_000,
  );
  assert.deepEqual(letters.map((letter) => letter.reason), ['malformed-json']);
  assert.match(letters[0]!.detail, /^will message: /);

  const refused = mqtt.connect(endpoint.url, { protocolVersion: 5, username: 'gw', password: 'gw-secret', reconnectPeriod: 0, will: { topic: `telemetry/another-tenant/${device}`, payload: Buffer.from(reading('x')), qos: 1, retain: false } });
  const error = await new Promise<{ code?: number }>((resolve) => refused.once('error', (failure) => resolve(failure as { code?: number })));
  refused.end(true);
  assert.equal(error.code, 0x87);
  assert.ok((await wills('refused')) >= 1);
});
