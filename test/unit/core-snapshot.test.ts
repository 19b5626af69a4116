import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/util/random.ts';
import { PipelineError } from '../../src/core/errors.ts';
import { PartitionProcessor, type LatePolicySpec, type ProcessorOutput, type ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord, ReadingsTopicRecord } from '../../src/core/readings.ts';
import type { WatermarkSpec } from '../../src/core/watermarks.ts';
import type { WindowSpec } from '../../src/core/windows.ts';


const T0 = 1_700_000_000_000;

/**
 * A partition's log: five devices with one or two metrics, mostly small delays, some very late
 * readings, a few clocks ahead, redeliveries, ticks, and gaps long enough to go idle.
 */
function generate(seed: number, count: number): ReadingsTopicRecord[] {
  const random = mulberry32(seed);
  const records: ReadingsTopicRecord[] = [];
  const sent: ReadingRecord[] = [];
  let ingest = T0;
  for (let i = 0; i < count; i++) {
    ingest += random() < 0.07 ? 9000 : Math.floor(random() * 700);
    const roll = random();
    if (roll < 0.06) {
      records.push({ v: 1, tick: true, ingestTime: ingest, source: 'bridge' });
      continue;
    }
    if (roll < 0.14 && sent.length > 0) {
      // A redelivery, usually of a recent reading (a bridge or device retrying).
      const back = Math.min(sent.length, 1 + Math.floor(random() * 12));
      records.push({ ...sent[sent.length - back]!, ingestTime: ingest });
      continue;
    }
    const lateness = random();
    const delay = lateness < 0.12 ? 3000 + random() * 22_000 : lateness < 0.14 ? -random() * 20_000 : random() * 2500;
    const metrics: Record<string, number> = { a: Math.round(random() * 1000) / 10 };
    if (random() < 0.4) metrics['b'] = random() * 100 - 50;
    const record: ReadingRecord = {
      v: 1,
      tenant: random() < 0.9 ? 'acme' : 'other',
      device: `d${Math.floor(random() * 5)}`,
      id: `r${i}`,
      eventTime: Math.floor(ingest - delay),
      ingestTime: ingest,
      metrics,
    };
    sent.push(record);
    records.push(record);
  }
  return records;
}

type Event = readonly ['row', unknown] | readonly ['late', string, string, number];

class Recorder implements ProcessorOutput {
  readonly events: Event[] = [];
  emitRow(row: unknown): void {
    this.events.push(['row', row]);
  }
  emitLate(reading: ReadingRecord, metric: string, offset: number): void {
    this.events.push(['late', reading.id, metric, offset]);
  }
}

const windows: WindowSpec[] = [
  { kind: 'tumbling', sizeMs: 5000 },
  { kind: 'sliding', sizeMs: 10_000, slideMs: 2500 },
  { kind: 'session', gapMs: 3000 },
];
const policies: LatePolicySpec[] = [{ kind: 'drop' }, { kind: 'late-topic' }, { kind: 'reemit', allowedLatenessMs: 8000 }];
const watermarks: WatermarkSpec[] = [
  { kind: 'fixed', delayMs: 2000 },
  { kind: 'adaptive', quantile: 0.9, marginMs: 200, floorMs: 100, ceilingMs: 10_000, horizonMs: 20_000 },
];

function specOf(window: WindowSpec, latePolicy: LatePolicySpec, watermark: WatermarkSpec): ProcessorSpec {
  return { pipeline: 'equivalence', partition: 7, window, watermark, latePolicy, idleTimeoutMs: 4000 };
}

for (const window of windows) {
  for (const latePolicy of policies) {
    for (const watermark of watermarks) {
      const name = `${window.kind} / ${latePolicy.kind} / ${watermark.kind}`;
      test(`restore at every cut point reproduces the uninterrupted output exactly: ${name}`, () => {
        const spec = specOf(window, latePolicy, watermark);
        // Seeds picked so that every configuration's log exercises what is asserted below.
        const records = generate(window.kind.length * 31 + latePolicy.kind.length * 7 + watermark.kind.length + 5, 220);

        // The uninterrupted run, remembering the snapshot before each record and where each event came from.
        const full = new PartitionProcessor(spec);
        const out = new Recorder();
        const snapshots: string[] = [];
        const eventsBefore: number[] = [];
        records.forEach((record, offset) => {
          snapshots.push(full.snapshot());
          eventsBefore.push(out.events.length);
          full.process(record, offset, out);
        });
        snapshots.push(full.snapshot());
        eventsBefore.push(out.events.length);
        full.flushAll(out);
        assert.ok(out.events.length > 20, 'the log must produce rows');
        if (latePolicy.kind === 'reemit') assert.ok(full.stats.lateAbsorbed > 0, 'the log must exercise late absorption');
        if (latePolicy.kind === 'late-topic') assert.ok(full.stats.lateToTopic > 0, 'the log must hand out late readings');
        assert.ok(full.stats.duplicates > 0, 'the log must contain redeliveries');

        for (let cut = 0; cut <= records.length; cut++) {
          const restored = PartitionProcessor.restore(spec, snapshots[cut]!);
          assert.equal(restored.nextOffset(), cut === 0 ? null : cut);
          const replay = new Recorder();
          for (let offset = cut; offset < records.length; offset++) restored.process(records[offset]!, offset, replay);
          restored.flushAll(replay);
          assert.deepEqual(replay.events, out.events.slice(eventsBefore[cut]), `events after cut ${cut}`);
          assert.deepEqual(restored.stats, full.stats, `stats after cut ${cut}`);
          assert.equal(restored.watermark(), full.watermark());
          assert.equal(restored.currentDelayMs(), full.currentDelayMs());
        }
      });
    }
  }
}

test('a restored processor skips records it has already seen, and replays from an earlier snapshot identically twice', () => {
  const spec = specOf(windows[0]!, policies[2]!, watermarks[1]!);
  const records = generate(42, 300);
  const original = new PartitionProcessor(spec);
  const sink = new Recorder();
  records.slice(0, 150).forEach((record, offset) => original.process(record, offset, sink));
  const early = original.snapshot();
  records.slice(150).forEach((record, index) => original.process(record, 150 + index, sink));

  // Redelivering the whole log to the live processor changes nothing.
  const before = JSON.stringify(original.stats);
  const redelivered = new Recorder();
  records.forEach((record, offset) => original.process(record, offset, redelivered));
  assert.equal(redelivered.events.length, 0);
  assert.equal(original.stats.skippedRecords, 300);
  assert.deepEqual({ ...JSON.parse(before), skippedRecords: 300 }, original.stats);

  // Two restores from the same earlier snapshot replay the rest with identical rows.
  const replays = [0, 1].map(() => {
    const restored = PartitionProcessor.restore(spec, early);
    const out = new Recorder();
    records.forEach((record, offset) => restored.process(record, offset, out));
    return out.events;
  });
  assert.deepEqual(replays[0], replays[1]);
  assert.deepEqual(replays[0], sink.events.slice(countEventsUpTo(spec, records, 150)));
});

function countEventsUpTo(spec: ProcessorSpec, records: readonly ReadingsTopicRecord[], offset: number): number {
  const processor = new PartitionProcessor(spec);
  const out = new Recorder();
  records.slice(0, offset).forEach((record, index) => processor.process(record, index, out));
  return out.events.length;
}

test('a snapshot restores only into the same pipeline, partition and window; watermark settings may change', () => {
  const spec = specOf(windows[0]!, policies[0]!, watermarks[1]!);
  const processor = new PartitionProcessor(spec);
  generate(1, 100).forEach((record, offset) => processor.process(record, offset, new Recorder()));
  const snapshot = processor.snapshot();
  const incompatible = (candidate: ProcessorSpec): void =>
    assert.throws(
      () => PartitionProcessor.restore(candidate, snapshot),
      (error: unknown) => error instanceof PipelineError && error.code === 'CORE_SNAPSHOT_INCOMPATIBLE',
    );
  incompatible({ ...spec, partition: 8 });
  incompatible({ ...spec, pipeline: 'other' });
  incompatible({ ...spec, window: { kind: 'tumbling', sizeMs: 10_000 } });
  assert.throws(
    () => PartitionProcessor.restore(spec, '{"v":1'),
    (error: unknown) => error instanceof PipelineError && error.code === 'CORE_SNAPSHOT_INVALID',
  );
  // A new watermark spec: the estimate restarts (D = the new ceiling), the watermark itself stays.
  const changed = PartitionProcessor.restore({ ...spec, watermark: { ...watermarks[1]!, ceilingMs: 15_000 } as WatermarkSpec }, snapshot);
  assert.equal(changed.watermark(), processor.watermark());
  assert.equal(changed.currentDelayMs(), 15_000);
  assert.equal(changed.openWindows(), processor.openWindows());
  assert.ok(changed.estimatedStateBytes() > 0, 'state size estimate');
});
