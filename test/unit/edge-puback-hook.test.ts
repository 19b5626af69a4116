import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import mqtt from 'mqtt';
import { hookPubacks } from '../../edge/mqtt-puback-hook.ts';

/** A real mqtt.js client that never connects: the hook is exercised through mqtt.js's own send path. */
function offlineClient() {
  const client = mqtt.connect('mqtt://127.0.0.1:1', { manualConnect: true, protocolVersion: 5 });
  const written: unknown[] = [];
  const internals = client as unknown as { _sendPacket: (packet: object, cb?: () => void) => void };
  // What mqtt.js would write to the socket, recorded instead (installed below the hook).
  internals._sendPacket = (packet) => void written.push(packet);
  return { client, written, send: (packet: object, cb?: () => void) => internals._sendPacket(packet, cb) };
}

test('mqtt.js never writes a PUBACK itself: the hook takes it and resumes the packet loop at once', () => {
  const { client, written, send } = offlineClient();
  const decided: unknown[] = [];
  const hook = hookPubacks(client, (puback) => decided.push(puback));
  let resumed = 0;
  send({ cmd: 'puback', messageId: 7 }, () => resumed++);
  assert.deepEqual(decided, [{ cmd: 'puback', messageId: 7 }]);
  assert.deepEqual(written, [], 'not written by mqtt.js');
  assert.equal(resumed, 1, 'the packet loop goes on without waiting for Kafka');
  hook.send({ cmd: 'puback', messageId: 7, reasonCode: 0x83 });
  assert.deepEqual(written, [{ cmd: 'puback', messageId: 7, reasonCode: 0x83 }], 'written when the bridge says so');
});

/** A client that looks connected, on a stream that records each write. */
function connectedClient() {
  const client = mqtt.connect('mqtt://127.0.0.1:1', { manualConnect: true, protocolVersion: 5 });
  const writes: Buffer[] = [];
  const packets: unknown[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      writes.push(chunk);
      callback();
    },
  });
  const internals = client as unknown as { stream: Writable; connected: boolean; _sendPacket: (packet: object, cb?: () => void) => void };
  internals.stream = stream;
  internals.connected = true;
  internals._sendPacket = (packet) => void packets.push(packet);
  return { client, writes, packets, internals };
}

test('plain PUBACKs released in one tick go out as one write, in order, as mqtt.js would write them', async () => {
  const { client, writes, packets } = connectedClient();
  const hook = hookPubacks(client, () => undefined);
  for (const messageId of [1, 258, 65535]) hook.send({ cmd: 'puback', messageId, reasonCode: 0 });
  assert.deepEqual(writes, [], 'written after this turn of the event loop');
  await new Promise((resolve) => setImmediate(resolve));
  // mqtt-packet's generate({ cmd: 'puback', messageId, reasonCode: 0 }, { protocolVersion: 5 }) for each.
  const expected = Buffer.from([0x40, 2, 0, 1, 0x40, 2, 1, 2, 0x40, 2, 0xff, 0xff]);
  assert.equal(writes.length, 1);
  assert.deepEqual(writes[0], expected);
  assert.deepEqual(packets, [], 'not through mqtt.js');
});

test('PUBACKs released with the nextTick queue drained between them (as Node does after each delivery report) still go out as one write', async () => {
  const { client, writes } = connectedClient();
  const hook = hookPubacks(client, () => undefined);
  for (const messageId of [1, 2, 3]) {
    hook.send({ cmd: 'puback', messageId, reasonCode: 0 });
    await new Promise((resolve) => process.nextTick(resolve));
  }
  assert.deepEqual(writes, [], 'not written while the same turn of the event loop goes on');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writes, [Buffer.from([0x40, 2, 0, 1, 0x40, 2, 0, 2, 0x40, 2, 0, 3])]);
});

test('a PUBACK with a reason code goes through mqtt.js, after the plain ones released before it', async () => {
  const { client, writes, packets } = connectedClient();
  const hook = hookPubacks(client, () => undefined);
  hook.send({ cmd: 'puback', messageId: 1, reasonCode: 0 });
  hook.send({ cmd: 'puback', messageId: 2, reasonCode: 0x10 });
  assert.equal(writes.length, 1, 'the plain one is written first');
  assert.deepEqual(packets, [{ cmd: 'puback', messageId: 2, reasonCode: 0x10 }]);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(writes.length, 1, 'nothing written twice');
});

test('PUBACKs released for a connection that is gone by the end of the tick are not written', async () => {
  const { client, writes, internals } = connectedClient();
  const hook = hookPubacks(client, () => undefined);
  hook.send({ cmd: 'puback', messageId: 1, reasonCode: 0 });
  internals.stream = new Writable({ write: (_chunk, _encoding, callback) => callback() }); // a new connection
  await new Promise((resolve) => setImmediate(resolve));
  hook.send({ cmd: 'puback', messageId: 2, reasonCode: 0 });
  internals.connected = false;
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(writes, []);
});

test('other packets pass through untouched', () => {
  const { client, written, send } = offlineClient();
  hookPubacks(client, () => assert.fail('only PUBACKs are decided'));
  send({ cmd: 'pingreq' });
  send({ cmd: 'subscribe', messageId: 1 });
  assert.deepEqual(written, [{ cmd: 'pingreq' }, { cmd: 'subscribe', messageId: 1 }]);
});

test('paused: the packet loop is held until resume(); dropHeld() forgets a dead connection', () => {
  const { client, send } = offlineClient();
  const hook = hookPubacks(client, () => undefined);
  let resumed = 0;
  hook.pause();
  send({ cmd: 'puback', messageId: 1 }, () => resumed++);
  send({ cmd: 'puback', messageId: 2 }, () => resumed++);
  assert.equal(resumed, 0);
  hook.resume();
  assert.equal(resumed, 2);
  hook.pause();
  send({ cmd: 'puback', messageId: 3 }, () => resumed++);
  hook.dropHeld();
  hook.resume();
  assert.equal(resumed, 2, 'a dropped continuation is never called');
});
