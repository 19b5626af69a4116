import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { codecContractTests, decodeOn } from './codec-contract.ts';
import { codecProperties } from '../fuzz/codec-properties.ts';
import { BATCH_FIELDS, buildProtobuf, FLAT_FIELDS, NOW, PAIRS_FIELDS, protoBytes, protoRoot } from '../support/codec-fixtures.ts';
import { protobufCodec } from '../../src/core/codecs/protobuf.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { buildCodecRouter } from '../../edge/codecs/build.ts';
import { parseConfig } from '../../src/config/load.ts';

/** A user's own Protobuf messages (config/codecs/device.proto): the shared codec suite, then the field map's rules. */
const topic = 'proto/acme/dev-1';
const batch = (readings: unknown[]) => ({ topic, bytes: protoBytes('acme.telemetry.Batch', { readings }) });

codecContractTests('protobuf codec', () => ({
  codec: buildProtobuf(),
  setup: [],
  valid: [
    {
      name: 'a batch with a map of metrics, device named or taken from the topic',
      ...batch([{ id: 'r1', ts: NOW, metrics: { t: 1.5 }, device: 'dev-1' }, { id: 'r2', ts: NOW - 1, metrics: { t: 2, h: 40 } }]),
      readings: [
        { tenant: 'acme', device: 'dev-1', id: 'r1', eventTime: NOW, metrics: { t: 1.5 } },
        { tenant: 'acme', device: 'dev-1', id: 'r2', eventTime: NOW - 1, metrics: { t: 2, h: 40 } },
      ],
    },
  ],
  refusals: {
    'payload-too-large': { topic, bytes: new Uint8Array(256 * 1024 + 1), index: null },
    undecodable: { topic, bytes: Uint8Array.from([0x0a, 0xff, 0xff, 0xff]), index: null },
    'missing-field': { ...batch([{ id: 'r1', ts: NOW, metrics: { t: 1 } }, { ts: NOW, metrics: { t: 1 } }]), index: 1 },
    'wrong-type': { topic, bytes: buildWrongTime(), index: null },
    schema: { ...batch([{ id: 'r1', ts: NOW, metrics: { '9lives': 1 } }]), index: 0 },
    'non-finite-value': { ...batch([{ id: 'r1', ts: NOW, metrics: { t: Number.NaN } }]), index: 0 },
    'too-many-readings': { ...batch(Array.from({ length: 1001 }, (_, i) => ({ id: `r${i}`, ts: NOW, metrics: { t: 1 } }))), index: null },
    'too-many-metrics': { ...batch([{ id: 'r1', ts: NOW, metrics: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`m${i}`, 1])) }]), index: 0 },
    'device-mismatch': { ...batch([{ id: 'r1', ts: NOW, metrics: { t: 1 }, device: 'dev-2' }]), index: 0 },
    'id-too-long': { ...batch([{ id: 'x'.repeat(129), ts: NOW, metrics: { t: 1 } }]), index: 0 },
    'event-time-too-far-ahead': { ...batch([{ id: 'r1', ts: NOW + 3_600_000, metrics: { t: 1 } }]), index: 0 },
    'event-time-too-far-behind': { ...batch([{ id: 'r1', ts: NOW - 30 * 86_400_000, metrics: { t: 1 } }]), index: 0 },
  },
  fuzz: codecProperties.find((property) => property.name === 'codec-protobuf-never-throws')!,
}));

/** A Batch whose reading's ts is sent with another wire type (a length-delimited string): protobufjs reads it as garbage, not a number. */
function buildWrongTime(): Uint8Array {
  // Reading with ts declared as a string in a look-alike schema: same field numbers, other type.
  const root = protobuf.Root.fromJSON({ nested: { R: { fields: { id: { type: 'string', id: 1 }, ts: { type: 'string', id: 2 } } }, B: { fields: { readings: { rule: 'repeated', type: 'R', id: 1 } } } } });
  const type = root.lookupType('B');
  return type.encode(type.fromObject({ readings: [{ id: 'r1', ts: 'yesterday' }] })).finish();
}

test('named numeric fields and bools are metrics; an integer id becomes its decimal string; a missing metric field is left out', () => {
  const codec = buildProtobuf('acme.telemetry.Flat', FLAT_FIELDS);
  const result = decodeOn(codec, { topic, bytes: protoBytes('acme.telemetry.Flat', { seq: 7, ts: NOW + 0.75, temperature: 20.5, door_open: true }) });
  assert.deepEqual(result, { readings: [{ tenant: 'acme', device: 'dev-1', id: '7', eventTime: NOW, ingestTime: NOW, metrics: { temperature: 20.5, door_open: 1 } }], rejections: [] });
  const none = decodeOn(codec, { topic, bytes: protoBytes('acme.telemetry.Flat', { seq: 8, ts: NOW }) });
  assert.deepEqual(none.rejections.map((rejection) => rejection.reason), ['missing-field'], 'a reading with no metric at all');
});

test('repeated name/value pairs and a google.protobuf.Timestamp', () => {
  const codec = buildProtobuf('acme.telemetry.Pairs', PAIRS_FIELDS);
  const result = decodeOn(codec, { topic, bytes: protoBytes('acme.telemetry.Pairs', { id: 'p1', at: { seconds: Math.floor(NOW / 1000), nanos: 250_000_000 }, samples: [{ name: 'a', value: 1 }, { name: 'b', value: 0 }] }) });
  assert.deepEqual(result.readings, [{ tenant: 'acme', device: 'dev-1', id: 'p1', eventTime: Math.floor(NOW / 1000) * 1000 + 250, ingestTime: NOW, metrics: { a: 1, b: 0 } }]);
});

test('a field map that does not fit the message type fails at start-up, naming the field', () => {
  const type = protoRoot.lookupType('acme.telemetry.Batch');
  const cases: Array<[Partial<typeof BATCH_FIELDS>, RegExp]> = [
    [{ readings: 'nope' }, /readings 'nope' must be a repeated message field/],
    [{ id: 'nope' }, /id field 'nope' is not a field of Reading/],
    [{ id: 'metrics' }, /id field 'metrics' must be a string or an integer/],
    [{ time: 'id' }, /time field 'id' must be a number/],
    [{ metrics: 'id' }, /metrics field 'id' must be a map/],
    [{ metrics: '', metricFields: [] }, /name the metrics/],
  ];
  for (const [change, message] of cases) assert.throws(() => protobufCodec('proto', type, { ...BATCH_FIELDS, ...change }), (error: unknown) => error instanceof ConfigError && message.test(error.message), JSON.stringify(change));
});

test('mqtt.codecs: rules in order, first match wins, JSON on <topicPrefix>/+/+ last; a bad rule fails at start-up', () => {
  const config = parseConfig({
    mqtt: {
      codecs: [
        { topic: 'spBv1.0/#', codec: 'sparkplug' },
        { topic: 'proto/+/+', codec: 'protobuf', protoFile: 'config/codecs/device.proto', messageType: 'acme.telemetry.Batch', readingsField: 'readings', deviceField: 'device', idField: 'id', timeField: 'ts', metricsField: 'metrics' },
        { topic: 'proto/#', codec: 'json' },
      ],
    },
  });
  assert.throws(() => buildCodecRouter(config.mqtt), /mqtt.codecs\[2\].topic 'proto\/#' must be '<prefix>\/\+\/\+'/);
  const router = buildCodecRouter({ ...config.mqtt, codecs: config.mqtt.codecs.slice(0, 2) });
  assert.deepEqual(['spBv1.0/acme/NDATA/gw1', 'proto/acme/dev-1', 'telemetry/acme/dev-1', 'other/acme/dev-1', '$SYS/x'].map((name) => router.codecFor(name)?.name), ['sparkplug', 'protobuf', 'json', undefined, undefined]);
  assert.throws(() => buildCodecRouter({ ...config.mqtt, codecs: [{ ...config.mqtt.codecs[1]!, messageType: 'acme.telemetry.Nope' } as never] }), /cannot load message type 'acme.telemetry.Nope'/);
  assert.throws(() => buildCodecRouter({ ...config.mqtt, codecs: [{ topic: 'a/#/b', codec: 'sparkplug' }] }), /is not an MQTT topic filter/);
});
