import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { DeadLetterRecord } from '../../src/core/readings.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import {
  bridgeEnv,
  connectFleet,
  createTopics,
  deleteTopics,
  eventually,
  killAllBridges,
  publishAll,
  readTopic,
  startBridge,
  testConfig,
  uniqueName,
  type BridgeProcess,
} from './edge-harness.ts';

const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('edge-dlq');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
const prefix = config.mqtt.topicPrefix;
let bridge: BridgeProcess | undefined;

before(async () => {
  await createTopics(kafka, [
    { topic: names.readings, partitions: 2 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
  bridge = await startBridge(bridgeEnv(config, names));
});

after(async () => {
  await killAllBridges();
  await deleteTopics(kafka, [names.readings, names.deadLetter]);
});

const now = Date.now();
const good = (id: string) => ({ id, ts: now, metrics: { t: 1 } });

/** Each case gets its own device, so that its dead letter is found by the topic it came on. */
const CORPUS: ReadonlyArray<{ name: string; payload: string | Buffer; reason: string; topic?: string }> = [
  { name: 'malformed JSON', payload: '{"id":"1","ts":', reason: 'malformed-json' },
  { name: 'NaN as JSON text', payload: `{"id":"1","ts":${now},"metrics":{"t":NaN}}`, reason: 'malformed-json' },
  { name: 'Infinity as JSON text', payload: `{"id":"1","ts":${now},"metrics":{"t":Infinity}}`, reason: 'malformed-json' },
  { name: '1e999', payload: `{"id":"1","ts":${now},"metrics":{"t":1e999}}`, reason: 'non-finite-value' },
  { name: 'wrong types', payload: JSON.stringify({ id: ['1'], ts: 'yesterday', metrics: 'warm' }), reason: 'schema' },
  { name: 'a metric of the wrong type', payload: JSON.stringify({ id: '1', ts: now, metrics: { t: '21.5' } }), reason: 'schema' },
  { name: 'oversized', payload: JSON.stringify({ ...good('1'), pad: 'x'.repeat(300 * 1024) }), reason: 'payload-too-large' },
  { name: 'wrong device for the topic', payload: JSON.stringify({ ...good('1'), device: 'someone-else' }), reason: 'device-mismatch' },
  { name: 'far-future time', payload: JSON.stringify({ ...good('1'), ts: now + 86_400_000 }), reason: 'event-time-too-far-ahead' },
  { name: 'far-past time', payload: JSON.stringify({ ...good('1'), ts: now - 30 * 86_400_000 }), reason: 'event-time-too-far-behind' },
  { name: 'binary junk', payload: Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x80, 0x81]), reason: 'not-utf8' },
  { name: 'deep nesting', payload: '{"id":"1","x":' + '['.repeat(100) + ']'.repeat(100) + '}', reason: 'too-deeply-nested' },
  { name: 'an unsafe device name in the topic', payload: JSON.stringify(good('1')), reason: 'bad-topic', topic: `${prefix}/acme/bad device` },
];

test('every bad payload lands in the dead-letter topic with its reason, and the bridge keeps serving', async () => {
  const fleet = await connectFleet(config);
  const messages = CORPUS.map((entry, index) => ({ topic: entry.topic ?? `${prefix}/acme/bad-${index}`, payload: entry.payload }));
  // A partly valid batch: reading 1 goes on, reading 0 and 2 are refused one by one.
  const batchTopic = `${prefix}/acme/batch`;
  messages.push({
    topic: batchTopic,
    payload: JSON.stringify({ readings: [{ id: 'a', ts: now, metrics: { t: 'x' } }, good('b'), { ...good('c'), ts: now + 86_400_000 }] }),
  });
  await publishAll(fleet, messages, 1);
  await publishAll(fleet, [{ topic: `${prefix}/acme/after-the-junk`, payload: JSON.stringify(good('survivor')) }]);
  fleet.end();

  const readDeadLetters = async (): Promise<Array<DeadLetterRecord & { key: string }>> =>
    (await readTopic(kafka, names.deadLetter)).map((message) => ({ ...(JSON.parse(message.value!.toString()) as DeadLetterRecord), key: String(message.key) }));
  const expectedCount = CORPUS.length + 2;
  const deadLetters = await eventually(readDeadLetters, (records) => records.length >= expectedCount, 30_000);
  assert.equal(deadLetters.length, expectedCount, 'one dead letter per refused message or batch item');

  CORPUS.forEach((entry, index) => {
    const topic = entry.topic ?? `${prefix}/acme/bad-${index}`;
    const record = deadLetters.find((candidate) => candidate.origin === topic);
    assert.ok(record, `dead letter for ${entry.name}`);
    assert.equal(record.reason, entry.reason, `${entry.name}: ${record.detail}`);
    assert.equal(record.source, 'mqtt');
    assert.equal(record.index, null);
    assert.ok(record.detail.length > 0);
    const original = Buffer.isBuffer(entry.payload) ? entry.payload : Buffer.from(entry.payload);
    const kept = Buffer.from(record.payloadBase64, 'base64');
    if (entry.reason === 'payload-too-large') {
      assert.ok(kept.length < original.length && original.subarray(0, kept.length).equals(kept), 'an oversized payload is kept cut');
      assert.match(record.detail, /cut to/);
    } else {
      assert.ok(kept.equals(original), `${entry.name}: the original bytes are kept`);
    }
  });

  const batchLetters = deadLetters.filter((record) => record.origin === batchTopic).sort((a, b) => a.index! - b.index!);
  assert.deepEqual(batchLetters.map((record) => [record.index, record.reason]), [
    [0, 'schema'],
    [2, 'event-time-too-far-ahead'],
  ]);
  assert.equal(JSON.parse(Buffer.from(batchLetters[0]!.payloadBase64, 'base64').toString()).id, 'a', 'a batch item keeps its own JSON');
  assert.equal(batchLetters[0]!.key, 'batch', 'dead letters are keyed by device');

  const readings = (await readTopic(kafka, names.readings))
    .map((message) => decodeRecord(message.value!))
    .flatMap((decoded) => (decoded.ok ? decoded.readings : []));
  assert.deepEqual(readings.map((reading) => `${reading.device}/${reading.id}`).sort(), ['after-the-junk/survivor', 'batch/b']);
  assert.equal((await fetch(`${bridge!.url}/readyz`)).status, 200, 'still ready after the junk');

  const metrics = await fetch(`${bridge!.url}/metrics`).then((response) => response.text());
  assert.match(metrics, /tp_edge_rejected_total\{source="mqtt",reason="too-deeply-nested"\} 1/);
  assert.match(metrics, /tp_edge_dead_letters_published_total\{source="mqtt"\} 15/);
});
