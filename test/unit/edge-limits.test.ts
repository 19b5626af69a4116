import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyedTokenBuckets, TokenBucket, retryAfterSeconds } from '../../edge/limits/token-bucket.ts';
import { ConnectionCaps } from '../../edge/limits/connection-caps.ts';

test('a token bucket admits its burst, then its rate, and says how long to wait', () => {
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 5 }, 0);
  for (let i = 0; i < 5; i++) assert.equal(bucket.take(1, 0), 0);
  assert.equal(bucket.take(1, 0), 100, 'one token comes back after 100 ms');
  assert.equal(bucket.take(1, 99), 1);
  assert.equal(bucket.take(1, 100), 0);
  assert.equal(bucket.take(1, 100), 100);
});

test('a take above the burst is admitted from a full bucket only, and leaves a debt', () => {
  const bucket = new TokenBucket({ ratePerSecond: 10, burst: 5 }, 0);
  assert.equal(bucket.take(50, 0), 0);
  assert.equal(bucket.available(0), -45);
  assert.equal(bucket.take(1, 0), 4600, 'the debt of 45 and one token: 4.6 s');
  assert.equal(bucket.take(50, 4600), 400, 'a big take waits for a full bucket');
  assert.equal(bucket.take(50, 5000), 0);
});

test('a clock that steps back neither refills nor empties a bucket', () => {
  const bucket = new TokenBucket({ ratePerSecond: 1, burst: 2 }, 10_000);
  bucket.take(2, 10_000);
  assert.equal(bucket.take(1, 5_000), 1000);
  assert.equal(bucket.take(1, 11_000), 0);
});

test('rate 0 turns a limit off', () => {
  const buckets = new KeyedTokenBuckets({ ratePerSecond: 0, burst: 1 }, 10);
  for (let i = 0; i < 1000; i++) assert.equal(buckets.take('gw', 1, 0), 0);
  assert.equal(buckets.size, 0, 'no bucket is even kept');
});

/** Takes at non-decreasing times, with costs up to twice the burst. */
const takesArb = fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 20 })), { minLength: 1, maxLength: 200 });
const limitsArb = fc.record({ ratePerSecond: fc.integer({ min: 1, max: 100 }), burst: fc.integer({ min: 1, max: 10 }) });

test('over any interval a bucket admits at most burst + rate × interval + one take beyond the burst', () => {
  fc.assert(
    fc.property(limitsArb, takesArb, (limits, takes) => {
      const bucket = new TokenBucket(limits, 0);
      let now = 0;
      const admitted: Array<{ at: number; cost: number }> = [];
      for (const [step, cost] of takes) {
        now += step;
        if (bucket.take(cost, now) === 0) admitted.push({ at: now, cost });
      }
      const maxExcess = Math.max(0, ...takes.map(([, cost]) => cost - limits.burst));
      for (let i = 0; i < admitted.length; i++) {
        let sum = 0;
        for (let j = i; j < admitted.length; j++) {
          sum += admitted[j]!.cost;
          const interval = admitted[j]!.at - admitted[i]!.at;
          assert.ok(sum <= limits.burst + (limits.ratePerSecond * interval) / 1000 + maxExcess + 1e-9, `admitted ${sum} in ${interval} ms`);
        }
      }
    }),
  );
});

test('a refused take is admitted exactly when its wait has passed', () => {
  fc.assert(
    fc.property(limitsArb, takesArb, fc.integer({ min: 1, max: 20 }), (limits, takes, cost) => {
      const bucket = new TokenBucket(limits, 0);
      let now = 0;
      for (const [step, c] of takes) bucket.take(c, (now += step));
      const wait = bucket.waitFor(cost, now);
      if (wait === 0) return;
      assert.ok(bucket.waitFor(cost, now + wait - 1) > 0, 'not admitted a millisecond early');
      assert.equal(bucket.take(cost, now + wait), 0, 'admitted when the wait is over');
    }),
  );
});

test('takeAll over several keys takes all or nothing', () => {
  const buckets = new KeyedTokenBuckets({ ratePerSecond: 10, burst: 10 }, 100);
  assert.equal(buckets.take('b', 10, 0), 0);
  const wait = buckets.takeAll(new Map([['a', 5], ['b', 5]]), 0);
  assert.equal(wait, 500, 'b needs 5 tokens: 500 ms');
  assert.equal(buckets.take('a', 10, 0), 0, 'nothing was taken from a');
  assert.equal(buckets.takeAll(new Map([['a', 5], ['b', 5]]), 500), 0);
});

test('keyed buckets keep at most maxKeys, forgetting the least recently used', () => {
  const buckets = new KeyedTokenBuckets({ ratePerSecond: 1, burst: 1 }, 3);
  for (const key of ['a', 'b', 'c']) buckets.take(key, 1, 0);
  buckets.take('a', 1, 0); // a is now the most recently used (and refused)
  buckets.take('d', 1, 0); // evicts b
  assert.equal(buckets.size, 3);
  assert.ok(buckets.take('a', 1, 0) > 0, 'a was kept, still empty');
  assert.equal(buckets.take('b', 1, 0), 0, 'b was forgotten: a full bucket again');
  assert.equal(retryAfterSeconds(1), 1);
  assert.equal(retryAfterSeconds(1001), 2);
});

test('connection caps equal a plain count per source and in total, whatever the order of opens and closes', () => {
  const opArb = fc.array(fc.tuple(fc.boolean(), fc.constantFrom('10.0.0.1', '10.0.0.2', '::1')), { maxLength: 300 });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 5 }), opArb, (maxConnections, maxConnectionsPerSource, ops) => {
      const caps = new ConnectionCaps({ maxConnections, maxConnectionsPerSource });
      const model = new Map<string, number>();
      const total = (): number => [...model.values()].reduce((a, b) => a + b, 0);
      for (const [opening, source] of ops) {
        const held = model.get(source) ?? 0;
        if (opening) {
          const expected = total() >= maxConnections ? 'connection-cap' : held >= maxConnectionsPerSource ? 'source-connection-cap' : undefined;
          assert.equal(caps.open(source), expected);
          if (expected === undefined) model.set(source, held + 1);
        } else if (held > 0) {
          caps.close(source);
          model.set(source, held - 1);
        } else {
          assert.throws(() => caps.close(source));
        }
        assert.equal(caps.openConnections, total());
        assert.equal(caps.heldBy(source), model.get(source) ?? 0);
      }
    }),
  );
});
