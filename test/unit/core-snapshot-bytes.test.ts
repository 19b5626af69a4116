import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mulberry32 } from '../../src/util/random.ts';
import { PartitionProcessor, type ProcessorOutput, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord, ReadingsTopicRecord } from '../../src/core/readings.ts';

/**
 * Checkpoints outlive the code that wrote them: a processor snapshot in the checkpoint table must
 * restore after an upgrade, and the same log must still be written as the same bytes (a change of
 * form is a change of snapshot version, made on purpose). The fixtures were written by the core as it was
 * before it was split into its present files (issue 20); they hold aligned and session windows,
 * retained windows, shifted windows (a device whose clock runs 40 s behind), purgedThrough guards,
 * id sets (windows of more than 16 readings), sums of values of 2^960 or more, and count-only
 * windows counted in their series.
 */
interface Fixtures {
  readonly seed: number;
  readonly cut: number;
  readonly fixtures: ReadonlyArray<{ readonly spec: ProcessorSpec; readonly snapshot: string }>;
}

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/core-snapshots-v1.json', import.meta.url), 'utf8')) as Fixtures;
const T0 = 1_700_000_000_000;

/** Three devices (d2's clock 40 s behind), one reading in ten 6–14 s late, redeliveries, ticks, and a value of 1e300 now and then. */
function generate(seed: number, count: number): ReadingsTopicRecord[] {
  const random = mulberry32(seed);
  const records: ReadingsTopicRecord[] = [];
  const sent: ReadingRecord[] = [];
  let ingest = T0;
  for (let i = 0; i < count; i++) {
    ingest += Math.floor(random() * 150);
    const roll = random();
    if (roll < 0.04) {
      records.push({ v: 1, tick: true, ingestTime: ingest, source: 'bridge' });
      continue;
    }
    if (roll < 0.1 && sent.length > 0) {
      records.push({ ...sent[sent.length - 1 - Math.floor(random() * Math.min(sent.length, 5))]!, ingestTime: ingest });
      continue;
    }
    const device = `d${Math.floor(random() * 3)}`;
    const delay = (device === 'd2' ? 40_000 : 0) + (random() < 0.1 ? 6000 + random() * 8000 : random() * 1500);
    const metrics: Record<string, number> = { a: i % 17 === 3 ? 1e300 : Math.round(random() * 1000) / 10 };
    if (random() < 0.5) metrics['b'] = random() * 100 - 50;
    const record: ReadingRecord = { v: 1, tenant: 'acme', device, id: `r${i}`, eventTime: Math.floor(ingest - delay), ingestTime: ingest, metrics };
    sent.push(record);
    records.push(record);
  }
  return records;
}

class Recorder implements ProcessorOutput {
  readonly events: string[] = [];
  emitRow(row: unknown): void {
    this.events.push(JSON.stringify(row));
  }
  emitLate(reading: ReadingRecord, metric: string, offset: number): void {
    this.events.push(`late ${reading.id} ${metric} ${offset}`);
  }
}

const records = generate(fixtures.seed, fixtures.cut + 150);

for (const { spec, snapshot } of fixtures.fixtures) {
  const name = `${spec.window.kind} / ${spec.latePolicy.kind}${spec.aggregates === 'count' ? ' / count' : ''}`;

  test(`the same log is written as the same bytes as before the core was split: ${name}`, () => {
    const processor = new PartitionProcessor(spec);
    const out = new Recorder();
    for (let offset = 0; offset < fixtures.cut; offset++) processor.process(records[offset]!, offset, out);
    assert.equal(processor.snapshot(), snapshot);
  });

  test(`a checkpoint written before the core was split restores and resumes as if uninterrupted: ${name}`, () => {
    const whole = new PartitionProcessor(spec);
    const expected = new Recorder();
    records.forEach((record, offset) => {
      if (offset === fixtures.cut) expected.events.length = 0;
      whole.process(record, offset, expected);
    });
    whole.flushAll(expected);

    const restored = PartitionProcessor.restore(spec, snapshot);
    assert.equal(restored.nextOffset(), fixtures.cut);
    const out = new Recorder();
    for (let offset = fixtures.cut; offset < records.length; offset++) restored.process(records[offset]!, offset, out);
    restored.flushAll(out);
    assert.ok(expected.events.length > 5, 'the rest of the log must produce rows');
    assert.deepEqual(out.events, expected.events);
    assert.deepEqual(restored.stats, whole.stats);
  });
}
