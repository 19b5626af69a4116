import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProcessorSpec } from '../../src/core/processor.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import type { AggregateRow } from '../../src/core/rows.ts';
import { assertSameAsModel, rowKey, runProduction, type Cut, type Entry } from '../fuzz/core-run.ts';
import { referenceRun, type LogEntry } from '../model/reference-core.ts';

/**
 * A session's row key is its start. Once a session was emitted and left the store, a reading in
 * its span, or within a gap after it, would have joined it; opening a new session with it, or
 * letting it join an open one, moves a start into that span — a second row for the emitted key,
 * with the same version and other readings when the counts happen to agree, and ReplacingMergeTree
 * keeps either (found by the fuzz harness: core/session-equals-model, core/restore-equals-uncut,
 * core/late-topic-equals-model). Such a reading is late, under every policy, also after a restore.
 */
const T0 = 1_700_000_000_000;
const GAP = 1500;

function reading(id: string, eventMs: number, ingestMs: number, device = 'd0'): LogEntry {
  const record: ReadingRecord = { v: 1, tenant: 'a', device, id, eventTime: T0 + eventMs, ingestTime: T0 + ingestMs, metrics: { t: 0 } };
  return { kind: 'readings', readings: [record] };
}
const tick = (ingestMs: number): LogEntry => ({ kind: 'tick', ingestTime: T0 + ingestMs });

function specOf(latePolicy: ProcessorSpec['latePolicy'], maxDeviceClockOffsetMs?: number): ProcessorSpec {
  return {
    pipeline: 'p',
    partition: 0,
    window: { kind: 'session', gapMs: GAP },
    watermark: { kind: 'fixed', delayMs: 0 },
    latePolicy,
    idleTimeoutMs: 0,
    ...(maxDeviceClockOffsetMs === undefined ? {} : { maxDeviceClockOffsetMs }),
  };
}

/** Throws unless every (key, version) was emitted with one content. */
function assertEachKeyVersionOnce(rows: readonly AggregateRow[]): void {
  const seen = new Map<string, string>();
  for (const row of rows) {
    const id = `${rowKey(row)} v${row.version}`;
    const content = JSON.stringify(row);
    const held = seen.get(id);
    if (held !== undefined && held !== content) assert.fail(`${id} emitted twice with different contents:\n${held}\n${content}`);
    seen.set(id, content);
  }
}

/** Runs production (uncut, or cut before every record in turn) and holds it to the model and the invariant. */
function check(spec: ProcessorSpec, log: readonly LogEntry[], entry: Entry = 'records', cuts: readonly Cut[] = []): AggregateRow[] {
  const expected = referenceRun(spec, log, true);
  assertEachKeyVersionOnce(expected.rows);
  const actual = runProduction(spec, log, entry, cuts);
  assertEachKeyVersionOnce(actual.rows);
  assertSameAsModel(actual, expected);
  return actual.rows;
}

const at = (row: AggregateRow): string => `[${row.windowStart - T0}, ${row.windowEnd - T0}) v${row.version} count ${row.count}`;

test('a late reading in the span of a purged session does not open a session under its key (the redelivered first reading would)', () => {
  // Session [980, 2480) of two readings, emitted and purged at WM 2480; then a reading at 981,
  // whose proto-session [981, 2481) still ends past the watermark, and the first reading again.
  const log = [reading('r0', 980, 1000), reading('r1', 980, 1000), tick(2480), reading('r2', 981, 2480), reading('r0', 980, 2480)];
  const result = runProduction(specOf({ kind: 'late-topic' }), log, 'records');
  assertEachKeyVersionOnce(result.rows);
  assert.deepEqual(result.rows.map(at), ['[980, 2480) v2 count 2']);
  assert.deepEqual(result.late.map((late) => `${late.id}@${late.offset}`), ['r2@3', 'r0@4']);
});

test('a late reading within a gap of a purged session does not join an open session, moving its start into that span', () => {
  // Three readings at 980; the reading at 2480 closes their session and opens [2480, 3980), which
  // the late reading at 981 reaches: joined, it moves that start to 981, and the first reading again to 980.
  const log = [reading('r0', 980, 1000), reading('r1', 980, 1000), reading('r2', 980, 1000), reading('r3', 2480, 2480), reading('r4', 981, 2480), reading('r0', 980, 2480)];
  const result = runProduction(specOf({ kind: 'drop' }), log, 'records');
  assertEachKeyVersionOnce(result.rows);
  assert.deepEqual(result.rows.map(at), ['[980, 2480) v3 count 3', '[2480, 3980) v1 count 1']);
  assert.equal(result.stats.lateDropped, 2);
});

test('a device whose event times run ahead of ingest: readings back in its purged session go to the late topic', () => {
  // (core/late-topic-equals-model) Three readings at 1500 stamped ahead of their ingest time; a batch at ingest 10500 closes
  // their session [1500, 9500) and brings two readings at 4000, whose session [4000, 12000) would still be open.
  const batch: LogEntry = {
    kind: 'readings',
    readings: [
      { v: 1, tenant: 'a', device: 'd0', id: 'r3', eventTime: T0 + 12_000, ingestTime: T0 + 10_500, metrics: { t: 0 } },
      { v: 1, tenant: 'a', device: 'd0', id: 'r4', eventTime: T0 + 4000, ingestTime: T0 + 10_500, metrics: { t: 0 } },
      { v: 1, tenant: 'a', device: 'd0', id: 'r5', eventTime: T0 + 4000, ingestTime: T0 + 10_500, metrics: { t: 0 } },
    ],
  };
  const spec: ProcessorSpec = { ...specOf({ kind: 'late-topic' }), window: { kind: 'session', gapMs: 8000 } };
  const log = [reading('r0', 1500, 0), reading('r1', 1500, 0), reading('r2', 1500, 0), batch, reading('r2', 1500, 10_500)];
  const rows = check(spec, log);
  assert.deepEqual(rows.map(at), ['[1500, 9500) v3 count 3', '[12000, 20000) v1 count 1']);
  assert.deepEqual(
    runProduction(spec, log, 'records').late.map((late) => `${late.id}@${late.offset}`),
    ['r4@3', 'r5@3', 'r2@4'],
  );
});

test('the class: late readings anywhere in a purged session, closed by a tick or a reading, under every policy, by name or number, cut anywhere', () => {
  const policies: Array<ProcessorSpec['latePolicy']> = [{ kind: 'drop' }, { kind: 'late-topic' }, { kind: 'reemit', allowedLatenessMs: 0 }, { kind: 'reemit', allowedLatenessMs: 400 }];
  let cases = 0;
  for (const latePolicy of policies) {
    for (const maxOffset of [undefined, 0]) {
      const spec = specOf(latePolicy, maxOffset);
      for (const closeBy of ['tick', 'reading'] as const) {
        for (const watermark of [2480, 2700, 2979, 3400, 3979]) {
          for (const lateAt of [980, 981, 1600, 2479]) {
            // Sessions of one and of two readings at 980: the one the late reading and the redelivery make has either count.
            for (const held of [1, 2]) {
              const log: LogEntry[] = [];
              for (let i = 0; i < held; i++) log.push(reading(`r${i}`, 980, 1000));
              log.push(closeBy === 'tick' ? tick(watermark) : reading('next', watermark, watermark));
              log.push(reading('late', lateAt, watermark), reading('r0', 980, watermark), reading('other', lateAt, watermark, 'd1'));
              const cutEverywhere = log.map((_, at): Cut => ({ at, redeliver: 0 }));
              for (const [entry, cuts] of [['records', []], ['numbered', []], ['records', cutEverywhere]] as const) {
                const rows = check(spec, log, entry, cuts);
                const frozen = rows.filter((row) => row.device === 'd0' && row.windowStart < T0 + 2480);
                // Nothing opened or extended inside the span: rows there are the session's own, [980, 2480).
                for (const row of frozen) assert.deepEqual([row.windowStart - T0, row.windowEnd - T0], [980, 2480], `${JSON.stringify({ latePolicy, closeBy, watermark, lateAt, held })}: ${at(row)}`);
                cases++;
              }
            }
          }
        }
      }
    }
  }
  assert.equal(cases, 4 * 2 * 2 * 5 * 4 * 2 * 3);
});

test('restored from a snapshot, a processor still refuses readings back in a purged session: of an empty series within a gap of the watermark, of one with open sessions at any distance', () => {
  for (const maxOffset of [0, undefined]) {
    const spec = specOf({ kind: 'drop' }, maxOffset);
    // Empty series: [980, 2480) purged at WM 2480; the reading at 981 could open [981, 2481).
    const empty = [reading('r0', 980, 1000), reading('r1', 980, 1000), tick(2480), reading('late', 981, 2480), reading('r0', 980, 2480)];
    // A series with an open session long past the purged one: [0, 1500) purged, then readings every
    // second from 2000 to 10000; a reading at 1000 reaches the open session, then the one at 0 again.
    const long = [reading('r0', 0, 0)];
    for (let t = 2000; t <= 10_000; t += 1000) long.push(reading(`s${t}`, t, t));
    long.push(reading('late', 1000, 10_000), reading('r0', 0, 10_000));
    for (const log of [empty, long]) {
      const cutBeforeLate = [{ at: log.length - 2, redeliver: 0 }];
      const rows = check(spec, log, 'records', cutBeforeLate);
      assert.ok(rows.every((row) => row.windowStart - T0 === 980 || row.windowStart - T0 === 0 || row.windowStart - T0 >= 2000), rows.map(at).join(', '));
    }
  }
});
