import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generate, type Packet } from 'mqtt-packet';
import { get as sparkplugNamespace } from 'sparkplug-payload';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import type { MqttServer } from '../../edge/mqtt-server/server.ts';
import { sessionEndsOnReconnect, willDelayMs } from '../../edge/mqtt-server/will.ts';
import { connected, connectPacket, device, settled, setupEndpoint, waitFor, type Client, type HeldSink, type Will } from '../support/mqtt-endpoint.ts';

/**
 * Will messages on the direct endpoint, over an in-memory socket with the real publisher: a will
 * goes through the same ingest path as a PUBLISH of its connection's account (readings to Kafka,
 * refusals to the dead letter) whenever the connection ends without a DISCONNECT 0x00, honours
 * MQTT 5's Will Delay Interval bounded by the session, is refused at CONNECT when the account may
 * not publish on its topic, and a Sparkplug NDEATH will takes its node offline.
 */
const spB = sparkplugNamespace('spBv1.0')!;

const setup = (mqtt: Record<string, unknown> = {}) => setupEndpoint({ listen: { maxPacketBytes: 4096 }, mqtt });

const reading = (id: string): string => JSON.stringify({ id, ts: Date.now(), metrics: { online: 0 } });
const jsonWill = (id: string, extra: Partial<Will> = {}): Will => ({ topic: 'telemetry/acme/d1', payload: Buffer.from(reading(id)), qos: 1, retain: false, ...extra });

/** The ways a connection ends without a DISCONNECT 0x00, each of which publishes the will. */
const UNGRACEFUL: ReadonlyArray<{ readonly name: string; readonly versions: ReadonlyArray<4 | 5>; readonly keepalive?: number; end(client: Client, server: MqttServer, sink: HeldSink): Promise<void> | void }> = [
  { name: 'socket dropped', versions: [4, 5], end: (client) => void client.socket.destroy() },
  { name: 'malformed packet', versions: [4, 5], end: (client) => void client.socket.emit('data', Buffer.from([0x00, 0x00])) },
  { name: 'packet too large', versions: [4, 5], end: (client) => void client.socket.emit('data', generate({ cmd: 'publish', messageId: 1, qos: 1, dup: false, retain: false, topic: 'telemetry/acme/d1', payload: 'x'.repeat(10_000) }, { protocolVersion: client.version }).subarray(0, 64)) },
  { name: 'keep-alive timeout', versions: [4, 5], keepalive: 1, end: () => undefined },
  { name: 'second CONNECT', versions: [4, 5], end: (client) => void client.send(connectPacket(client.version, {})) },
  { name: 'DISCONNECT 0x04 (disconnect with will message)', versions: [5], end: (client) => void client.send({ cmd: 'disconnect', reasonCode: 0x04 } as Packet) },
  { name: 'DISCONNECT 0x80 (unspecified error)', versions: [5], end: (client) => void client.send({ cmd: 'disconnect', reasonCode: 0x80 } as Packet) },
  {
    name: 'Kafka did not take a message (server closes)',
    versions: [4, 5],
    async end(client, _server, sink) {
      client.send({ cmd: 'publish', messageId: 1, qos: 1, dup: false, retain: false, topic: 'telemetry/acme/d1', payload: reading('lost') } as Packet);
      await waitFor(() => sink.records.length === 1);
      sink.deliver(0, Object.assign(new Error('delivery timed out'), { code: -192 }));
    },
  },
  { name: 'bridge stopping', versions: [4, 5], end: (_client, server) => void server.close(200) },
];

for (const way of UNGRACEFUL) {
  for (const version of way.versions) {
    test(`MQTT ${version === 4 ? '3.1.1' : '5'}: ${way.name} publishes the will through the ingest path (readings topic, key = device)`, async () => {
      const { server, sink, metricsText } = setup();
      const client = await connected(server, version, { will: jsonWill('will-1'), keepalive: way.keepalive });
      assert.deepEqual(sink.readingIds(), [], 'nothing is published while the connection lives');
      await way.end(client, server, sink);
      await waitFor(() => sink.readingIds().includes('will-1'), 4000);
      const record = sink.records.find((candidate) => {
        const decoded = decodeRecord(candidate.value);
        return decoded.ok && decoded.readings.some((one) => one.id === 'will-1');
      })!;
      assert.equal(record.topic, 'readings');
      assert.equal(record.key, 'd1');
      sink.records.forEach((_, index) => sink.deliver(index));
      await settled();
      const text = await metricsText();
      assert.match(text, /tp_edge_mqtt_direct_wills_total\{event="received"\} 1/);
      assert.match(text, /tp_edge_mqtt_direct_wills_total\{event="published"\} 1/);
    });
  }
}

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 4 ? '3.1.1' : '5'}: a DISCONNECT${version === 5 ? ' 0x00' : ''} discards the will`, async () => {
    const { server, sink, metricsText } = setup();
    const client = await connected(server, version, { will: jsonWill('never') });
    client.send({ cmd: 'disconnect', ...(version === 5 ? { reasonCode: 0 } : {}) } as Packet);
    await waitFor(() => client.socket.destroyed);
    await settled();
    assert.deepEqual(sink.records, []);
    assert.match(await metricsText(), /tp_edge_mqtt_direct_wills_total\{event="discarded"\} 1/);
  });
}

test('CONNECT with a will the account may not publish, or cannot be honoured, is refused (MQTT 5 reason code, 3.1.1 return code 5) and counted', async () => {
  const { server, sink, metricsText } = setup();
  const cases: ReadonlyArray<{ name: string; version: 4 | 5; will: Will; code: number | 'accepted' }> = [
    { name: "another device's topic", version: 5, will: jsonWill('x', { topic: 'telemetry/acme/d2' }), code: 0x87 },
    { name: "another tenant's topic", version: 5, will: jsonWill('x', { topic: 'telemetry/other/d1' }), code: 0x87 },
    { name: 'a topic no rule reads', version: 5, will: jsonWill('x', { topic: 'status/d1' }), code: 0x90 },
    { name: 'a retained will (retain not available)', version: 5, will: jsonWill('x', { retain: true }), code: 0x9a },
    { name: 'payload format UTF-8 that is not', version: 5, will: jsonWill('x', { payload: Buffer.from([0xc3, 0x28]), properties: { payloadFormatIndicator: true } }), code: 0x99 },
    { name: "another device's topic", version: 4, will: jsonWill('x', { topic: 'telemetry/acme/d2' }), code: 5 },
    { name: 'a topic no rule reads', version: 4, will: jsonWill('x', { topic: 'status/d1' }), code: 5 },
    { name: 'a retained will (3.1.1: nothing retains here; accepted)', version: 4, will: jsonWill('x', { retain: true }), code: 'accepted' },
  ];
  for (const { name, version, will, code } of cases) {
    const client = device(server, version);
    client.send(connectPacket(version, { will }));
    await waitFor(() => client.connack() !== undefined);
    const connack = client.connack()!;
    const answered = version === 5 ? connack.reasonCode : connack.returnCode;
    assert.equal(answered, code === 'accepted' ? 0 : code, `MQTT ${version}, ${name}`);
    if (code !== 'accepted') assert.equal(client.socket.ended || client.socket.destroyed, true, `MQTT ${version}, ${name}: connection closed`);
    else client.send({ cmd: 'disconnect' } as Packet);
  }
  await settled();
  assert.deepEqual(sink.records, [], 'a refused will is never published');
  const text = await metricsText();
  assert.match(text, /tp_edge_mqtt_direct_wills_total\{event="refused"\} 7/);
  assert.match(text, /tp_edge_mqtt_direct_refusals_total\{reason_code="0x87",packet="will"\} 3/);
  assert.match(text, /tp_edge_mqtt_direct_connects_total\{outcome="will-refused"\} 7/);
});

test('a gateway account may set a will for any device of its tenant', async () => {
  const { server, sink } = setup();
  const client = await connected(server, 5, { username: 'gw', will: jsonWill('gw-will', { topic: 'telemetry/acme/pump-7' }) });
  client.socket.destroy();
  await waitFor(() => sink.readingIds().includes('gw-will'));
  assert.equal(sink.records[0]!.key, 'pump-7');
});

test('a will whose payload is no valid reading is dead-lettered with its reason, marked as a will', async () => {
  const { server, sink, metricsText } = setup();
  const client = await connected(server, 5, { will: jsonWill('x', { payload: Buffer.from('{"id":"broken') }) });
  client.socket.destroy();
  await waitFor(() => sink.records.length === 1);
  const record = sink.records[0]!;
  assert.equal(record.topic, 'dead');
  const letter = JSON.parse(record.value.toString()) as { reason: string; detail: string; origin: string; payloadBase64: string };
  assert.equal(letter.reason, 'malformed-json');
  assert.equal(letter.origin, 'telemetry/acme/d1');
  assert.match(letter.detail, /^will message: /);
  assert.equal(Buffer.from(letter.payloadBase64, 'base64').toString(), '{"id":"broken');
  sink.deliver(0);
  await settled();
  const text = await metricsText();
  assert.match(text, /tp_edge_mqtt_direct_wills_total\{event="dead-lettered"\} 1/);
  assert.match(text, /tp_edge_mqtt_direct_refusals_total\{reason_code="0x99",packet="will"\} 1/);
});

test('a will Kafka does not take is counted as failed, not as published', async () => {
  const { server, sink, metricsText } = setup();
  const client = await connected(server, 5, { will: jsonWill('w') });
  client.socket.destroy();
  await waitFor(() => sink.records.length === 1);
  sink.deliver(0, Object.assign(new Error('delivery timed out'), { code: -192 }));
  await settled();
  const text = await metricsText();
  assert.match(text, /tp_edge_mqtt_direct_wills_total\{event="failed"\} 1/);
  assert.doesNotMatch(text, /tp_edge_mqtt_direct_wills_total\{event="published"\} [1-9]/);
});

for (const version of [4, 5] as const) {
  test(`MQTT ${version === 4 ? '3.1.1' : '5'} takeover: the old will is cancelled when the session continues, published when the new connection starts clean`, async () => {
    const { server, sink, metricsText } = setup();
    const persistent = { clientId: 'node-1', clean: false, sessionExpiry: 60 };
    await connected(server, version, { ...persistent, will: jsonWill('first') });
    await connected(server, version, { ...persistent, will: jsonWill('second') });
    await settled();
    assert.deepEqual(sink.readingIds(), [], 'the session continues on the new connection: its will waits with it');
    await connected(server, version, { clientId: 'node-1', clean: true });
    await waitFor(() => sink.readingIds().length === 1);
    assert.deepEqual(sink.readingIds(), ['second'], 'a clean start ends the session: its will is published');
    const text = await metricsText();
    assert.match(text, /tp_edge_mqtt_direct_wills_total\{event="cancelled"\} 1/);
  });
}

test('MQTT 5 Will Delay Interval: the will waits for it; bounded by the session expiry; a reconnect within it cancels it, a clean one publishes it at once', async () => {
  const { server, sink, metricsText } = setup();
  const delayed = (id: string): Will => jsonWill(id, { properties: { willDelayInterval: 1 } });

  // Session expiry 0: the session ends with the connection, and so does the wait.
  const ephemeral = await connected(server, 5, { will: delayed('no-session') });
  ephemeral.socket.destroy();
  await waitFor(() => sink.readingIds().includes('no-session'), 500);

  // Session expiry 60 s: published once the 1 s delay passed, not before.
  const waiting = await connected(server, 5, { clientId: 'waits', clean: false, sessionExpiry: 60, will: delayed('after-delay') });
  const droppedAt = Date.now();
  waiting.socket.destroy();
  await settled();
  assert.equal(sink.readingIds().includes('after-delay'), false, 'not before the delay');
  await waitFor(() => sink.readingIds().includes('after-delay'), 3000);
  assert.ok(Date.now() - droppedAt >= 950, `published ${Date.now() - droppedAt} ms after the drop`);

  // A reconnect of the same client id within the delay continues the session: no will.
  const returning = await connected(server, 5, { clientId: 'returns', clean: false, sessionExpiry: 60, will: delayed('cancelled') });
  returning.socket.destroy();
  await settled();
  await connected(server, 5, { clientId: 'returns', clean: false, sessionExpiry: 60 });
  assert.match(await metricsText(), /tp_edge_mqtt_direct_wills_total\{event="cancelled"\} 1/);
  assert.match(await metricsText(), /tp_edge_mqtt_direct_wills_pending 0/);

  // A clean start within the delay ends the session: the will goes at once.
  const restarting = await connected(server, 5, { clientId: 'restarts', clean: false, sessionExpiry: 60, will: delayed('session-ended') });
  restarting.socket.destroy();
  await settled();
  assert.equal(sink.readingIds().includes('session-ended'), false);
  await connected(server, 5, { clientId: 'restarts', clean: true });
  await waitFor(() => sink.readingIds().includes('session-ended'), 500);
  assert.equal(sink.readingIds().includes('cancelled'), false);
});

test('Sparkplug: an NDEATH will takes its node offline; a late one of an older birth (bdSeq) does not', async () => {
  const { server, sink, metricsText } = setup({ codecs: [{ topic: 'spBv1.0/#', codec: 'sparkplug' }] });
  const ndeath = (bdSeq: number): Will => ({ topic: 'spBv1.0/acme/NDEATH/d1', payload: Buffer.from(spB.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'Int64', value: bdSeq }] })), qos: 1, retain: false });
  const nbirth = (bdSeq: number): Packet =>
    ({ cmd: 'publish', messageId: 1, qos: 1, dup: false, retain: false, topic: 'spBv1.0/acme/NBIRTH/d1', payload: Buffer.from(spB.encodePayload({ timestamp: Date.now(), seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: bdSeq }] })) }) as Packet;
  const nodes = async (): Promise<string> => (await metricsText()).split('\n').filter((line) => line.startsWith('tp_edge_sparkplug_edge_nodes{')).join(' ');

  const first = await connected(server, 5, { clientId: 'gw-a', will: ndeath(0) });
  first.send(nbirth(0));
  await waitFor(() => first.packets().some((packet) => packet.cmd === 'puback'));
  assert.match(await nodes(), /state="online"\} 1/);
  first.socket.destroy();
  await settled();
  assert.match(await nodes(), /state="offline"\} 1/, 'the NDEATH will took the node offline');
  assert.deepEqual(sink.records, [], 'an NDEATH carries no reading');
  assert.match(await metricsText(), /tp_edge_mqtt_direct_wills_total\{event="no-records"\} 1/);

  // The node is born again (bdSeq 1) on a new connection while the old one, half-open, ends late.
  const stale = await connected(server, 5, { clientId: 'gw-b', will: ndeath(0) });
  const current = await connected(server, 5, { clientId: 'gw-c', will: ndeath(1) });
  current.send(nbirth(1));
  await waitFor(() => current.packets().some((packet) => packet.cmd === 'puback'));
  stale.socket.destroy();
  await settled();
  assert.match(await nodes(), /state="online"\} 1/, 'a will of an older birth leaves the current one online');
});

test('rules: the delay is the Will Delay Interval bounded by the session expiry; a reconnect ends the session when it starts clean or the session was not kept', () => {
  assert.deepEqual(
    [[0, 0], [5, 0], [0, 60], [5, 60], [120, 60]].map(([delay, expiry]) => willDelayMs(delay!, expiry!)),
    [0, 0, 0, 5000, 60_000],
  );
  assert.deepEqual(
    [[true, 0], [true, 60], [false, 0], [false, 60]].map(([clean, expiry]) => sessionEndsOnReconnect(clean as boolean, expiry as number)),
    [true, true, true, false],
  );
});
