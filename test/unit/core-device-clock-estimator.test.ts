import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeviceClocks, ENTER_AFTER_MS, EVICT_AFTER_MS, MAX_TRACKED } from '../../src/core/device-clock.ts';

/**
 * The device-clock estimator on its own (src/core/device-clock.ts): bounded state, the ceiling,
 * hysteresis in both directions. core-device-clock.test.ts runs it inside the processor.
 */
const T0 = 1_700_000_000_000;
const SKEW = 120_000;

test('device state stays bounded: silent devices are evicted by log time, at most MAX_TRACKED are kept', () => {
  const clocks = new DeviceClocks({ maxOffsetMs: 300_000, coveredDelayMs: 2000, quantumMs: 1000 });
  for (let i = 0; i < MAX_TRACKED + 5000; i++) clocks.observe('acme', `d${i}`, T0 - SKEW, T0 + i);
  assert.equal(clocks.counts().tracked, MAX_TRACKED);
  // Ordinary readings create no state.
  for (let i = 0; i < 1000; i++) clocks.observe('acme', `n${i}`, T0 + 100_000, T0 + 100_300);
  assert.equal(clocks.counts().tracked, MAX_TRACKED);
  // One device keeps sending (shifted); the rest go silent and are forgotten.
  for (let t = T0 + 100_000; t <= T0 + 100_000 + EVICT_AFTER_MS + 120_000; t += 1000) clocks.observe('acme', 'd1', t - SKEW, t);
  assert.deepEqual(clocks.counts(), { tracked: 1, shifted: 1, behind: 1, ahead: 0, beyondCeiling: 0 });
  assert.equal(clocks.shiftOf('acme', 'd1'), SKEW);
  assert.ok(JSON.stringify(clocks.snapshot()).length < 200);
});

test('offsets beyond the ceiling are not followed but counted; spikes do not shift; 0 turns it off', () => {
  const clocks = new DeviceClocks({ maxOffsetMs: 60_000, coveredDelayMs: 2000, quantumMs: 1000 });
  for (let t = T0; t < T0 + 30_000; t += 500) {
    assert.equal(clocks.observe('acme', 'far', t - SKEW, t), 0);
    // A device whose delays spike above the covered delay now and then.
    clocks.observe('acme', 'spiky', t - (t % 2000 === 0 ? 200 : 5000), t);
  }
  assert.deepEqual(clocks.counts(), { tracked: 2, shifted: 0, behind: 0, ahead: 0, beyondCeiling: 1 });
  const off = new DeviceClocks({ maxOffsetMs: 0, coveredDelayMs: 2000, quantumMs: 1000 });
  for (let t = T0; t < T0 + 30_000; t += 500) assert.equal(off.observe('acme', 'late', t - SKEW, t), 0);
  assert.equal(off.counts().tracked, 0);
  });

test('hysteresis: the shift follows a lower minimum at once, a higher one only after a full bucket', () => {
  const clocks = new DeviceClocks({ maxOffsetMs: 300_000, coveredDelayMs: 2000, quantumMs: 1000 });
  let t = T0;
  for (; t <= T0 + ENTER_AFTER_MS; t += 500) clocks.observe('acme', 'x', t - 60_000, t);
  assert.equal(clocks.shiftOf('acme', 'x'), 60_000);
  // Small changes (within half the covered delay) do not move it.
  for (let i = 0; i < 40; i++, t += 500) clocks.observe('acme', 'x', t - 60_000 - (i % 2) * 800, t);
  assert.equal(clocks.shiftOf('acme', 'x'), 60_000);
  // A lower offset is followed at once.
  t += 500;
  clocks.observe('acme', 'x', t - 30_000, t);
  assert.equal(clocks.shiftOf('acme', 'x'), 30_000);
  // A higher one only after it held for the previous bucket and the current one.
  const raisedAt = t;
  for (; t < raisedAt + ENTER_AFTER_MS; t += 500) {
    clocks.observe('acme', 'x', t - 90_000, t);
  }
  assert.equal(clocks.shiftOf('acme', 'x'), 30_000);
  for (; t < raisedAt + 3 * ENTER_AFTER_MS; t += 500) clocks.observe('acme', 'x', t - 90_000, t);
  assert.equal(clocks.shiftOf('acme', 'x'), 90_000);
});

test('ahead: the maximum delay rounded towards zero; a higher maximum followed at once, a lower one after a full bucket; ends near zero', () => {
  const clocks = new DeviceClocks({ maxOffsetMs: 300_000, coveredDelayMs: 2000, quantumMs: 1000 });
  let t = T0;
  // 60 s ahead, network delays of 300 and 700 ms: apparent delays −59.7 s and −59.3 s.
  for (; t <= T0 + ENTER_AFTER_MS; t += 500) {
    clocks.observe('acme', 'x', t + 60_000 - (t % 1000 === 0 ? 300 : 700), t);
    if (t < T0 + ENTER_AFTER_MS) assert.equal(clocks.shiftOf('acme', 'x'), 0, 'learning');
  }
  assert.equal(clocks.shiftOf('acme', 'x'), -59_000);
  assert.deepEqual(clocks.counts(), { tracked: 1, shifted: 1, behind: 0, ahead: 1, beyondCeiling: 0 });
  assert.equal(clocks.takeEnteredAhead(), true);
  assert.equal(clocks.takeEnteredAhead(), false);
  // Changes within half the covered delay do not move it.
  for (let i = 0; i < 40; i++, t += 500) clocks.observe('acme', 'x', t + 59_000 + (i % 2) * 1900, t);
  assert.equal(clocks.shiftOf('acme', 'x'), -59_000);
  // A higher maximum (a delay spike, or the clock set partly back) is followed at once.
  t += 500;
  clocks.observe('acme', 'x', t + 30_500, t);
  assert.equal(clocks.shiftOf('acme', 'x'), -30_000);
  // A lower one only after it held for the previous bucket and the current one.
  const loweredAt = t;
  for (; t < loweredAt + ENTER_AFTER_MS; t += 500) clocks.observe('acme', 'x', t + 90_000, t);
  assert.equal(clocks.shiftOf('acme', 'x'), -30_000);
  for (; t < loweredAt + 3 * ENTER_AFTER_MS; t += 500) clocks.observe('acme', 'x', t + 90_000, t);
  assert.equal(clocks.shiftOf('acme', 'x'), -90_000);
  assert.equal(clocks.takeEnteredAhead(), false, 'only entering counts');
  // The snapshot restores the side and the bucket state.
  const copy = new DeviceClocks({ maxOffsetMs: 300_000, coveredDelayMs: 2000, quantumMs: 1000 });
  copy.restore(JSON.parse(JSON.stringify(clocks.snapshot())));
  assert.deepEqual(copy.snapshot(), clocks.snapshot());
  assert.deepEqual(copy.counts(), clocks.counts());
  // A clock fixed: the first reading near zero delay ends the shift.
  t += 500;
  assert.equal(clocks.observe('acme', 'x', t - 300, t), 0);
  assert.deepEqual(clocks.counts(), { tracked: 0, shifted: 0, behind: 0, ahead: 0, beyondCeiling: 0 });
});

test('ahead: small offsets are not followed, offsets beyond the ceiling are counted, not followed', () => {
  const clocks = new DeviceClocks({ maxOffsetMs: 60_000, coveredDelayMs: 2000, quantumMs: 1000 });
  for (let t = T0; t < T0 + 30_000; t += 500) {
    // 1.2 s ahead with 50–800 ms of network delay: its maximum delay does not stay below −1 s.
    clocks.observe('acme', 'near', t + 1200 - (t % 1500 === 0 ? 800 : 50), t);
    assert.equal(clocks.observe('acme', 'far', t + SKEW, t), 0);
  }
  assert.equal(clocks.shiftOf('acme', 'near'), 0);
  assert.deepEqual(clocks.counts(), { tracked: 1, shifted: 0, behind: 0, ahead: 0, beyondCeiling: 1 });
});
