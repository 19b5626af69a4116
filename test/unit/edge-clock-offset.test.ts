import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClockOffsetEstimator, OffsetAlarm, type ClockSample } from '../../edge/clock-offset.ts';

const T = 1_764_000_000_000;

/** A deterministic generator, so that a failure reproduces. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1_664_525 + 1_013_904_223) >>> 0;
    return state / 2 ** 32;
  };
}

/**
 * A record sent at true time `at`, lingering and travelling `up` ms to the broker, which stamps it,
 * and `down` ms back; the local clock reads true time + offset.
 */
function sample(at: number, offsetMs: number, up: number, down: number): ClockSample {
  return { sentAt: at + offsetMs, brokerTime: at + up, deliveredAt: at + up + down + offsetMs };
}

test('the estimate is within half the shortest round trip of the true offset, for clocks behind, right and ahead', () => {
  const next = random(22);
  for (const offsetMs of [-30_000, -1500, 0, 7, 30_000, -86_400_000]) {
    const estimator = new ClockOffsetEstimator(5);
    let shortest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 5; i++) {
      const up = 1 + next() * 40; // linger and the way there
      const down = 1 + next() * 10; // replication and the way back
      shortest = Math.min(shortest, up + down);
      estimator.add(sample(T + i * 1000, offsetMs, up, down));
    }
    const estimate = estimator.offsetMs();
    assert.ok(estimate !== null);
    assert.ok(Math.abs(estimate - offsetMs) <= shortest / 2, `offset ${offsetMs}: estimate ${estimate}, shortest round trip ${shortest}`);
  }
});

test('no estimate before a usable sample; a report without a broker time (-1) is no sample', () => {
  const estimator = new ClockOffsetEstimator();
  assert.equal(estimator.offsetMs(), null);
  assert.equal(estimator.add({ sentAt: T, deliveredAt: T + 5, brokerTime: -1 }), false);
  assert.equal(estimator.add({ sentAt: T, deliveredAt: T - 5, brokerTime: T }), false, 'a local clock stepped back mid-sample');
  assert.equal(estimator.offsetMs(), null);
});

test('a clock that is stepped shows fully once the window has passed', () => {
  const estimator = new ClockOffsetEstimator(3);
  for (let i = 0; i < 3; i++) estimator.add(sample(T + i * 1000, -30_000, 2, 1)); // short round trips, old clock
  for (let i = 3; i < 6; i++) estimator.add(sample(T + i * 1000, 0, 20, 10)); // NTP fixed it; longer round trips
  assert.ok(Math.abs(estimator.offsetMs()!) <= 15);
});

test('the alarm warns once when the bound is crossed and once when the offset is back, not on every sample', () => {
  const alarm = new OffsetAlarm(2000);
  const offsets = [0, 100, -2500, -30_000, -29_000, -2100, -1900, -1700, -1500, -100, 2500, 3000];
  const transitions = offsets.map((offset) => alarm.update(offset));
  assert.deepEqual(transitions, [null, null, 'crossed', null, null, null, null, null, 'recovered', null, 'crossed', null]);
  assert.equal(alarm.raised, true);
});

test('an offset hovering at the bound warns once', () => {
  const alarm = new OffsetAlarm(1000);
  const transitions = Array.from({ length: 100 }, (_, i) => alarm.update(i % 2 === 0 ? 1001 : 999));
  assert.equal(transitions.filter((t) => t === 'crossed').length, 1);
  assert.equal(transitions.filter((t) => t === 'recovered').length, 0);
});
