import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate, type Packet } from 'mqtt-packet';
import { connected, device, setupEndpoint, waitFor } from '../support/mqtt-endpoint.ts';

/**
 * The direct endpoint's packet handling over an in-memory socket, with the real publisher, flow
 * control and ack queue; the Kafka producer is replaced by a sink whose delivery reports the test
 * hands out in any order it likes.
 */
const setup = (listen: Record<string, unknown> = {}) => setupEndpoint({ listen });

const reading = (id: string) => JSON.stringify({ id, ts: Date.now(), metrics: { t: 1 } });
const publish = (messageId: number, qos: 0 | 1 | 2, topic = 'telemetry/acme/d1', payload = reading(`r${messageId}`)): Packet => ({ cmd: 'publish', messageId, qos, dup: false, retain: false, topic, payload });

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 4 ? '3.1.1' : '5'}: QoS 1 and 2 mixed, settled out of order: no ack before Kafka's, acks in arrival order`, async () => {
    const { server, sink } = setup();
    const client = await connected(server, version);
    const qos = [1, 2, 1, 2, 1] as const;
    qos.forEach((level, index) => client.send(publish(index + 1, level)));
    await waitFor(() => sink.records.length === 5);
    assert.deepEqual(client.acks(), [], 'nothing acknowledged before Kafka acknowledged');
    for (const index of [4, 2, 3]) sink.deliver(index);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(client.acks(), [], 'later messages wait for the first one');
    sink.deliver(0);
    await waitFor(() => client.acks().length === 1);
    assert.deepEqual(client.acks(), [['puback', 1, 0]], 'the first goes; the second still waits for Kafka');
    sink.deliver(1);
    await waitFor(() => client.acks().length === 5);
    assert.deepEqual(client.acks(), [['puback', 1, 0], ['pubrec', 2, 0], ['puback', 3, 0], ['pubrec', 4, 0], ['puback', 5, 0]]);

    // QoS 2: a resend of a PUBREC'd message is not published again; PUBREL completes it.
    client.send({ ...publish(2, 2), dup: true } as Packet);
    await waitFor(() => client.acks().length === 6);
    assert.equal(sink.records.length, 5, 'the duplicate QoS 2 message went nowhere');
    client.send({ cmd: 'pubrel', messageId: 2 } as Packet);
    client.send({ cmd: 'pubrel', messageId: 4 } as Packet);
    await waitFor(() => client.packets().filter((packet) => packet.cmd === 'pubcomp').length === 2);
    client.send({ ...publish(2, 2), dup: true } as Packet);
    await waitFor(() => sink.records.length === 6);
    assert.ok(true, 'after PUBCOMP the id is free: a new message with it is published');
  });

  test(`MQTT ${version === 4 ? '3.1.1' : '5'}: a message Kafka failed is never acknowledged; the connection is closed so the device resends`, async () => {
    const { server, sink } = setup();
    const client = await connected(server, version);
    client.send(publish(1, 1));
    client.send(publish(2, 1));
    await waitFor(() => sink.records.length === 2);
    sink.deliver(1);
    sink.deliver(0, new Error('delivery timed out'));
    await waitFor(() => client.socket.destroyed || client.socket.ended);
    assert.deepEqual(client.acks(), []);
    if (version === 5) assert.equal((client.packets().find((packet) => packet.cmd === 'disconnect') as { reasonCode?: number } | undefined)?.reasonCode, 0x89);
  });
}

test('MQTT 5: receive maximum is announced and enforced (0x93); MQTT 3.1.1 at the limit is not read', async () => {
  const { server, sink } = setup({ receiveMaximum: 3 });
  const v5 = await connected(server, 5);
  const connack = v5.packets().find((packet) => packet.cmd === 'connack') as { properties?: { receiveMaximum?: number; maximumPacketSize?: number } };
  assert.equal(connack.properties?.receiveMaximum, 3);
  for (let id = 1; id <= 3; id++) v5.send(publish(id, 1));
  await waitFor(() => sink.records.length === 3);
  assert.equal(v5.socket.paused, true, 'at the limit the socket is not read');
  sink.deliver(0);
  await waitFor(() => v5.acks().length === 1);
  assert.equal(v5.socket.paused, false, 'a PUBACK frees a place');
  v5.send(publish(4, 1));
  v5.send(publish(5, 1));
  await waitFor(() => v5.packets().some((packet) => packet.cmd === 'disconnect'));
  assert.equal((v5.packets().find((packet) => packet.cmd === 'disconnect') as { reasonCode?: number }).reasonCode, 0x93);

  const v4 = await connected(server, 4);
  for (let id = 1; id <= 3; id++) v4.send(publish(id, 2));
  await waitFor(() => sink.records.length === 7);
  assert.equal(v4.socket.paused, true);
  for (let index = 4; index < 7; index++) sink.deliver(index);
  await waitFor(() => v4.acks().length === 3);
  assert.equal(v4.socket.paused, true, 'QoS 2 messages hold their places until PUBREL');
  v4.send({ cmd: 'pubrel', messageId: 1 } as Packet);
  await waitFor(() => !v4.socket.paused);
});

test('refusals: topic of another device or tenant 0x87, bad topic 0x90, invalid payload 0x99 — each dead-lettered first; MQTT 3.1.1 gets a plain PUBACK', async () => {
  const { server, sink, metrics } = setup();
  const v5 = await connected(server, 5);
  v5.send(publish(1, 1, 'telemetry/acme/d2'));
  v5.send(publish(2, 1, 'telemetry/other/d1'));
  v5.send(publish(3, 1, 'telemetry/acme'));
  v5.send(publish(4, 1, 'telemetry/acme/d1', '{"id":'));
  v5.send(publish(5, 1, 'telemetry/acme/d1', reading('fine')));
  await waitFor(() => sink.records.length === 5);
  assert.deepEqual(sink.records.map((record) => record.topic), ['dead', 'dead', 'dead', 'dead', 'readings']);
  assert.deepEqual(sink.records.slice(0, 4).map((record) => (JSON.parse(record.value.toString()) as { reason: string }).reason), ['device-mismatch', 'tenant-mismatch', 'bad-topic', 'malformed-json']);
  assert.deepEqual(v5.acks(), [], 'a refusal is answered only once its dead letter is in Kafka');
  for (let index = 0; index < 5; index++) sink.deliver(index);
  await waitFor(() => v5.acks().length === 5);
  assert.deepEqual(v5.acks(), [['puback', 1, 0x87], ['puback', 2, 0x87], ['puback', 3, 0x90], ['puback', 4, 0x99], ['puback', 5, 0]]);
  const text = await metrics.registry.metrics();
  assert.match(text, /tp_edge_mqtt_direct_refusals_total\{reason_code="0x87",packet="publish"\} 2/);

  const v4 = await connected(server, 4);
  v4.send(publish(1, 1, 'telemetry/other/d1'));
  await waitFor(() => sink.records.length === 6);
  sink.deliver(5);
  await waitFor(() => v4.acks().length === 1);
  assert.deepEqual(v4.acks(), [['puback', 1, 0]]);
});

test('CONNECT: wrong password refused (0x86 / return code 4); SUBSCRIBE refused (0x87, 0x9E for $share, 0x80 in 3.1.1); takeover closes the first', async () => {
  const { server } = setup();
  for (const version of [4, 5] as const) {
    const client = device(server, version);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: 'x', clean: true, keepalive: 30, username: 'd1', password: Buffer.from('wrong') } as Packet);
    await waitFor(() => client.packets().some((packet) => packet.cmd === 'connack'));
    const connack = client.packets()[0] as { returnCode?: number; reasonCode?: number };
    assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, version === 5 ? 0x86 : 4);
    assert.equal(client.socket.ended || client.socket.destroyed, true);
  }
  const v5 = await connected(server, 5);
  v5.send({ cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: 'telemetry/#', qos: 1 }, { topic: '$share/bridges/telemetry/+/+', qos: 1 }] } as Packet);
  const v4 = await connected(server, 4);
  v4.send({ cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: 'telemetry/#', qos: 1 }] } as Packet);
  await waitFor(() => v5.packets().some((packet) => packet.cmd === 'suback') && v4.packets().some((packet) => packet.cmd === 'suback'));
  assert.deepEqual((v5.packets().find((packet) => packet.cmd === 'suback') as { granted: number[] }).granted, [0x87, 0x9e]);
  assert.deepEqual((v4.packets().find((packet) => packet.cmd === 'suback') as { granted: number[] }).granted, [0x80]);

  const first = device(server, 5);
  const second = device(server, 5);
  const connect = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'same', clean: true, keepalive: 30, username: 'd1', password: Buffer.from('pw') } as Packet;
  first.send(connect);
  await waitFor(() => first.packets().some((packet) => packet.cmd === 'connack'));
  second.send(connect);
  await waitFor(() => first.packets().some((packet) => packet.cmd === 'disconnect'));
  assert.equal((first.packets().find((packet) => packet.cmd === 'disconnect') as { reasonCode?: number }).reasonCode, 0x8e);
  assert.equal(second.packets().some((packet) => packet.cmd === 'connack'), true);
});

test('a packet larger than the maximum closes the connection (MQTT 5: DISCONNECT 0x95) before it is buffered whole', async () => {
  const { server, sink } = setup({ maxPacketBytes: 2048 });
  const client = await connected(server, 5);
  const big = generate(publish(1, 1, 'telemetry/acme/d1', 'x'.repeat(100_000)), { protocolVersion: 5 });
  client.socket.emit('data', big.subarray(0, 4096));
  await waitFor(() => client.packets().some((packet) => packet.cmd === 'disconnect'));
  assert.equal((client.packets().find((packet) => packet.cmd === 'disconnect') as { reasonCode?: number }).reasonCode, 0x95);
  assert.equal(sink.records.length, 0);
});

test('keep-alive: a connection silent for 1.5 × its keep-alive is closed (MQTT 5: DISCONNECT 0x8D); one the bridge does not read is not', async () => {
  const { server, flow } = setup();
  const client = device(server, 5);
  client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'quiet', clean: true, keepalive: 1, username: 'd1', password: Buffer.from('pw') } as Packet);
  await waitFor(() => client.packets().some((packet) => packet.cmd === 'connack'));
  const connected = Date.now();
  await waitFor(() => client.packets().some((packet) => packet.cmd === 'disconnect'), 4000);
  assert.ok(Date.now() - connected >= 1400, `closed after ${Date.now() - connected} ms`);
  assert.equal((client.packets().find((packet) => packet.cmd === 'disconnect') as { reasonCode?: number }).reasonCode, 0x8d);

  const held = device(server, 5);
  held.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'held', clean: true, keepalive: 1, username: 'd1', password: Buffer.from('pw') } as Packet);
  await waitFor(() => held.packets().some((packet) => packet.cmd === 'connack'));
  flow.setKafkaAvailable(false, 'test: Kafka away');
  assert.equal(held.socket.paused, true, 'not read while Kafka is away');
  const watchUntil = Date.now() + 2500;
  while (Date.now() < watchUntil && !held.socket.destroyed) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(held.socket.destroyed, false, 'a connection we do not read is not timed out');
  flow.setKafkaAvailable(true, 'test: Kafka back');
  assert.equal(held.socket.paused, false);
});

test('QoS 2 session: PUBREL of a message PUBREC’d on the previous connection completes on the next (clean start off); a clean start forgets it (0x92)', async () => {
  const { server, sink } = setup();
  const connect = (clean: boolean): Packet =>
    ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'persistent', clean, keepalive: 30, username: 'd1', password: Buffer.from('pw'), properties: { sessionExpiryInterval: 60 } }) as Packet;
  const first = device(server, 5);
  first.send(connect(false));
  await waitFor(() => first.packets().some((packet) => packet.cmd === 'connack'));
  first.send(publish(7, 2));
  first.send(publish(8, 2));
  await waitFor(() => sink.records.length === 2);
  sink.deliver(0);
  sink.deliver(1);
  await waitFor(() => first.acks().length === 2);
  first.socket.destroy();

  const second = device(server, 5);
  second.send(connect(false));
  await waitFor(() => second.packets().some((packet) => packet.cmd === 'connack'));
  assert.equal((second.packets()[0] as { sessionPresent: boolean }).sessionPresent, true);
  second.send({ cmd: 'pubrel', messageId: 7 } as Packet);
  await waitFor(() => second.packets().some((packet) => packet.cmd === 'pubcomp'));
  assert.equal((second.packets().find((packet) => packet.cmd === 'pubcomp') as { reasonCode?: number }).reasonCode ?? 0, 0);
  second.socket.destroy();

  const third = device(server, 5);
  third.send(connect(true));
  await waitFor(() => third.packets().some((packet) => packet.cmd === 'connack'));
  assert.equal((third.packets()[0] as { sessionPresent: boolean }).sessionPresent, false);
  third.send({ cmd: 'pubrel', messageId: 8 } as Packet);
  await waitFor(() => third.packets().some((packet) => packet.cmd === 'pubcomp'));
  assert.equal((third.packets().find((packet) => packet.cmd === 'pubcomp') as { reasonCode?: number }).reasonCode, 0x92);
});

test('the connection cap: a CONNECT beyond mqtt.listen.maxConnections gets 0x97 (MQTT 3.1.1: return code 3)', async () => {
  const { server } = setup({ maxConnections: 1 });
  await connected(server, 5);
  for (const version of [5, 4] as const) {
    const refused = device(server, version);
    refused.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `over-${version}`, clean: true, keepalive: 30, username: 'd1', password: Buffer.from('pw') } as Packet);
    await waitFor(() => refused.packets().some((packet) => packet.cmd === 'connack'));
    const connack = refused.packets()[0] as { returnCode?: number; reasonCode?: number };
    assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, version === 5 ? 0x97 : 3);
  }
});
