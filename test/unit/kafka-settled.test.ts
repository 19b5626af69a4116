import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SettledWaiter } from '../../src/kafka/settled.ts';
import { KafkaProduceError } from '../../src/kafka/produce-error.ts';

/** A producer's drain (flush, close) without librdkafka: a count of records in flight and its reports. */
function inFlight(count: number): { waiter: SettledWaiter; report: () => void } {
  let left = count;
  const waiter = new SettledWaiter(() => left);
  return {
    waiter,
    report: () => {
      left--;
      waiter.check();
    },
  };
}

const timeout = (): KafkaProduceError => new KafkaProduceError('KAFKA_FLUSH_TIMEOUT', 'still in flight', { retriable: true });

test('a drain resolves on the report that settles the last record, not before', async () => {
  const { waiter, report } = inFlight(2);
  let settled = false;
  const drained = waiter.wait(60_000, timeout).then(() => (settled = true));
  report();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, false, 'one record still in flight');
  report();
  await drained;
  assert.equal(settled, true);
});

test('a drain with nothing in flight resolves at once', async () => {
  await inFlight(0).waiter.wait(0, timeout);
});

test('a drain that outlives its bound rejects with the typed timeout error, and a later report does not resolve it', async () => {
  const { waiter, report } = inFlight(1);
  await assert.rejects(waiter.wait(10, timeout), (error: unknown) => error instanceof KafkaProduceError && error.code === 'KAFKA_FLUSH_TIMEOUT');
  report(); // the waiter was removed: nothing to call
});

test('several drains waiting at once all resolve on the last report', async () => {
  const { waiter, report } = inFlight(1);
  const drains = [waiter.wait(60_000, timeout), waiter.wait(60_000, timeout)];
  report();
  await Promise.all(drains);
});
