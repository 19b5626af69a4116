import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClient } from '@clickhouse/client';
import mqtt from 'mqtt';
import { roleCredentials } from '../../src/clickhouse/roles.ts';
import { ensureTopics } from '../../src/kafka/admin.ts';
import { ReadingsConsumer } from '../../src/kafka/consumer.ts';
import { recordText } from '../../src/kafka/record-batch.ts';
import { testConfig, uniqueName } from '../support/stack.ts';
import { connectRawProducer } from '../support/raw-producer.ts';

const config = testConfig();

test('a message sent by the idempotent producer is consumed back', async () => {
  const topic = uniqueName('smoke');
  await ensureTopics(config.kafka, [{ topic, partitions: 2, replicationFactor: config.kafka.replicationFactor }]);
  const producer = await connectRawProducer(config.kafka, {
    'enable.idempotence': true,
    acks: 'all',
    dr_cb: true,
  });
  producer.setPollInterval(10);
  const delivered = new Promise<number>((resolve, reject) =>
    producer.once('delivery-report', (error, report) => (error ? reject(error) : resolve(report.offset))),
  );
  producer.produce(topic, null, Buffer.from('hello kafka'), 'device-1');
  assert.ok((await delivered) >= 0);
  producer.disconnect();

  const consumer = new ReadingsConsumer({
    connection: config.kafka,
    groupId: uniqueName('smoke-group'),
    clientId: 'smoke',
    topic,
    sessionTimeoutMs: 6000,
    isolation: 'read_committed',
    autoCommit: false,
    onAssigned: async () => new Map(),
    onRevoked: () => undefined,
    onError: (error) => assert.fail(error.message),
  });
  await consumer.connect();
  consumer.setConsumeTimeout(200);
  const deadline = Date.now() + 20_000;
  let received: string | undefined;
  while (!received && Date.now() < deadline) {
    const batch = await consumer.consume(10);
    received = batch.count > 0 ? (recordText(batch, 0) ?? undefined) : undefined;
  }
  await consumer.disconnect();
  assert.equal(received, 'hello kafka');
});

test('a row inserted with @clickhouse/client is read back', async () => {
  const client = createClient({ url: config.clickhouse.url, ...roleCredentials(config.clickhouse, 'admin') });
  const table = `smoke_${process.pid}_${Date.now()}`;
  try {
    await client.command({ query: `CREATE TABLE default.${table} (id UInt64, device String) ENGINE = MergeTree ORDER BY id` });
    await client.insert({ table: `default.${table}`, values: [{ id: 7, device: 'sensor-7' }], format: 'JSONEachRow' });
    const rows = await (await client.query({ query: `SELECT id, device FROM default.${table}`, format: 'JSONEachRow' })).json();
    assert.deepEqual(rows, [{ id: '7', device: 'sensor-7' }]);
  } finally {
    await client.command({ query: `DROP TABLE IF EXISTS default.${table}` });
    await client.close();
  }
});

function connect(options: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(config.mqtt.url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options });
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
  });
}

test('a QoS 1 message crosses Mosquitto', async () => {
  const receiver = await connect({ username: 'probe', password: 'probe-secret', clientId: uniqueName('rx') });
  const sender = await connect({ username: 'probe', password: 'probe-secret', clientId: uniqueName('tx') });
  try {
    const topic = `health/${uniqueName('qos1')}`;
    await receiver.subscribeAsync(topic, { qos: 1 });
    const arrived = new Promise<{ payload: string; qos: number }>((resolve) =>
      receiver.once('message', (_topic, payload, packet) => resolve({ payload: payload.toString(), qos: packet.qos })),
    );
    // publishAsync resolves once the broker's PUBACK arrived (QoS 1) and rejects on an error reason code.
    await sender.publishAsync(topic, 'ping', { qos: 1 });
    assert.deepEqual(await arrived, { payload: 'ping', qos: 1 });
  } finally {
    receiver.end(true);
    sender.end(true);
  }
});

test('an unauthenticated client is refused', async () => {
  await assert.rejects(connect({ clientId: uniqueName('anon') }), (error: Error & { code?: number }) => {
    // MQTT 5 CONNACK reason 135 (not authorized) or 134 (bad user name or password).
    return error.code === 135 || error.code === 134;
  });
  await assert.rejects(connect({ username: 'sensor-1', password: 'wrong', clientId: uniqueName('bad') }));
});

test('a device may publish only under its own topic (ACL)', async () => {
  const device = await connect({ username: 'sensor-1', password: 'sensor-1-secret', clientId: uniqueName('sensor-1') });
  try {
    await device.publishAsync('telemetry/acme/sensor-1', '{}', { qos: 1 });
    // MQTT 5 PUBACK reason 135: not authorized.
    await assert.rejects(device.publishAsync('telemetry/acme/sensor-2', '{}', { qos: 1 }), (error: Error & { code?: number }) => error.code === 135);
  } finally {
    device.end(true);
  }
});
