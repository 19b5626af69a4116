import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { generate, parser as createParser, type IPublishPacket, type Packet } from 'mqtt-packet';
import { singleReadings } from '../../loadtest/edge/publish.ts';
import { PublisherError, RawPublisher } from '../../loadtest/edge/raw-publisher.ts';

/**
 * bench:edge's raw publisher (loadtest/edge/raw-publisher.ts) against a scripted MQTT 5 server on
 * a local socket: every message arrives once, in order per connection, never more unacknowledged
 * than the server's receive maximum, PUBACKs taken in any order and in bursts; a refusing PUBACK
 * or a cut connection fails the phase instead of hanging it.
 */

interface Script {
  readonly receiveMaximum: number;
  /** What the server does with the PUBLISHes it holds: acknowledge them (any order, any code), cut, or wait. */
  readonly onPublish: (held: IPublishPacket[], socket: Socket) => void;
}

async function serve(script: Script): Promise<{ server: Server; port: number; received: Map<string, IPublishPacket[]>; maxInFlight: () => number }> {
  const received = new Map<string, IPublishPacket[]>();
  let maxInFlight = 0;
  const server = createServer((socket) => {
    const parser = createParser({ protocolVersion: 5 });
    let clientId = '';
    let held: IPublishPacket[] = [];
    let unacked = 0;
    const write = socket.write.bind(socket);
    // Count what is still unacknowledged as PUBACKs leave.
    socket.write = ((bytes: Buffer) => {
      for (let at = 0; at < bytes.length; at += bytes[at + 1]! + 2) if (bytes[at]! >> 4 === 4) unacked--;
      return write(bytes);
    }) as typeof socket.write;
    parser.on('packet', (packet: Packet) => {
      if (packet.cmd === 'connect') {
        clientId = packet.clientId;
        received.set(clientId, []);
        write(generate({ cmd: 'connack', sessionPresent: false, reasonCode: 0, properties: { receiveMaximum: script.receiveMaximum } }, { protocolVersion: 5 }));
      } else if (packet.cmd === 'publish') {
        received.get(clientId)!.push(packet);
        held.push(packet);
        maxInFlight = Math.max(maxInFlight, ++unacked);
      }
    });
    socket.on('data', (chunk: Buffer) => {
      parser.parse(chunk);
      const burst = held;
      held = [];
      if (burst.length > 0) script.onPublish(burst, socket);
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, received, maxInFlight: () => maxInFlight };
}

const puback = (messageId: number, reasonCode = 0): Buffer => generate({ cmd: 'puback', messageId, reasonCode }, { protocolVersion: 5 });

test('every message arrives once and in order per connection, within the receive maximum, with PUBACKs out of order', async () => {
  // Each burst acknowledged later, last first, in one write: the server's order is not the publisher's.
  const { server, port, received, maxInFlight } = await serve({
    receiveMaximum: 7,
    onPublish: (burst, socket) => setImmediate(() => socket.write(Buffer.concat(burst.reverse().map((packet) => puback(packet.messageId!))))),
  });
  const publisher = await RawPublisher.open({ host: '127.0.0.1', port, username: 'u', password: 'p', clientId: 'raw' }, 3);
  try {
    const messages = singleReadings('t/acme', 'x', 30_000);
    await publisher.prepare(messages, 1000)();
    await publisher.prepare(singleReadings('t/acme', 'y', 100), 1000)();
    const sequence = (packet: IPublishPacket): number => Number(/"id":"x-(\d+)"/.exec(packet.payload.toString())?.[1] ?? -1);
    const all = [...received.values()].flat();
    assert.equal(all.length, 30_100);
    assert.equal(new Set(all.map((packet) => packet.payload.toString())).size, 30_100);
    for (const packets of received.values()) {
      const first = packets.filter((packet) => sequence(packet) >= 0).map(sequence);
      assert.deepEqual(first, [...first].sort((a, b) => a - b), 'in order on each connection');
    }
    assert.ok(maxInFlight() <= 7, `at most 7 unacknowledged per connection, saw ${maxInFlight()}`);
  } finally {
    await publisher.close();
    server.close();
  }
});

test('message ids wrap from 65535 back to 1', async () => {
  const { server, port, received } = await serve({ receiveMaximum: 65535, onPublish: (burst, socket) => socket.write(Buffer.concat(burst.map((packet) => puback(packet.messageId!)))) });
  const publisher = await RawPublisher.open({ host: '127.0.0.1', port, username: 'u', password: 'p', clientId: 'wrap' }, 1);
  try {
    await publisher.prepare(singleReadings('t/acme', 'w', 70_000), 1000)();
    const ids = received.get('wrap-0')!.map((packet) => packet.messageId!);
    assert.equal(ids.length, 70_000);
    assert.equal(ids[65534], 65535);
    assert.equal(ids[65535], 1);
  } finally {
    await publisher.close();
    server.close();
  }
});

test('a refusing PUBACK fails the phase with the reason code', async () => {
  const { server, port } = await serve({ receiveMaximum: 100, onPublish: (burst, socket) => socket.write(puback(burst[0]!.messageId!, 0x87)) });
  const publisher = await RawPublisher.open({ host: '127.0.0.1', port, username: 'u', password: 'p', clientId: 'refused' }, 1);
  try {
    await assert.rejects(publisher.prepare(singleReadings('t/acme', 'r', 10), 100)(), (error: Error) => error instanceof PublisherError && /0x87/.test(error.message));
  } finally {
    await publisher.close();
    server.close();
  }
});

test('a connection the server cuts fails the phase instead of waiting for PUBACKs forever', async () => {
  const { server, port } = await serve({ receiveMaximum: 100, onPublish: (_, socket) => socket.destroy() });
  const publisher = await RawPublisher.open({ host: '127.0.0.1', port, username: 'u', password: 'p', clientId: 'cut' }, 1);
  try {
    await assert.rejects(publisher.prepare(singleReadings('t/acme', 'c', 10), 100)(), (error: Error) => error instanceof PublisherError && /closed the connection/.test(error.message));
  } finally {
    await publisher.close();
    server.close();
  }
});
