import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAULT_KINDS, FAULT_SCENARIOS, faultSchedule, faultsForMode, faultsOutOfMode } from '../../loadtest/chaos/schedule.ts';

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

test('each MQTT mode injects the faults that exist in it: Mosquitto faults in broker mode, the endpoint kill in direct mode', () => {
  assert.ok(faultsForMode('direct').includes('kill-endpoint-kafka-frozen'));
  assert.ok(!faultsForMode('direct').includes('restart-mosquitto'));
  assert.ok(!faultsForMode('direct').includes('kill-mosquitto-bridge-held'));
  assert.ok(faultsForMode('broker').includes('kill-mosquitto-bridge-held'));
  assert.ok(faultsForMode('broker').includes('restart-mosquitto'));
  assert.ok(!faultsForMode('broker').includes('kill-endpoint-kafka-frozen'));
  // Every fault exists in at least one mode, and the faults of both modes are injected in each.
  for (const kind of FAULT_KINDS) assert.ok(faultsForMode('direct').includes(kind) || faultsForMode('broker').includes(kind), kind);
  assert.ok(faultsForMode('direct').includes('kill-bridge') && faultsForMode('broker').includes('kill-bridge'));
});

test('a fault asked for in the other mode is named with the mode it needs', () => {
  assert.deepEqual(faultsOutOfMode(['kill-bridge', 'restart-mosquitto'], 'direct'), ['restart-mosquitto exists only in broker mode (--mqtt-mode broker)']);
  assert.deepEqual(faultsOutOfMode(['kill-endpoint-kafka-frozen'], 'broker'), ['kill-endpoint-kafka-frozen exists only in direct mode (--mqtt-mode direct)']);
  assert.deepEqual(faultsOutOfMode(faultsForMode('broker'), 'broker'), []);
});

test('every fault names the failure-table rows it exercises; both MQTT endpoint kills exercise the broker-crash row', () => {
  for (const kind of FAULT_KINDS) assert.ok(FAULT_SCENARIOS[kind].length > 0, kind);
  assert.ok(FAULT_SCENARIOS['kill-endpoint-kafka-frozen'].includes('mqtt-broker-crash'));
  assert.ok(FAULT_SCENARIOS['kill-mosquitto-bridge-held'].includes('mqtt-broker-crash'));
});
