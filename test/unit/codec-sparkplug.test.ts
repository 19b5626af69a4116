import { test } from 'node:test';
import assert from 'node:assert/strict';
import { codecContractTests, decodeOn } from './codec-contract.ts';
import { codecProperties } from '../fuzz/codec-properties.ts';
import { buildSparkplug, feed, NOW, sparkplugBirths, sparkplugBytes } from '../support/codec-fixtures.ts';
import { CodecRouter } from '../../src/core/codecs/codec.ts';
import { jsonCodec } from '../../src/core/codecs/json.ts';
import { metricNameOf, parseSparkplugTopic } from '../../src/core/codecs/sparkplug-topic.ts';
import type { RebirthCause, SparkplugObserver } from '../../src/core/codecs/sparkplug-state.ts';
import { checkRoute, REASON } from '../../edge/mqtt-server/limits.ts';

/** Sparkplug B: the shared codec suite, then what the specification asks of a host application. */
const NODE_DATA = 'spBv1.0/acme/NDATA/gw1';
const DEVICE_DATA = 'spBv1.0/acme/DDATA/gw1/pump';
const data = (topic: string, seq: number, metrics: Parameters<typeof sparkplugBytes>[0]['metrics'], timestamp: number | undefined = NOW) => ({ topic, bytes: sparkplugBytes({ timestamp, seq, metrics }) });

codecContractTests('sparkplug codec', () => ({
  codec: buildSparkplug(),
  setup: sparkplugBirths(),
  valid: [
    {
      name: 'NDATA by alias',
      ...data(NODE_DATA, 2, [{ alias: 1, type: 'Double', value: 21.5 }]),
      readings: [{ tenant: 'acme', device: 'gw1', id: `2-${NOW}`, eventTime: NOW, metrics: { temperature: 21.5 } }],
    },
    {
      name: 'DDATA: aliases of the device, booleans as 1/0, each metric timestamp its own event time',
      ...data(DEVICE_DATA, 3, [
        { alias: 10, type: 'Int32', value: 1500, timestamp: NOW - 10 },
        { alias: 11, type: 'Boolean', value: true },
        { alias: 12, type: 'Float', value: 2.5 },
      ]),
      readings: [
        { tenant: 'acme', device: 'gw1.pump', id: `3-${NOW}-${NOW - 10}`, eventTime: NOW - 10, metrics: { rpm: 1500 } },
        { tenant: 'acme', device: 'gw1.pump', id: `3-${NOW}`, eventTime: NOW, metrics: { running: 1, 'pressure.bar': 2.5 } },
      ],
    },
    {
      name: 'NDATA by name (no alias), Int64 as a number',
      ...data(NODE_DATA, 4, [{ name: 'Line/Count', type: 'Int64', value: 123456789 }]),
      readings: [{ tenant: 'acme', device: 'gw1', id: `4-${NOW}`, eventTime: NOW, metrics: { 'Line.Count': 123456789 } }],
    },
  ],
  refusals: {
    'bad-topic': { topic: 'spBv1.0/acme/NCMD/gw1', bytes: sparkplugBytes({ timestamp: NOW, seq: 2 }), index: null },
    'payload-too-large': { topic: NODE_DATA, bytes: new Uint8Array(256 * 1024 + 1), index: null },
    undecodable: { topic: NODE_DATA, bytes: Uint8Array.from([0xff, 0xff, 0x01]), index: null },
    'missing-field': { topic: NODE_DATA, bytes: sparkplugBytes({ timestamp: NOW, metrics: [{ alias: 1, type: 'Double', value: 1 }] }), index: null },
    'unknown-alias': { ...data(NODE_DATA, 2, [{ alias: 1, type: 'Double', value: 1 }, { alias: 99, type: 'Double', value: 1 }]), index: 1 },
    'unsupported-type': { ...data(NODE_DATA, 2, [{ alias: 2, type: 'String', value: '1.2.4' }]), index: 0 },
    'non-finite-value': { ...data(NODE_DATA, 2, [{ alias: 1, type: 'Double', value: Number.POSITIVE_INFINITY }]), index: 0 },
    schema: { ...data(NODE_DATA, 2, [{ alias: 1, type: 'Double', value: 1 }, { name: 'temperature', type: 'Double', value: 2 }]), index: 1 },
    'event-time-too-far-ahead': { ...data(NODE_DATA, 2, [{ alias: 1, type: 'Double', value: 1, timestamp: NOW + 3_600_000 }]), index: 0 },
    'event-time-too-far-behind': { ...data(NODE_DATA, 2, [{ alias: 1, type: 'Double', value: 1, timestamp: NOW - 30 * 86_400_000 }]), index: 0 },
  },
  fuzz: codecProperties.find((property) => property.name === 'codec-sparkplug-never-throws')!,
}));

class Recorder implements SparkplugObserver {
  readonly rebirths: Array<[string, RebirthCause]> = [];
  readonly gaps: Array<[number, number]> = [];
  readonly seen: string[] = [];

  rebirthNeeded(group: string, node: string, cause: RebirthCause): void {
    this.rebirths.push([`${group}/${node}`, cause]);
  }

  sequenceGap(_group: string, _node: string, expected: number, received: number): void {
    this.gaps.push([expected, received]);
  }

  presence(group: string, node: string, device: string | null, online: boolean): void {
    this.seen.push(`${group}/${node}${device === null ? '' : `/${device}`}:${online ? 'online' : 'offline'}`);
  }
}

const recorder = (): Recorder => new Recorder();

test('BIRTH messages define aliases and presence but are not readings', () => {
  const observer = recorder();
  const codec = buildSparkplug(observer);
  for (const birth of sparkplugBirths()) assert.deepEqual(decodeOn(codec, birth), { readings: [], rejections: [] }, birth.topic);
  assert.deepEqual(observer.seen, ['acme/gw1:online', 'acme/gw1/pump:online']);
});

test('seq gaps are counted and answered with one rebirth request; a wrap from 255 to 0 and a redelivery are not gaps', () => {
  for (const [sequence, gaps] of [
    [[2, 3, 4], []],
    [[2, 2, 3], []],
    [[2, 5], [[3, 5]]],
    [[2, 1], [[3, 1]]],
    [[2, 9, 20], [[3, 9], [10, 20]]],
  ] as Array<[number[], Array<[number, number]>]>) {
    const observer = recorder();
    const codec = buildSparkplug(observer);
    feed(codec, sparkplugBirths());
    for (const seq of sequence) assert.equal(decodeOn(codec, data(NODE_DATA, seq, [{ alias: 1, type: 'Double', value: seq }])).readings.length, 1, 'the data is still taken');
    assert.deepEqual(observer.gaps, gaps, `seq ${sequence.join(',')}`);
    assert.deepEqual(observer.rebirths, gaps.length > 0 ? [['acme/gw1', 'seq-gap']] : [], 'one outstanding rebirth request, not one per gap');
  }
  const observer = recorder();
  const codec = buildSparkplug(observer);
  feed(codec, sparkplugBirths());
  for (let i = 0; i < 300; i++) decodeOn(codec, data(NODE_DATA, (2 + i) % 256, [{ alias: 1, type: 'Double', value: i }]));
  assert.deepEqual(observer.gaps, [], '255 is followed by 0');
});

test('a DATA from a node this bridge saw no BIRTH of asks for a rebirth; named metrics are taken, aliases refused', () => {
  const observer = recorder();
  const codec = buildSparkplug(observer);
  const result = decodeOn(codec, data(NODE_DATA, 7, [{ name: 'temperature', type: 'Double', value: 1 }, { alias: 1, type: 'Double', value: 2 }]));
  assert.deepEqual(result.readings.map((reading) => reading.metrics), [{ temperature: 1 }]);
  assert.deepEqual(result.rejections.map((rejection) => [rejection.index, rejection.reason]), [[1, 'unknown-alias']]);
  decodeOn(codec, data(NODE_DATA, 8, [{ alias: 1, type: 'Double', value: 2 }]));
  assert.deepEqual(observer.rebirths, [['acme/gw1', 'no-birth']], 'asked once until the node is born again');
  feed(codec, sparkplugBirths());
  decodeOn(codec, data(NODE_DATA, 2, [{ alias: 77, type: 'Double', value: 2 }]));
  assert.deepEqual(observer.rebirths, [['acme/gw1', 'no-birth'], ['acme/gw1', 'unknown-alias']], 'after a birth, a new cause asks again');
});

test('NDEATH takes the node and its devices offline; an NDEATH of an older session (other bdSeq) is ignored', () => {
  const observer = recorder();
  const codec = buildSparkplug(observer);
  feed(codec, sparkplugBirths());
  decodeOn(codec, { topic: 'spBv1.0/acme/NDEATH/gw1', bytes: sparkplugBytes({ timestamp: NOW, metrics: [{ name: 'bdSeq', type: 'Int64', value: 7 }] }) });
  assert.equal(codec.state.node('acme', 'gw1')!.online, true, 'a will message of another session');
  decodeOn(codec, { topic: 'spBv1.0/acme/NDEATH/gw1', bytes: sparkplugBytes({ timestamp: NOW, metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }] }) });
  assert.deepEqual(observer.seen.slice(2), ['acme/gw1/pump:offline', 'acme/gw1:offline']);
  assert.deepEqual(codec.state.summary(), { online: 0, offline: 1, needsRebirth: 0 });
  decodeOn(codec, data('spBv1.0/acme/DDEATH/gw1/pump', 3, []));
  assert.equal(observer.seen.length, 4, 'a device already offline is not counted again');
});

test('topics map to tenant (group) and device (<node> or <node>.<device>) one to one', () => {
  assert.deepEqual(parseSparkplugTopic('spBv1.0/acme/DDATA/gw1/pump.a'), { ok: true, topic: { group: 'acme', type: 'DDATA', node: 'gw1', device: 'pump.a', deviceName: 'gw1.pump.a' } });
  for (const topic of ['spBv1.0/acme/NDATA/gw.1', 'spBv1.0/acme/NDATA/gw1/x', 'spBv1.0/acme/DDATA/gw1', 'spBv1.0/acme/STATE/gw1', 'spBv1.0/ac me/NDATA/gw1', 'spBv2.0/acme/NDATA/gw1', 'spBv1.0/acme/DDATA/gw1/' + 'd'.repeat(64)]) {
    const parsed = parseSparkplugTopic(topic);
    assert.ok(!parsed.ok && parsed.reason === 'bad-topic', topic);
  }
  assert.equal(metricNameOf('Node Control/Rebirth'), 'Node_Control.Rebirth');
  assert.equal(metricNameOf('1st/value'), '_1st.value');
});

test('direct mode: a Sparkplug topic is owned by the account of its group (tenant) and edge node, or a gateway account of the tenant', () => {
  const router = new CodecRouter([{ filter: 'spBv1.0/#', codec: buildSparkplug() }, { filter: 'telemetry/+/+', codec: jsonCodec('telemetry') }]);
  const node = { username: 'gw1', tenant: 'acme', device: 'gw1' };
  const gateway = { username: 'gw', tenant: 'acme', device: '*' };
  const cases: Array<[typeof node, string, number | 'ok']> = [
    [node, 'spBv1.0/acme/NDATA/gw1', 'ok'],
    [node, 'spBv1.0/acme/DDATA/gw1/pump', 'ok'],
    [gateway, 'spBv1.0/acme/DBIRTH/gw7/pump', 'ok'],
    [node, 'spBv1.0/acme/NDATA/gw2', REASON.notAuthorized],
    [gateway, 'spBv1.0/other/NDATA/gw1', REASON.notAuthorized],
    [node, 'spBv1.0/acme/NCMD/gw1', REASON.topicNameInvalid],
    [node, 'telemetry/acme/gw1', 'ok'],
    [node, 'other/acme/gw1', REASON.topicNameInvalid],
  ];
  for (const [identity, topic, expected] of cases) {
    const check = checkRoute(topic, router, identity);
    if (expected === 'ok') assert.ok(check.ok, topic);
    else assert.equal(!check.ok && check.code, expected, topic);
  }
});
