import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import type { Reading } from '../../src/core/readings.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { encodeReading } from '../../src/core/wire/reading.ts';
import { encodeReadingBatch } from '../../src/core/wire/batch.ts';
import { encodeTick } from '../../src/core/wire/tick.ts';
import type { AggregateRow } from '../../src/core/rows.ts';

/**
 * The broker's append time (the record's log timestamp) is a record's ingest time, whatever clock
 * the bridge that wrote it stamped into the payload: for every record kind.
 */
const T = 1_764_000_000_000;
const reading = (device: string, id: string, eventTime: number, ingestTime: number): Reading => ({
  tenant: 't1',
  device,
  id,
  eventTime,
  ingestTime,
  metrics: { temperature: 20 },
});

const kinds: ReadonlyArray<readonly [string, (bridgeTime: number) => string]> = [
  ['single reading', (bridgeTime) => encodeReading(reading('d1', '1', T, bridgeTime))],
  ['batch', (bridgeTime) => encodeReadingBatch([reading('d1', '1', T, bridgeTime), reading('d1', '2', T + 1, bridgeTime)])],
  ['tick', (bridgeTime) => encodeTick(bridgeTime, 'bridge-a')],
];

function ingestTimes(value: string, logTime?: number): number[] {
  const decoded = decodeRecord(value, logTime);
  assert.ok(decoded.ok);
  return decoded.tick !== null ? [decoded.tick.ingestTime] : decoded.readings.map((r) => r.ingestTime);
}

for (const [kind, encode] of kinds) {
  test(`${kind}: the log time given is the ingest time, for a bridge clock behind, ahead or right`, () => {
    for (const skew of [-30_000, -1, 0, 1, 45_000]) {
      const logTime = T + 250;
      for (const time of ingestTimes(encode(logTime + skew), logTime)) assert.equal(time, logTime, `bridge skew ${skew} ms`);
    }
  });

  test(`${kind}: without a log time (none given, or librdkafka's -1 for none) the payload's time stays`, () => {
    for (const time of ingestTimes(encode(T - 30_000))) assert.equal(time, T - 30_000);
    for (const time of ingestTimes(encode(T - 30_000), -1)) assert.equal(time, T - 30_000);
  });
}

const spec: ProcessorSpec = {
  pipeline: 'test',
  partition: 0,
  window: { kind: 'tumbling', sizeMs: 10_000 },
  watermark: { kind: 'fixed', delayMs: 2000 },
  latePolicy: { kind: 'drop' },
  idleTimeoutMs: 5000,
  maxDeviceClockOffsetMs: 10 * 60_000,
};

/**
 * Two bridges in one shared subscription take turns with each device's messages; bridge B's host
 * clock is `skewMs` off. Devices' clocks are right; the broker appends 40 ms after the device measured.
 */
function runTwoBridges(skewMs: number): { rows: AggregateRow[]; processor: PartitionProcessor; late: number } {
  const processor = new PartitionProcessor(spec);
  const rows: AggregateRow[] = [];
  let late = 0;
  const out = { emitRow: (row: AggregateRow) => rows.push(row), emitLate: () => void late++ };
  let offset = 0;
  for (let second = 0; second < 120; second++) {
    for (let device = 0; device < 20; device++) {
      const eventTime = T + second * 1000 + device * 7;
      const appended = eventTime + 40;
      const bridgeTime = (device + second) % 2 === 1 ? appended + skewMs : appended;
      const decoded = decodeRecord(encodeReading(reading(`d${device}`, `${second}`, eventTime, bridgeTime)), appended);
      assert.ok(decoded.ok);
      processor.processReadings(decoded.readings, offset++, out);
    }
    const tick = decodeRecord(encodeTick(T + second * 1000 + 500 + (second % 2 === 1 ? skewMs : 0), 'bridge'), T + second * 1000 + 500);
    assert.ok(tick.ok && tick.tick !== null);
    processor.process(tick.tick, offset++, out);
  }
  return { rows, processor, late };
}

test('one bridge 30 s behind: device-clock counts, late drops and rows are those of no skew', () => {
  const right = runTwoBridges(0);
  for (const skewMs of [-30_000, 30_000, -5 * 60_000]) {
    const skewed = runTwoBridges(skewMs);
    assert.deepEqual(skewed.processor.deviceClockCounts(), right.processor.deviceClockCounts(), `skew ${skewMs}`);
    assert.equal(skewed.processor.deviceClockCounts().shifted, 0, 'no device is taken for a skewed one');
    assert.equal(skewed.late, right.late, `late readings with skew ${skewMs}`);
    assert.deepEqual(skewed.rows, right.rows, `rows with skew ${skewMs}`);
  }
});
