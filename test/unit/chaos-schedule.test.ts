import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAULT_KINDS, faultSchedule } from '../../loadtest/chaos/schedule.ts';

const options = { seed: 7, durationMs: 300_000, kinds: FAULT_KINDS, timesEach: 3, marginMs: 10_000, instances: 2, brokers: 3 };

test('the same seed gives the same fault schedule', () => {
  assert.deepEqual(faultSchedule(options), faultSchedule(options));
});

test('another seed gives another schedule', () => {
  assert.notDeepEqual(faultSchedule(options), faultSchedule({ ...options, seed: 8 }));
});

test('every fault is scheduled the number of times asked, inside the margins, in time order', () => {
  const schedule = faultSchedule(options);
  for (const kind of FAULT_KINDS) assert.equal(schedule.filter((fault) => fault.kind === kind).length, 3, kind);
  for (const fault of schedule) assert.ok(fault.atMs >= 10_000 && fault.atMs <= 290_000, `${fault.atMs}`);
  assert.deepEqual(schedule.map((f) => f.atMs), [...schedule.map((f) => f.atMs)].sort((a, b) => a - b));
  assert.ok(schedule.filter((f) => f.kind === 'crash-aggregator-at-point').every((f) => /^[a-z-]+:\d+$/.test(f.point ?? '')));
});
