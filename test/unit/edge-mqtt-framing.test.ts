import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { generate, parser as createParser, type IPublishPacket, type Packet } from 'mqtt-packet';
import { PacketFramer, type FrameSink } from '../../edge/mqtt-server/framing.ts';

/**
 * The direct endpoint's framing (edge/mqtt-server/framing.ts) against the plain model, mqtt-packet's
 * parser fed the same bytes: generated streams of a CONNECT and the packets a device sends, cut into
 * chunks anywhere, give the same packets in the same order, whichever of the two decoded them.
 */

/** mqtt-packet's parser alone, fed the whole stream: the model. */
function modelPackets(stream: Buffer): Packet[] {
  const parser = createParser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  parser.on('packet', (packet: Packet) => packets.push(packet));
  parser.on('error', (error: Error) => assert.fail(`the model refused a generated stream: ${error.message}`));
  parser.parse(stream);
  return packets;
}

/** The framer as the connection uses it: PUBLISHes decoded once the CONNECT is through, the rest to mqtt-packet. */
function framedPackets(chunks: readonly Buffer[], version: 4 | 5, maxPacketBytes = 1 << 20): { packets: Packet[]; decoded: number } {
  const parser = createParser({ protocolVersion: 4 });
  const packets: Packet[] = [];
  let decoded = 0;
  let connected = false;
  const take = (packet: Packet): void => {
    packets.push(packet);
    if (packet.cmd === 'connect') connected = true;
  };
  parser.on('packet', take);
  parser.on('error', (error: Error) => assert.fail(`mqtt-packet refused a packet the framer handed it: ${error.message}`));
  const sink: FrameSink = {
    isOpen: () => true,
    publishVersion: () => (connected ? version : undefined),
    publish: (packet) => {
      decoded++;
      take(packet);
    },
    whole: (bytes) => parser.parse(bytes),
    tooLarge: (length) => assert.fail(`a generated packet of ${length} bytes was called too large`),
  };
  const framer = new PacketFramer(maxPacketBytes);
  for (const chunk of chunks) framer.push(chunk, sink);
  return { packets, decoded };
}

/** Own enumerable fields only: mqtt-packet's Packet instances and the framer's object literals compare by content. */
const plain = (packets: readonly Packet[]): object[] => packets.map((packet) => ({ ...packet }));

const cut = (stream: Buffer, at: readonly number[]): Buffer[] => {
  const points = [...new Set(at.map((p) => p % (stream.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of points) {
    chunks.push(stream.subarray(from, point));
    from = point;
  }
  chunks.push(stream.subarray(from));
  // Fresh buffers, as a socket gives them: nothing may depend on sharing the stream's memory.
  return chunks.map((chunk) => Buffer.from(chunk));
};

const topicArb = fc.oneof(fc.constant('telemetry/acme/dev-1'), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));
const publishArb = (version: 4 | 5): fc.Arbitrary<Packet> =>
  fc
    .record({
      qos: fc.constantFrom(0, 1, 2),
      dup: fc.boolean(),
      retain: fc.boolean(),
      topic: topicArb,
      messageId: fc.integer({ min: 1, max: 65535 }),
      payload: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 200, maxLength: 20_000 })),
      properties: version === 5 ? fc.option(fc.constantFrom({ payloadFormatIndicator: true }, { contentType: 'application/json' }, { userProperties: { a: 'b' } }, { messageExpiryInterval: 60 }), { nil: undefined }) : fc.constant(undefined),
    })
    .map(({ qos, dup, retain, topic, messageId, payload, properties }) => {
      const packet: IPublishPacket = { cmd: 'publish', qos: qos as 0 | 1 | 2, dup, retain, topic, payload: Buffer.from(payload) };
      if (qos > 0) packet.messageId = messageId;
      if (properties !== undefined) packet.properties = properties;
      return packet;
    });
const otherArb = (version: 4 | 5): fc.Arbitrary<Packet> =>
  fc.oneof(
    fc.constant<Packet>({ cmd: 'pingreq' }),
    fc.integer({ min: 1, max: 65535 }).map((messageId): Packet => ({ cmd: 'pubrel', messageId })),
    fc.integer({ min: 1, max: 65535 }).map((messageId): Packet => ({ cmd: 'subscribe', messageId, subscriptions: [{ topic: 'a/#', qos: 1 }] })),
    fc.constant<Packet>(version === 5 ? { cmd: 'disconnect', reasonCode: 0 } : { cmd: 'disconnect' }),
  );
const streamArb = fc.constantFrom<4 | 5>(4, 5).chain((version) =>
  fc.record({
    version: fc.constant(version),
    packets: fc.array(fc.oneof({ weight: 4, arbitrary: publishArb(version) }, { weight: 1, arbitrary: otherArb(version) }), { minLength: 1, maxLength: 30 }),
    cuts: fc.array(fc.nat(), { maxLength: 12 }),
  }),
);

function streamOf(version: 4 | 5, packets: readonly Packet[]): Buffer {
  const connect = generate({ cmd: 'connect', protocolVersion: version, clientId: 'dev-1', clean: true, keepalive: 30 }, { protocolVersion: version });
  return Buffer.concat([connect, ...packets.map((packet) => generate(packet, { protocolVersion: version }))]);
}

test('the framer gives the packets mqtt-packet gives, in order, however the stream is cut', () => {
  fc.assert(
    fc.property(streamArb, ({ version, packets, cuts }) => {
      const stream = streamOf(version, packets);
      assert.deepEqual(plain(framedPackets(cut(stream, cuts), version).packets), plain(modelPackets(stream)));
    }),
    { numRuns: 400 },
  );
});

test('a PUBLISH without properties is decoded by the framer, one with properties or before the CONNECT by mqtt-packet', () => {
  const publish: IPublishPacket = { cmd: 'publish', qos: 1, dup: false, retain: false, topic: 'telemetry/acme/dev-1', messageId: 7, payload: Buffer.from('{"id":"a"}') };
  const withAlias: IPublishPacket = { ...publish, messageId: 8, properties: { topicAlias: 3 } };
  const stream = streamOf(5, [publish, withAlias, publish]);
  const { packets, decoded } = framedPackets([stream], 5);
  assert.equal(decoded, 2, 'the two plain PUBLISHes');
  assert.deepEqual(packets.map((packet) => packet.cmd), ['connect', 'publish', 'publish', 'publish']);
  assert.equal((packets[2] as IPublishPacket).properties?.topicAlias, 3, 'the topic alias reaches the handler, which refuses it');
  // Before the CONNECT is through, every packet goes to mqtt-packet (the version is not known yet).
  assert.equal(framedPackets([generate(publish, { protocolVersion: 4 })], 4).decoded, 0);
});

/** A sink that records what it is told; open until told otherwise. */
function recorder(version: 4 | 5 | undefined = 4): FrameSink & { events: string[]; open: boolean } {
  const sink = {
    events: [] as string[],
    open: true,
    isOpen: () => sink.open,
    publishVersion: () => version,
    publish: (packet: IPublishPacket) => void sink.events.push(`publish ${packet.topic}`),
    whole: (bytes: Buffer) => void sink.events.push(`whole ${bytes.length}`),
    tooLarge: (length: number) => void sink.events.push(`too large ${length}`),
  };
  return sink;
}

test('a packet announced longer than the maximum is refused from its header, before its body is held', () => {
  const sink = recorder();
  const framer = new PacketFramer(1000);
  // PUBLISH with a remaining length of 2,097,151 (0xff 0xff 0x7f): refused on the header's last byte.
  framer.push(Buffer.from([0x30, 0xff]), sink);
  assert.deepEqual(sink.events, [], 'the length is not known yet');
  framer.push(Buffer.from([0xff, 0x7f, 0x00, 0x05]), sink);
  assert.deepEqual(sink.events, ['too large 2097151']);
  // A packet of exactly the maximum is taken.
  const body = Buffer.alloc(1000 - 2 - 5);
  const ok = generate({ cmd: 'publish', qos: 0, dup: false, retain: false, topic: 't/a/b', payload: body }, { protocolVersion: 4 });
  const other = recorder();
  new PacketFramer(1000).push(ok, other);
  assert.deepEqual(other.events, ['publish t/a/b']);
});

test('a fifth length byte hands the rest of the stream to mqtt-packet, which refuses it', () => {
  const sink = recorder();
  const framer = new PacketFramer(1 << 20);
  const good = generate({ cmd: 'publish', qos: 0, dup: false, retain: false, topic: 't/a/b', payload: Buffer.from('x') }, { protocolVersion: 4 });
  framer.push(Buffer.concat([good, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00])]), sink);
  assert.deepEqual(sink.events, ['publish t/a/b', 'whole 7']);
  const parser = createParser({ protocolVersion: 4 });
  let refused = '';
  parser.on('error', (error: Error) => (refused = error.message));
  parser.parse(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]));
  assert.equal(refused, 'Invalid variable byte integer');
});

test('PUBLISHes mqtt-packet refuses are handed to it: QoS 3, a topic or packet id past the end', () => {
  const cases = [
    Buffer.from([0x36, 0x05, 0x00, 0x01, 0x74, 0x00, 0x01]), // QoS bits 11
    Buffer.from([0x30, 0x03, 0x00, 0x09, 0x74]), // topic of 9 bytes in a packet of 3
    Buffer.from([0x32, 0x04, 0x00, 0x01, 0x74, 0x00]), // QoS 1, packet id cut off
    Buffer.from([0x30, 0x01, 0x00]), // no room for the topic length
  ];
  for (const bytes of cases) {
    const sink = recorder();
    new PacketFramer(1 << 20).push(bytes, sink);
    assert.deepEqual(sink.events, [`whole ${bytes.length}`], bytes.toString('hex'));
  }
});

test('nothing more is handed over once the connection closed', () => {
  const sink = recorder();
  const framer = new PacketFramer(1 << 20);
  const one = generate({ cmd: 'publish', qos: 0, dup: false, retain: false, topic: 't/a/b', payload: Buffer.from('x') }, { protocolVersion: 4 });
  const closing: FrameSink = { ...sink, publish: (packet) => (sink.publish(packet), (sink.open = false)) };
  framer.push(Buffer.concat([one, one, one]), closing);
  assert.deepEqual(sink.events, ['publish t/a/b']);
});

test('a packet arriving in many chunks is held until it is complete, then handed over once', () => {
  const sink = recorder(5);
  const framer = new PacketFramer(1 << 20);
  const payload = Buffer.alloc(50_000, 0x61);
  const bytes = generate({ cmd: 'publish', qos: 1, messageId: 9, dup: false, retain: false, topic: 't/a/b', payload }, { protocolVersion: 5 });
  for (let at = 0; at < bytes.length; at += 1000) {
    framer.push(bytes.subarray(at, at + 1000), sink);
    if (at + 1000 < bytes.length) assert.deepEqual(sink.events, [], `nothing yet at ${at}`);
  }
  assert.deepEqual(sink.events, ['publish t/a/b']);
});
