import fc from 'fast-check';
import type { PayloadCodec } from '../../src/core/codecs/codec.ts';
import { assertWellFormed, decodeOn } from '../unit/codec-contract.ts';
import { buildJson, buildProtobuf, buildSparkplug, feed, FLAT_FIELDS, PAIRS_FIELDS, protoBytes, sparkplugBirths, sparkplugBytes, NOW, type Message } from '../support/codec-fixtures.ts';
import type { AnyFuzzProperty, FuzzProperty } from './property.ts';

/**
 * Every payload codec against hostile bytes: random bytes, and valid messages cut, flipped and
 * spliced, on the codec's topics. Decoding never throws, and whatever comes out keeps the codec
 * contract (well-formed readings the one Kafka encoder may write, declared reasons only).
 */
export interface CodecFuzzInput {
  readonly topic: string;
  readonly bytes: number[];
}

function mutated(seeds: readonly Message[]): fc.Arbitrary<CodecFuzzInput> {
  const seed = fc.constantFrom(...seeds);
  const random = fc.record({ topic: fc.constantFrom(...seeds.map((message) => message.topic)), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 200 }) });
  const edited = fc.tuple(seed, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.nat(), fc.boolean()).map(([message, flips, cut, truncate]) => {
    const bytes = [...message.bytes];
    for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value;
    return { topic: message.topic, bytes: truncate && bytes.length > 0 ? bytes.slice(0, cut % bytes.length) : bytes };
  });
  return fc.oneof({ weight: 1, arbitrary: random }, { weight: 3, arbitrary: edited });
}

export function codecFuzzProperty(name: string, build: () => PayloadCodec, setup: readonly Message[], seeds: readonly Message[]): FuzzProperty<CodecFuzzInput> {
  return {
    name: `codec-${name}-never-throws`,
    description: `the ${name} codec decodes any bytes on its topics without throwing, into well-formed readings and declared refusal reasons`,
    arbitrary: mutated(seeds),
    predicate: (input) => {
      const codec = build();
      feed(codec, setup);
      assertWellFormed(decodeOn(codec, { topic: input.topic, bytes: Uint8Array.from(input.bytes) }), codec.reasons);
    },
    toUnitTest: (input) =>
      [
        `test('the ${name} codec takes these bytes without throwing', () => {`,
        `  const codec = build${name[0]!.toUpperCase()}${name.slice(1)}();`,
        `  assertWellFormed(decodeOn(codec, { topic: ${JSON.stringify(input.topic)}, bytes: Uint8Array.from(${JSON.stringify(input.bytes)}) }), codec.reasons);`,
        `});`,
      ].join('\n'),
  };
}

const births = sparkplugBirths();
const sparkplugSeeds: Message[] = [
  ...births,
  { topic: 'spBv1.0/acme/NDATA/gw1', bytes: sparkplugBytes({ timestamp: NOW, seq: 2, metrics: [{ alias: 1, type: 'Double', value: 21.5 }, { name: 'Properties/Firmware', type: 'String', value: 'x' }] }) },
  { topic: 'spBv1.0/acme/DDATA/gw1/pump', bytes: sparkplugBytes({ timestamp: NOW, seq: 3, metrics: [{ alias: 10, type: 'Int32', value: 1500, timestamp: NOW - 10 }, { alias: 11, type: 'Boolean', value: true }] }) },
  { topic: 'spBv1.0/acme/NDEATH/gw1', bytes: sparkplugBytes({ timestamp: NOW, metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }] }) },
];

export const codecProperties: readonly AnyFuzzProperty[] = [
  codecFuzzProperty('json', buildJson, [], [
    { topic: 'telemetry/acme/dev-1', bytes: Buffer.from(JSON.stringify({ id: 'a1', ts: NOW, metrics: { t: 1.5 } })) },
    { topic: 'telemetry/acme/dev-1', bytes: Buffer.from(JSON.stringify({ readings: [{ seq: 1, ts: NOW, metric: 'x', value: 2 }, { seq: 2, ts: NOW, metrics: { y: 3 } }] })) },
  ]),
  codecFuzzProperty('sparkplug', buildSparkplug, births, sparkplugSeeds),
  codecFuzzProperty('protobuf', () => buildProtobuf(), [], [
    { topic: 'proto/acme/dev-1', bytes: protoBytes('acme.telemetry.Batch', { readings: [{ id: 'r1', ts: NOW, metrics: { t: 1 }, device: 'dev-1' }, { id: 'r2', ts: NOW, metrics: { t: 2, h: 40 } }] }) },
  ]),
  codecFuzzProperty('protobuf-flat', () => buildProtobuf('acme.telemetry.Flat', FLAT_FIELDS), [], [
    { topic: 'proto/acme/dev-1', bytes: protoBytes('acme.telemetry.Flat', { seq: 7, ts: NOW, temperature: 20.5, humidity: 40, door_open: true }) },
  ]),
  codecFuzzProperty('protobuf-pairs', () => buildProtobuf('acme.telemetry.Pairs', PAIRS_FIELDS), [], [
    { topic: 'proto/acme/dev-1', bytes: protoBytes('acme.telemetry.Pairs', { id: 'p1', at: { seconds: Math.floor(NOW / 1000), nanos: 0 }, samples: [{ name: 'a', value: 1 }] }) },
  ]),
];
