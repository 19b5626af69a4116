import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate } from '../../src/advisor/simulate.ts';
import { advisorCaseTrace, checkAdvisorCase, type AdvisorCase } from '../fuzz/advisor-properties.ts';
import { exactReplay } from '../model/advisor-replay.ts';

/**
 * Found by advisor/replay-equals-exact: the core defect of core-session-purged.test.ts seen
 * through the advisor. Device 0's clock jumps from 11 s ahead to 3 s ahead, so a reading of a
 * burst (trace index 226, event time 10 043 754) arrives when the watermark has just closed and
 * purged its session [10 011 754, 10 044 754). The core opened a new session for it inside that
 * span; the simulator then booked it to the new session's row (7600 ms) and the exact replay to
 * the row emitted while it was processed (0 ms), whose span holds its event time. It is late: in
 * no row, with no latency, in both.
 */
const CASE: AdvisorCase = {
  seed: 28,
  durationMs: 50755,
  delays: 'bursts',
  devices: [
    { periodMs: 2000, phaseMs: 754, offsetMs: 11000, jumpAtMs: 18755, laterOffsetMs: -3000 },
    { periodMs: 250, phaseMs: 0, offsetMs: 8000, jumpAtMs: 50751, laterOffsetMs: -1000 },
  ],
  scattered: false,
  partitions: 1,
  flushMs: 0,
  candidate: {
    window: { kind: 'session', gapMs: 3000 },
    watermark: { kind: 'adaptive', quantile: 0.9, marginMs: 0, floorMs: 200, ceilingMs: 30000, horizonMs: 60000 },
    latePolicy: { kind: 'drop' },
    idleTimeoutMs: 2000,
    maxDeviceClockOffsetMs: 300000,
  },
};

test('a reading back in the span of a purged session is late for the what-if replay as for the exact one (found by advisor/replay-equals-exact)', () => {
  checkAdvisorCase(CASE);
  const trace = advisorCaseTrace(CASE);
  const options = { partitions: 1, flushMs: 0, tickIntervalMs: 1000 };
  assert.deepEqual([trace.device[226], trace.eventTime[226], trace.ingestTime[226]], [0, 10_043_754, 10_052_400], 'the trace is the one the case was found on');
  const exact = exactReplay(trace, CASE.candidate, options);
  assert.ok(Number.isNaN(exact.byReading[226]!), `reading 226 has latency ${exact.byReading[226]!}`);
  const fast = simulate(trace, CASE.candidate, { ...options, collectLatencies: true });
  assert.equal(fast.endToEndLatency.count, trace.length - 1, 'every reading but that one has a latency');
  assert.equal(fast.completeness, (trace.length - 1) / trace.length);
});
