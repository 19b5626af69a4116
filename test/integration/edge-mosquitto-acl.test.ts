import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { privateMosquitto, type PrivateMosquitto } from '../support/private-mosquitto.ts';
import { bridgeEnv, createTopics, deleteTopics, eventually, killAllBridges, readTopic, startBridge, testConfig, uniqueName } from './edge-harness.ts';

/**
 * Broker mode: only the bridge account may subscribe. A device that subscribes to the bridges'
 * `$share` group would join it and be handed its share of every device's messages — which
 * Mosquitto then drops on the device's read ACL: acknowledged readings lost, no dead letter, no
 * metric. Mosquitto 2.0.11's acl_file cannot refuse a subscription (its check answers "allowed"
 * for every SUBSCRIBE), so the local stack's broker uses the dynamic-security plugin, whose
 * default denies subscriptions.
 *
 * Runs its own Mosquitto (test/support/private-mosquitto.ts: the local stack's exact
 * configuration, on a free port with a temporary data directory); Kafka is the local stack's.
 */
const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('edge-mosq-acl');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
let broker: PrivateMosquitto;
const opened: MqttClient[] = [];

before(async () => {
  broker = await privateMosquitto('edge-mosq-acl');
  await createTopics(kafka, [
    { topic: names.readings, partitions: 2 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
});

after(async () => {
  await Promise.all(opened.map((client) => client.endAsync(true)));
  await killAllBridges();
  await broker?.remove();
  await deleteTopics(kafka, [names.readings, names.deadLetter]);
});

async function connect(username: string, protocolVersion: 4 | 5): Promise<{ client: MqttClient; subacks: number[][]; received: string[] }> {
  const client = mqtt.connect(broker.url, { protocolVersion, username, password: `${username}-secret`, clientId: uniqueName(`acl-${username}`), reconnectPeriod: 0 });
  opened.push(client);
  const subacks: number[][] = [];
  const received: string[] = [];
  // The reason codes as the broker sent them (mqtt.js turns a refusal into an error without them).
  client.on('packetreceive', (packet) => {
    if (packet.cmd === 'suback') subacks.push([...(packet.granted as number[])]);
  });
  client.on('message', (topic) => received.push(topic));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return { client, subacks, received };
}

/** Subscribes and returns the SUBACK reason code (granted QoS 0-2, or a refusal ≥ 0x80). */
async function subscribeCode(peer: { client: MqttClient; subacks: number[][] }, topic: string): Promise<number> {
  const before = peer.subacks.length;
  // A refusal rejects the promise; its reason code, read from the SUBACK below, is what the caller asserts.
  await peer.client.subscribeAsync(topic, { qos: 1 }).catch(() => undefined);
  await eventually(async () => peer.subacks.length, (count) => count > before, 5000, 20);
  return peer.subacks[before]![0]!;
}

test('device and fleet accounts cannot subscribe (MQTT 5: 0x87, MQTT 3.1.1: 0x80); no acknowledged reading is handed to them', { timeout: 120_000 }, async () => {
  const bridge = await startBridge(bridgeEnv(config, names, { TP_MQTT__URL: broker.url, TP_MQTT__MODE: 'broker' }));
  const share = `$share/${names.run}/${config.mqtt.topicPrefix}/+/+`;
  const attempts = [share, `${config.mqtt.topicPrefix}/#`, '#', `${config.mqtt.topicPrefix}/acme/sensor-1`];
  const accounts = [
    ['sensor-1', 5, 0x87],
    ['sensor-2', 4, 0x80],
    ['fleet', 5, 0x87],
  ] as const;
  const codes = new Map<string, { code: number; refusal: number }>();
  const intruders = [];
  for (const [username, version, refusal] of accounts) {
    const peer = await connect(username, version);
    intruders.push(peer);
    for (const topic of attempts) codes.set(`${username} (MQTT ${version === 5 ? '5' : '3.1.1'}) → ${topic}`, { code: await subscribeCode(peer, topic), refusal });
  }

  // The device publishes 100 readings at QoS 1; every PUBACK must be a plain success.
  const device = await connect('sensor-1', 5);
  const pubackCodes: number[] = [];
  device.client.on('packetreceive', (packet) => {
    if (packet.cmd === 'puback') pubackCodes.push(packet.reasonCode ?? 0);
  });
  const now = Date.now();
  for (let seq = 0; seq < 100; seq++) {
    await device.client.publishAsync(`${config.mqtt.topicPrefix}/acme/sensor-1`, JSON.stringify({ seq, ts: now, metrics: { t: seq } }), { qos: 1 });
  }
  assert.equal(pubackCodes.length, 100);
  assert.deepEqual([...new Set(pubackCodes)], [0], 'every reading acknowledged as delivered');
  // A device still publishes only under its own name.
  // The refusal rejects the promise; the PUBACK's reason code is asserted on the next line.
  await device.client.publishAsync(`${config.mqtt.topicPrefix}/acme/sensor-2`, JSON.stringify({ seq: 0, ts: now, metrics: { t: 0 } }), { qos: 1 }).catch(() => undefined);
  assert.equal(pubackCodes.at(-1), 0x87, "publishing under another device's name is refused (0x87)");

  const ids = await eventually(
    async () => {
      const found = new Set<string>();
      for (const message of await readTopic(kafka, names.readings)) {
        const decoded = decodeRecord(message.value!);
        if (decoded.ok) for (const reading of decoded.readings) if (reading.device === 'sensor-1') found.add(reading.id);
      }
      return found;
    },
    (found) => found.size >= 100,
    30_000,
    500,
  );
  const granted = [...codes].filter(([, { code, refusal }]) => code !== refusal).map(([attempt, { code }]) => `${attempt}: 0x${code.toString(16)}`);
  const handed = intruders.flatMap((peer) => peer.received).length;
  assert.equal(ids.size, 100, `all 100 acknowledged readings reached Kafka (found ${ids.size}; ${handed} handed to intruders; not refused: ${granted.join(', ')})`);
  assert.equal(handed, 0, 'no message was handed to a device or fleet account');
  assert.deepEqual(granted, [], 'every subscription attempt of a device or fleet account was refused with its reason code');
  const metrics = await (await fetch(`${bridge.url}/metrics`)).text();
  assert.match(metrics, /^tp_edge_mqtt_unmatched_pubacks_total 0$/m, 'every PUBACK the bridge released was one it held');
  await bridge.stop();
});

test('the bridge account may subscribe to its share group only', { timeout: 30_000 }, async () => {
  const peer = await connect('bridge', 5);
  assert.equal(await subscribeCode(peer, `$share/${uniqueName('g')}/${config.mqtt.topicPrefix}/+/+`), 1, 'its shared subscription is granted at QoS 1');
  assert.equal(await subscribeCode(peer, `${config.mqtt.topicPrefix}/#`), 0x87, 'a plain subscription is refused: it would take every message outside the group');
  assert.equal(await subscribeCode(peer, '#'), 0x87);
});
