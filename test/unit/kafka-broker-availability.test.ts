import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrokerAvailability } from '../../src/kafka/broker-availability.ts';

/** A metadata check that the test answers or fails by hand. */
function manualChecks() {
  const waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  return {
    check: () => new Promise<void>((resolve, reject) => waiting.push({ resolve, reject })),
    get count() {
      return waiting.length;
    },
    answer: (index: number) => waiting[index]!.resolve(),
    fail: (index: number) => waiting[index]!.reject(new Error('no broker answered')),
  };
}

function availability(check: () => Promise<void>, signal = new AbortController().signal) {
  const changes: string[] = [];
  const tracked = new BrokerAvailability({
    changed: (available, reason) => changes.push(`${available}:${reason}`),
    check,
    checkPauseMs: 1,
    signal,
  });
  return { tracked, changes };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

test('a delivery report of a record produced before "all brokers down" does not make Kafka available', () => {
  const { tracked, changes } = availability(() => new Promise<void>(() => {}));
  tracked.connected();
  tracked.allBrokersDown(101);
  for (let opaque = 1; opaque <= 100; opaque++) tracked.delivered(opaque);
  assert.equal(tracked.isAvailable, false);
  tracked.delivered(101);
  assert.equal(tracked.isAvailable, true);
  assert.deepEqual(changes, ['true:connected', 'false:all brokers down', 'true:delivery report']);
});

test('while Kafka is away a metadata check runs until one is answered, with a pause after each failure', async () => {
  const checks = manualChecks();
  const { tracked, changes } = availability(checks.check);
  tracked.connected();
  tracked.allBrokersDown(1);
  assert.equal(checks.count, 1);
  checks.fail(0);
  await settle();
  assert.equal(checks.count, 2, 'checked again after a failure');
  assert.equal(tracked.isAvailable, false);
  checks.answer(1);
  await settle();
  assert.equal(tracked.isAvailable, true);
  assert.equal(checks.count, 2, 'no check once available');
  assert.deepEqual(changes, ['true:connected', 'false:all brokers down', 'true:metadata answered']);
});

test('a check issued before the latest "all brokers down" does not count; one issued after does', async () => {
  const checks = manualChecks();
  const { tracked } = availability(checks.check);
  tracked.connected();
  tracked.allBrokersDown(1);
  tracked.delivered(5); // Kafka back for a moment (a record produced since) ...
  tracked.allBrokersDown(10); // ... and gone again while the first check was waiting
  assert.equal(checks.count, 1, 'one check at a time');
  checks.answer(0);
  await settle();
  assert.equal(tracked.isAvailable, false, 'the answer belonged to the earlier outage');
  assert.equal(checks.count, 2);
  checks.answer(1);
  await settle();
  assert.equal(tracked.isAvailable, true);
});

test('a client being replaced is unavailable until the new one connects; closing ends the checks', async () => {
  const checks = manualChecks();
  const closing = new AbortController();
  const { tracked, changes } = availability(checks.check, closing.signal);
  tracked.connected();
  tracked.lost('re-creating the producer');
  tracked.delivered(1_000_000);
  assert.equal(tracked.isAvailable, true, 'a report of a record produced on the new client counts');
  tracked.allBrokersDown(1_000_001);
  closing.abort();
  checks.fail(0);
  await settle();
  assert.equal(checks.count, 1, 'no check after close');
  assert.deepEqual(changes, ['true:connected', 'false:re-creating the producer', 'true:delivery report', 'false:all brokers down']);
});
