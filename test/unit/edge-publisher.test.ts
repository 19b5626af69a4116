import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEAD_LETTER_PAYLOAD_LIMIT, ReadingPublisher, encodeDeadLetter, readingRecords, type Envelope, type PublishOutcome, type RecordSink } from '../../edge/publisher.ts';
import { FlowControl } from '../../edge/flow.ts';
import { createEdgeMetrics } from '../../edge/metrics.ts';
import type { DeadLetterRecord, Reading } from '../../src/core/readings.ts';
import { MAX_BATCH_RECORD_CHARS, encodeReadingBatch } from '../../src/core/wire/batch.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { encodeReading } from '../../src/core/wire/reading.ts';
import { KafkaProduceError, type DeliveryCallback, type DeliveryReceiver } from '../../src/kafka/producer.ts';
import type { ValidationResult } from '../../src/core/validation.ts';

/** An in-memory sink: records what was sent and lets the test settle each record. */
class RecordingSink implements RecordSink {
  readonly sent: Array<{ topic: string; key: string | null; value: string; callback: DeliveryCallback }> = [];
  send(topic: string, key: string | null, value: string | Buffer, _partition: number | null, receiver: DeliveryCallback | DeliveryReceiver): void {
    const callback: DeliveryCallback = typeof receiver === 'function' ? receiver : (error) => receiver.delivered(error);
    this.sent.push({ topic, key, value: value.toString(), callback });
  }
}

const reading = (id: string): Reading => ({ tenant: 'acme', device: 'd1', id, eventTime: 1000, ingestTime: 2000, metrics: { t: 1 } });
const envelope: Envelope = { source: 'mqtt', origin: 'telemetry/acme/d1', deadLetterKey: 'd1', payload: Buffer.from('{"raw":true}'), receivedAt: 2000 };

function setup() {
  const flow = new FlowControl(1000);
  flow.setKafkaAvailable(true, 'test');
  const metrics = createEdgeMetrics(() => flow.recordsInFlight);
  const sink = new RecordingSink();
  const publisher = new ReadingPublisher({ sink, readingsTopic: 'r', deadLetterTopic: 'dl', flow, metrics, now: () => 2005 });
  return { flow, sink, publisher, metrics };
}

test('a message with one reading is one reading record keyed by device', () => {
  const { sink, publisher } = setup();
  publisher.publish({ readings: [reading('1')], rejections: [] }, envelope, () => undefined);
  assert.deepEqual(sink.sent.map((record) => [record.topic, record.key]), [['r', 'd1']]);
  assert.equal(sink.sent[0]!.value, encodeReading(reading('1')), 'the single-reading form, as before batch records');
});

test("a message's readings of one device are one batch record; the outcome waits for every record", () => {
  const { sink, publisher, flow } = setup();
  const result: ValidationResult = {
    readings: [reading('1'), reading('2')],
    rejections: [{ index: 2, reason: 'schema', detail: 'bad', item: '{"id":3}' }],
  };
  const outcomes: PublishOutcome[] = [];
  publisher.publish(result, envelope, (outcome) => outcomes.push(outcome));
  assert.deepEqual(sink.sent.map((record) => [record.topic, record.key]), [
    ['r', 'd1'],
    ['dl', 'd1'],
  ]);
  assert.equal(sink.sent[0]!.value, encodeReadingBatch([reading('1'), reading('2')]));
  const decoded = decodeRecord(sink.sent[0]!.value);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.readings.map((one) => one.id), ['1', '2']);
  assert.equal(flow.recordsInFlight, 3, 'in flight counts readings and dead letters, not records');
  sink.sent[1]!.callback(undefined);
  assert.deepEqual(outcomes, [], 'not settled while one record is in flight');
  assert.equal(flow.recordsInFlight, 3);
  sink.sent[0]!.callback(undefined);
  assert.deepEqual(outcomes, [{ ok: true, error: undefined }]);
  assert.equal(flow.recordsInFlight, 0);
});

test('a gateway body becomes one record per device, devices in order of first appearance, readings in order', async () => {
  const { sink, publisher, metrics } = setup();
  const of = (device: string, id: string): Reading => ({ ...reading(id), device });
  const readings = [of('b', '1'), of('a', '2'), of('b', '3'), of('c', '4'), of('a', '5')];
  const outcomes: PublishOutcome[] = [];
  publisher.publish({ readings, rejections: [] }, { ...envelope, source: 'http' }, (outcome) => outcomes.push(outcome));
  assert.deepEqual(sink.sent.map((record) => record.key), ['b', 'a', 'c']);
  const ids = sink.sent.map((record) => {
    const decoded = decodeRecord(record.value);
    assert.ok(decoded.ok);
    return decoded.readings.map((one) => `${one.device}/${one.id}`);
  });
  assert.deepEqual(ids, [['b/1', 'b/3'], ['a/2', 'a/5'], ['c/4']]);
  assert.equal(sink.sent[2]!.value, encodeReading(of('c', '4')), "a device's single reading keeps the single-reading form");
  const again = new RecordingSink();
  new ReadingPublisher({ sink: again, readingsTopic: 'r', deadLetterTopic: 'dl', flow: setup().flow, metrics }).publish({ readings, rejections: [] }, envelope, () => undefined);
  assert.deepEqual(again.sent.map((record) => record.value), sink.sent.map((record) => record.value), 'the same body encodes to the same bytes');

  sink.sent[0]!.callback(undefined);
  sink.sent[2]!.callback(undefined);
  sink.sent[1]!.callback(new KafkaProduceError('KAFKA_DELIVERY_FAILED', 'refused', { retriable: false }));
  assert.equal(outcomes.length, 1);
  assert.equal(outcomes[0]!.ok, false, 'one failed record fails the request');
  const text = await metrics.registry.metrics();
  assert.match(text, /tp_edge_readings_published_total\{source="http"\} 3\n/, 'published counts the readings of the delivered records');
  assert.match(text, /tp_edge_publish_failures_total\{source="http"\} 1/);
});

test('readingRecords cuts a large device batch under the record size limit', () => {
  const big = Array.from({ length: 5000 }, (_, i): Reading => ({ ...reading(`id-${i}-${'x'.repeat(100)}`), eventTime: 1000 + i }));
  const records = readingRecords(big);
  assert.ok(records.length > 1, 'more than one record');
  assert.ok(records.every((record) => record.value.length <= MAX_BATCH_RECORD_CHARS));
  assert.equal(records.reduce((sum, record) => sum + record.readings, 0), big.length);
  const ids = records.flatMap((record) => {
    const decoded = decodeRecord(record.value);
    assert.ok(decoded.ok);
    return decoded.readings.map((one) => one.id);
  });
  assert.deepEqual(ids, big.map((one) => one.id), 'every reading once, in order');
});

test('one failed record fails the whole message (it must not be acknowledged)', () => {
  const { sink, publisher } = setup();
  const outcomes: PublishOutcome[] = [];
  publisher.publish(
    { readings: [reading('1')], rejections: [{ index: 1, reason: 'schema', detail: 'bad', item: '{}' }] },
    envelope,
    (outcome) => outcomes.push(outcome),
  );
  const failure = new KafkaProduceError('KAFKA_DELIVERY_INDEFINITE', 'timed out', { retriable: true, indefinite: true });
  sink.sent[0]!.callback(failure);
  sink.sent[1]!.callback(undefined);
  assert.equal(outcomes.length, 1);
  assert.equal(outcomes[0]!.ok, false);
  assert.equal(outcomes[0]!.error, failure);
});

test('dead letters keep the original bytes for a whole-message refusal and the item for a batch member', () => {
  const whole = JSON.parse(encodeDeadLetter({ index: null, reason: 'malformed-json', detail: 'x', item: null }, envelope)) as DeadLetterRecord;
  assert.equal(Buffer.from(whole.payloadBase64, 'base64').toString(), '{"raw":true}');
  assert.deepEqual([whole.reason, whole.index, whole.source, whole.origin, whole.receivedAt], ['malformed-json', null, 'mqtt', 'telemetry/acme/d1', 2000]);
  const member = JSON.parse(encodeDeadLetter({ index: 4, reason: 'schema', detail: 'x', item: '{"id":"4"}' }, envelope)) as DeadLetterRecord;
  assert.equal(Buffer.from(member.payloadBase64, 'base64').toString(), '{"id":"4"}');
  assert.equal(member.index, 4);
});

test('an oversized original is cut to the dead-letter limit and the detail says so', () => {
  const big: Envelope = { ...envelope, payload: Buffer.alloc(DEAD_LETTER_PAYLOAD_LIMIT + 100, 0x61) };
  const record = JSON.parse(encodeDeadLetter({ index: null, reason: 'payload-too-large', detail: 'too big', item: null }, big)) as DeadLetterRecord;
  assert.equal(Buffer.from(record.payloadBase64, 'base64').length, DEAD_LETTER_PAYLOAD_LIMIT);
  assert.match(record.detail, new RegExp(`cut to ${DEAD_LETTER_PAYLOAD_LIMIT} of ${DEAD_LETTER_PAYLOAD_LIMIT + 100} bytes`));
});

test('metrics count published readings, dead letters and rejections by reason', async () => {
  const { sink, publisher, metrics } = setup();
  publisher.publish({ readings: [reading('1')], rejections: [{ index: null, reason: 'device-mismatch', detail: 'x', item: null }] }, envelope, () => undefined);
  for (const record of sink.sent) record.callback(undefined);
  const text = await metrics.registry.metrics();
  assert.match(text, /tp_edge_readings_published_total\{source="mqtt"\} 1/);
  assert.match(text, /tp_edge_dead_letters_published_total\{source="mqtt"\} 1/);
  assert.match(text, /tp_edge_rejected_total\{source="mqtt",reason="device-mismatch"\} 1/);
  assert.match(text, /tp_edge_ack_latency_seconds_count\{source="mqtt"\} 1/);
});

test('publishReading sends what publish does for a message of one valid reading, with the same counts and outcome', async () => {
  const viaPublish = setup();
  const viaReading = setup();
  const outcomes: Array<PublishOutcome[]> = [[], []];
  viaPublish.publisher.publish({ readings: [reading('7')], rejections: [] }, envelope, (outcome) => outcomes[0]!.push(outcome));
  viaReading.publisher.publishReading(reading('7'), 'mqtt', envelope.receivedAt, (outcome) => outcomes[1]!.push(outcome));
  for (const { sink, flow } of [viaPublish, viaReading]) {
    assert.deepEqual(sink.sent.map((record) => [record.topic, record.key, record.value]), [['r', 'd1', encodeReading(reading('7'))]]);
    assert.equal(flow.recordsInFlight, 1);
    sink.sent[0]!.callback(undefined);
    assert.equal(flow.recordsInFlight, 0);
  }
  assert.deepEqual(outcomes[0], outcomes[1]);
  assert.deepEqual(outcomes[1], [{ ok: true, error: undefined }]);
  const counts = ({ metrics }: ReturnType<typeof setup>) => {
    const { ackLatency, ...hot } = metrics.hot.mqtt;
    return { ...hot, latencyCount: ackLatency.count, latencySum: ackLatency.sum };
  };
  assert.deepEqual(counts(viaReading), counts(viaPublish));
});
