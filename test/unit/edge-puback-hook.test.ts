import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { hookPubacks, type PubackHook } from '../../edge/mqtt-puback-hook.ts';

/**
 * Contract test of the PUBACK hook over mqtt.js's REAL publish handler: a real mqtt.js client
 * (the version pinned in package.json) connected over TCP to an in-process MQTT 5 peer that speaks
 * through mqtt-packet (the parser and generator mqtt.js itself uses). The peer plays the broker:
 * it sends QoS 1 PUBLISHes and records every PUBACK the client writes on the wire.
 *
 * "Nothing was written before X" is proven by TCP ordering: the client publishes a QoS 0 marker,
 * and once the peer has the marker, any PUBACK written before it has arrived too.
 */
const V5 = { protocolVersion: 5 };
const servers: Server[] = [];
const clients: MqttClient[] = [];

after(async () => {
  await Promise.all(clients.map((client) => client.endAsync(true)));
  for (const server of servers) server.close();
});

interface Peer {
  readonly client: MqttClient;
  readonly hook: PubackHook;
  /** Packet ids mqtt.js handed to `decide`, in order. */
  readonly decided: number[];
  /** PUBACKs that reached the peer, in order. */
  readonly pubacks: Array<{ messageId: number; reasonCode: number }>;
  readonly unmatched: number[];
  readonly messages: number[];
  /** Sends QoS 1 PUBLISHes with these packet ids in ONE write (so all are in mqtt.js's parser at once). */
  publish(ids: readonly number[]): void;
  /** Resolves once everything the client wrote (or released) before this call has reached the peer. */
  flush(): Promise<void>;
}

async function peer(): Promise<Peer> {
  const pubacks: Peer['pubacks'] = [];
  const markers = new Map<string, () => void>();
  let socket: Socket | undefined;
  const server = createServer((connection) => {
    socket = connection;
    const parser = mqttPacket.parser(V5);
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connect') connection.write(mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode: 0 }, V5));
      if (packet.cmd === 'puback') pubacks.push({ messageId: packet.messageId!, reasonCode: packet.reasonCode ?? 0 });
      if (packet.cmd === 'publish') markers.get(String(packet.payload))?.();
    });
    connection.on('data', (chunk) => parser.parse(chunk));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = mqtt.connect(`mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: `hook-${clients.length}` });
  clients.push(client);
  const decided: number[] = [];
  const unmatched: number[] = [];
  const messages: number[] = [];
  const hook = hookPubacks(client, (puback) => decided.push(puback.messageId!), { onUnmatched: (messageId) => unmatched.push(messageId) });
  client.on('message', (_topic, _payload, packet) => messages.push(packet.messageId!));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  let flushes = 0;
  return {
    client,
    hook,
    decided,
    pubacks,
    unmatched,
    messages,
    publish(ids) {
      const packets = ids.map((messageId) => mqttPacket.generate({ cmd: 'publish', topic: 'telemetry/acme/d1', payload: Buffer.from(`m${messageId}`), qos: 1, messageId, retain: false, dup: false }, V5));
      socket!.write(Buffer.concat(packets));
    },
    async flush() {
      // Plain PUBACKs released in this turn of the event loop are written together after it.
      await new Promise((resolve) => setImmediate(resolve));
      const marker = `marker-${flushes++}`;
      const arrived = new Promise<void>((resolve) => markers.set(marker, resolve));
      client.publish('marker', marker, { qos: 0 });
      await arrived;
    },
  };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Lets mqtt.js run whatever it has queued (its packet loop continues on process.nextTick). */
async function drainEventLoop(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('mqtt is pinned to the exact version whose internal _sendPacket the hook replaces', () => {
  const declared = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies['mqtt'];
  const installed = (JSON.parse(readFileSync(new URL('../../node_modules/mqtt/package.json', import.meta.url), 'utf8')) as { version: string }).version;
  assert.match(declared ?? '', /^\d+\.\d+\.\d+$/, `package.json must pin mqtt exactly (no range), found ${declared}`);
  assert.equal(installed, declared, 'the installed mqtt.js is the pinned one');
});

test('real publish handler: no PUBACK leaves before the hook releases it, and mqtt.js goes on parsing meanwhile', async () => {
  const p = await peer();
  p.publish([1, 2, 3]);
  await until(() => p.decided.length === 3, 'three PUBACKs handed to the hook');
  assert.deepEqual(p.messages, [1, 2, 3], 'mqtt.js processed all three without waiting for a release');
  await p.flush();
  assert.equal(p.pubacks.length, 0, 'mqtt.js wrote no PUBACK by itself');

  p.hook.send({ cmd: 'puback', messageId: 1, reasonCode: 0 });
  await p.flush();
  assert.deepEqual(p.pubacks, [{ messageId: 1, reasonCode: 0 }], 'only the released PUBACK');

  p.hook.send({ cmd: 'puback', messageId: 2, reasonCode: 0 });
  p.hook.send({ cmd: 'puback', messageId: 3, reasonCode: 0 });
  await p.flush();
  assert.deepEqual(p.pubacks.map((a) => a.messageId), [1, 2, 3], 'in release order');
  assert.deepEqual(p.unmatched, []);
});

test('real publish handler: a PUBACK with a reason code goes out after the plain ones released before it', async () => {
  const p = await peer();
  p.publish([10, 11, 12]);
  await until(() => p.decided.length === 3, 'three PUBACKs handed to the hook');
  p.hook.send({ cmd: 'puback', messageId: 10, reasonCode: 0 });
  p.hook.send({ cmd: 'puback', messageId: 11, reasonCode: 0x10 });
  p.hook.send({ cmd: 'puback', messageId: 12, reasonCode: 0 });
  await p.flush();
  assert.deepEqual(p.pubacks, [
    { messageId: 10, reasonCode: 0 },
    { messageId: 11, reasonCode: 0x10 },
    { messageId: 12, reasonCode: 0 },
  ]);
});

test('real publish handler: paused, mqtt.js processes no further PUBLISH until resume()', async () => {
  const p = await peer();
  p.hook.pause();
  p.publish([1, 2, 3]);
  await until(() => p.messages.length === 1, 'the first message');
  await drainEventLoop();
  assert.deepEqual(p.messages, [1], 'the second PUBLISH (already parsed) waits');
  p.hook.resume();
  await until(() => p.messages.length === 3, 'the rest after resume()');
  assert.deepEqual(p.decided, [1, 2, 3]);
  await p.flush();
  assert.deepEqual(p.pubacks, [], 'resuming the packet loop releases no PUBACK');
});

test('a release for a packet id the hook does not hold is counted and not written', async () => {
  const p = await peer();
  p.publish([5]);
  await until(() => p.decided.length === 1, 'one PUBACK handed to the hook');
  p.hook.send({ cmd: 'puback', messageId: 6, reasonCode: 0 }); // never received
  p.hook.send({ cmd: 'puback', messageId: 5, reasonCode: 0 });
  p.hook.send({ cmd: 'puback', messageId: 5, reasonCode: 0 }); // released twice
  p.hook.send({ cmd: 'puback', messageId: 7, reasonCode: 0x80 }); // with a reason code, never received
  await p.flush();
  assert.deepEqual(p.pubacks, [{ messageId: 5, reasonCode: 0 }]);
  assert.deepEqual(p.unmatched, [6, 5, 7]);
});

test('after dropHeld() (the connection is gone) a release of an old packet id is unmatched', async () => {
  const p = await peer();
  p.publish([8]);
  await until(() => p.decided.length === 1, 'one PUBACK handed to the hook');
  p.hook.dropHeld();
  p.hook.send({ cmd: 'puback', messageId: 8, reasonCode: 0 });
  await p.flush();
  assert.deepEqual(p.pubacks, []);
  assert.deepEqual(p.unmatched, [8]);
});
