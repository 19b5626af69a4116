import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InFlightReceivers } from '../../src/kafka/in-flight.ts';

/**
 * The producer's in-flight receivers (src/kafka/in-flight.ts) against the plain model it replaces,
 * a Map from opaque to receiver: any sequence of produces, reports (in any order, of records in
 * flight, settled or never produced) and clears gives the same answers.
 */
type Op = { kind: 'add' } | { kind: 'take'; pick: number; stale: boolean } | { kind: 'clear' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.constant<Op>({ kind: 'add' }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('take' as const), pick: fc.nat(), stale: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant<Op>({ kind: 'clear' }) },
);

test('the ring answers as a Map of opaques would, through growth, holes and clears', () => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 400 }), fc.integer({ min: 1, max: 8 }), (ops, initialSlots) => {
      const ring = new InFlightReceivers<string>(initialSlots);
      const model = new Map<number, string>();
      let next = 1;
      for (const op of ops) {
        if (op.kind === 'add') {
          const opaque = ring.add(`r${next}`);
          assert.equal(opaque, next, 'opaques are handed out in sequence');
          model.set(next, `r${next}`);
          next++;
        } else if (op.kind === 'take') {
          // A record in flight, or any opaque ever handed out (a second report, a report after clear), or one never handed out.
          const live = [...model.keys()];
          const opaque = !op.stale && live.length > 0 ? live[op.pick % live.length]! : (op.pick % (next + 2)) - 1;
          const expected = model.get(opaque);
          model.delete(opaque);
          assert.equal(ring.take(opaque), expected, `take(${opaque})`);
        } else {
          assert.deepEqual(ring.clear(), [...model.values()], 'clear() gives what is in flight, oldest first');
          model.clear();
        }
        assert.equal(ring.size, model.size);
      }
    }),
    { numRuns: 500 },
  );
});

test('one record that stays in flight while many pass it grows the ring instead of losing it', () => {
  const ring = new InFlightReceivers<string>(4);
  const stuck = ring.add('stuck');
  for (let i = 0; i < 10_000; i++) assert.equal(ring.take(ring.add(`r${i}`)), `r${i}`);
  assert.equal(ring.size, 1);
  assert.equal(ring.take(stuck), 'stuck');
  assert.equal(ring.take(stuck), undefined, 'a second report of the same record finds nothing');
});
