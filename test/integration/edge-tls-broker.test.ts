import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { createBridge, type Bridge } from '../../edge/bridge.ts';
import { loadConfig } from '../../src/config/load.ts';
import { LOCAL_MQTT_USERS, mosquittoTlsUrl } from '../../src/stack/mosquitto.ts';
import { localTlsFiles } from '../../src/stack/tls.ts';
import { createLogger } from '../../src/util/log.ts';
import { privateMosquitto, type PrivateMosquitto } from '../support/private-mosquitto.ts';
import { createTopics, deleteTopics, eventually, freePort, readTopic, testConfig, uniqueName } from './edge-harness.ts';

/**
 * Broker mode over TLS: the local stack's Mosquitto configuration (src/stack/mosquitto.ts) on a
 * private instance has a TLS listener with the stack's CA; a device publishes to it over mqtts://
 * and the bridge, subscribed over mqtts:// and trusting the CA by edge.tls.brokerCaFile, writes
 * the reading to Kafka. The shared broker of the other tests is not touched.
 */
const kafka = testConfig().kafka;
const run = uniqueName('tlsbroker').replace(/[^A-Za-z0-9_-]/g, '_');
const readings = `${run}-readings`;
const deadLetter = `${run}-dead-letter`;
let broker: PrivateMosquitto;
let bridge: Bridge | undefined;

before(async () => {
  broker = await privateMosquitto('tls-broker');
  await createTopics(kafka, [
    { topic: readings, partitions: 1 },
    { topic: deadLetter, partitions: 1 },
  ]);
});

after(async () => {
  await bridge?.stop(5000);
  await broker?.remove();
  await deleteTopics(kafka, [readings, deadLetter]);
});

test('a device publishes to Mosquitto over TLS and the bridge, subscribed over TLS, writes the reading to Kafka', async () => {
  const files = localTlsFiles(broker.stack);
  const ca = readFileSync(files.caFile);
  const plain = mqtt.connect(mosquittoTlsUrl(broker.stack).replace('mqtts:', 'mqtt:'), { protocolVersion: 5, username: 'fleet', password: LOCAL_MQTT_USERS['fleet'], reconnectPeriod: 0, connectTimeout: 3000 });
  const plainOutcome = await new Promise<string>((resolve) => {
    plain.once('connect', () => resolve('connected'));
    plain.once('error', (error) => resolve(`error: ${error.message}`));
    plain.once('close', () => resolve('closed'));
  });
  plain.end(true);
  assert.notEqual(plainOutcome, 'connected', 'a plaintext client gets no CONNACK on the TLS listener');

  const config = loadConfig({
    env: {},
    overrides: {
      kafka: { brokers: kafka.brokers, security: kafka.security, readingsTopic: readings, deadLetterTopic: deadLetter },
      mqtt: { mode: 'broker', url: mosquittoTlsUrl(broker.stack), username: 'bridge', password: LOCAL_MQTT_USERS['bridge'], shareGroup: run, clientIdPrefix: run, sessionExpirySeconds: 30 },
      edge: { httpPort: await freePort(), tls: { mode: 'required', certFile: files.certFile, keyFile: files.keyFile, brokerCaFile: files.caFile } },
    },
  });
  bridge = createBridge(config, createLogger('edge-tls-broker-test', 'warn'));
  await bridge.start();

  const device = await mqtt.connectAsync(mosquittoTlsUrl(broker.stack), { protocolVersion: 5, username: 'fleet', password: LOCAL_MQTT_USERS['fleet'], ca, reconnectPeriod: 0 });
  try {
    await device.publishAsync(`telemetry/${run}/d1`, JSON.stringify({ id: 'tls-broker-1', ts: Date.now(), metrics: { v: 1 } }), { qos: 1 });
  } finally {
    await device.endAsync();
  }
  const values = await eventually(
    async () => (await readTopic(kafka, readings)).map((message) => message.value?.toString('latin1') ?? ''),
    (found) => found.some((value) => value.includes('tls-broker-1')),
    20_000,
  );
  assert.ok(values.some((value) => value.includes('tls-broker-1')), 'the reading published over TLS is in Kafka');
});
