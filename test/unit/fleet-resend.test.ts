import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { STEADY_PATTERNS } from '../../loadtest/fleet/model.ts';
import { runFleet } from '../../loadtest/fleet/publisher.ts';
import { eventually } from '../../src/stack/services.ts';

/**
 * The simulated fleet plays devices that keep a message until its PUBACK: when the connection
 * drops first (a direct-mode bridge killed while Kafka held its PUBACKs back), mqtt.js keeps the
 * message in its store and publishes it again once reconnected; the chaos run relies on it. A minimal MQTT 5 server acknowledges a few PUBLISHes of each connection
 * and then drops it, while the client still resends its store after the reconnect, until it has
 * dropped `drops` connections; then it acknowledges everything.
 */
function droppingServer(drops: number): Promise<{ url: string; dropped: () => number; acknowledged: () => number; close: () => void }> {
  let dropped = 0;
  let acknowledgedInAll = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const send = (packet: object): void => void socket.write(mqttPacket.generate(packet as mqttPacket.Packet, { protocolVersion: 5 }));
    let acknowledged = 0;
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect') send({ cmd: 'connack', sessionPresent: false, reasonCode: 0 });
      else if (packet.cmd === 'pingreq') send({ cmd: 'pingresp' });
      else if (packet.cmd === 'publish') {
        if (dropped < drops && acknowledged >= 20) {
          dropped++;
          socket.destroy();
        } else if (packet.qos > 0) {
          acknowledged++;
          acknowledgedInAll++;
          send({ cmd: 'puback', messageId: packet.messageId, reasonCode: 0 });
        }
      }
    });
    socket.on('data', (chunk) => parser.parse(chunk));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`,
        dropped: () => dropped,
        acknowledged: () => acknowledgedInAll,
        close: () => {
          for (const socket of sockets) socket.destroy();
          server.close();
        },
      }),
    ),
  );
}

test('a publish whose connection dropped before its PUBACK is published again after the reconnect, not counted failed', { timeout: 30_000 }, async () => {
  const server = await droppingServer(6);
  try {
    const result = await runFleet(
      { tenant: 'acme', devices: 20, gateways: 2, ratePerSecond: 2000, batchSize: 1, patterns: STEADY_PATTERNS, seed: 3 },
      { url: server.url, username: 'fleet', password: 'fleet-secret', connections: 2, durationMs: 4000, maxInFlightPerConnection: 50 },
    );
    assert.equal(server.dropped(), 6, 'the server dropped connections with publishes in flight');
    assert.equal(result.failed, 0, 'no reading was given up');
    assert.equal(result.acked, result.published);
  } finally {
    server.close();
  }
});

test('with `until` the fleet publishes past its duration until the promise settles, then stops (a chaos run sends through its last fault)', { timeout: 30_000 }, async () => {
  const server = await droppingServer(0);
  try {
    // 200 readings/s for 300 ms would be about 60; the fleet is held until the server has acknowledged 300.
    const held = eventually('300 publishes acknowledged', async () => (server.acknowledged() >= 300 ? true : undefined), 20_000, 20);
    const result = await runFleet(
      { tenant: 'acme', devices: 20, gateways: 2, ratePerSecond: 200, batchSize: 1, patterns: STEADY_PATTERNS, seed: 5 },
      { url: server.url, username: 'fleet', password: 'fleet-secret', connections: 2, durationMs: 300, until: held, maxInFlightPerConnection: 50 },
    );
    assert.ok(result.published >= 300, `published ${result.published}: on past the duration while held`);
    assert.ok(result.published < 400, `published ${result.published}: stopped once released (a fleet not stopped would go on)`);
    assert.equal(result.acked, result.published);
  } finally {
    server.close();
  }
});
