import { test } from 'node:test';
import assert from 'node:assert/strict';
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
  hook.send({ cmd: 'puback', messageId: 7 });
  assert.deepEqual(written, [{ cmd: 'puback', messageId: 7 }], 'written when the bridge says so');
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
