import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Reading, ReadingRecord } from '../../src/core/readings.ts';
import { encodeReadingBatch } from '../../src/core/wire/batch.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { encodeReading } from '../../src/core/wire/reading.ts';
import { encodeTick } from '../../src/core/wire/tick.ts';

/**
 * The readings topic's record forms in their plain encoders and the one decoder (src/core/wire/).
 * The fast paths are held equal to these in wire-fast-paths.test.ts.
 */

const NOW = 1_764_000_000_000;
const reading = (id: string, eventTime: number, metrics: Record<string, number>): Reading => ({
  tenant: 'acme',
  device: 'sensor-1',
  id,
  eventTime,
  ingestTime: NOW,
  metrics,
});
const record = (value: Reading): ReadingRecord => ({ v: 1, ...value });

test('a single-reading record decodes to its one reading', () => {
  const one = reading('42', NOW - 5, { temperature: 21.5 });
  const decoded = decodeRecord(encodeReading(one));
  assert.deepEqual(decoded, { ok: true, tick: null, readings: [record(one)] });
  assert.deepEqual(decodeRecord(Buffer.from(encodeReading(one))), decoded, 'a Buffer decodes like a string');
});

test('a batch record decodes to its readings in order, each carrying tenant, device and ingest time', () => {
  const readings = [reading('b', NOW - 2, { t: 1 }), reading('a', NOW - 3, { t: 2, h: 40 }), reading('c', NOW - 1, { t: -0.5 })];
  const value = encodeReadingBatch(readings);
  assert.equal(
    value,
    `{"v":1,"kind":"batch","tenant":"acme","device":"sensor-1","ingestTime":${NOW},"readings":[` +
      `{"id":"b","eventTime":${NOW - 2},"metrics":{"t":1}},{"id":"a","eventTime":${NOW - 3},"metrics":{"t":2,"h":40}},` +
      `{"id":"c","eventTime":${NOW - 1},"metrics":{"t":-0.5}}]}`,
  );
  const decoded = decodeRecord(value);
  assert.deepEqual(decoded, { ok: true, tick: null, readings: readings.map(record) });
});

test('a tick decodes to the tick and no readings', () => {
  const decoded = decodeRecord(encodeTick(NOW, 'bridge-1'));
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.tick, { v: 1, tick: true, ingestTime: NOW, source: 'bridge-1' });
  assert.deepEqual(decoded.readings, []);
});

test('the same readings always encode to the same bytes', () => {
  const make = (): Reading[] => [reading('1', NOW, { b: 2, a: 1 }), reading('2', NOW, { a: 1, b: 2 })];
  assert.equal(encodeReadingBatch(make()), encodeReadingBatch(make()));
  assert.notEqual(encodeReadingBatch(make()), encodeReadingBatch(make().reverse()), 'order is part of the record');
});

test('bad input is refused with a reason, never half decoded', () => {
  const valid = JSON.parse(encodeReadingBatch([reading('1', NOW, { t: 1 }), reading('2', NOW, { t: 2 })])) as Record<string, unknown>;
  const batch = (change: Record<string, unknown>): string => JSON.stringify({ ...valid, ...change });
  const cases: Array<[string | Buffer, string]> = [
    ['{', 'not-json'],
    [Buffer.from([0x7b, 0xff]), 'not-json'],
    ['42', 'not-an-object'],
    ['null', 'not-an-object'],
    ['[1]', 'not-an-object'],
    ['{"v":2,"tenant":"a","device":"d","id":"1","eventTime":1,"ingestTime":1,"metrics":{}}', 'unknown-schema-version'],
    ['{"v":1,"tick":true,"source":"x"}', 'bad-tick'],
    ['{"v":1,"tenant":"a","device":"d","id":1,"eventTime":1,"ingestTime":1,"metrics":{}}', 'bad-reading-shape'],
    ['{"v":1,"tenant":"a","device":"d","id":"1","eventTime":1,"metrics":{}}', 'bad-reading-shape'],
    ['{"v":1,"tenant":"a","device":"d","id":"1","eventTime":1,"ingestTime":1,"metrics":[]}', 'bad-reading-shape'],
    [batch({ kind: 'bundle' }), 'unknown-record-kind'],
    [batch({ readings: [] }), 'bad-batch-shape'],
    [batch({ readings: {} }), 'bad-batch-shape'],
    [batch({ device: 7 }), 'bad-batch-shape'],
    [batch({ ingestTime: '1' }), 'bad-batch-shape'],
    [batch({ readings: [{ id: '1', eventTime: 1, metrics: { t: 1 } }, { id: '2', eventTime: '1', metrics: { t: 1 } }] }), 'bad-batch-shape'],
    [batch({ readings: [{ id: '1', eventTime: 1, metrics: { t: 1 } }, null] }), 'bad-batch-shape'],
    [batch({ readings: [{ id: '1', eventTime: 1 }] }), 'bad-batch-shape'],
  ];
  for (const [value, reason] of cases) {
    assert.deepEqual(decodeRecord(value), { ok: false, reason }, String(value));
  }
  assert.throws(() => encodeReadingBatch([]), RangeError);
});
