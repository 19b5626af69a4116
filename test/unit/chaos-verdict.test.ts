import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { chaosVerdict, type ChaosFigures, type ChaosTierFigures } from '../../loadtest/chaos/verdict.ts';

/** The chaos run's verdict without servers: a figure it could not measure fails it with a reason, never reads as zero. */
const tiersConfigured = ['at-most-once', 'at-least-once', 'exactly-once'];
const exact = (tier: string): ChaosTierFigures => ({ tier, lost: 0, duplicated: 0, matchesTable: true });
const clean: ChaosFigures = { tiers: tiersConfigured.map(exact), tiersConfigured, kafkaLost: 0, edgeLost: 0, explainedLoss: 0, brokerCrash: null, settle: 'settled', failures: [] };

test('a clean chaos run passes with exit code 0 and no reasons', () => {
  assert.deepEqual(chaosVerdict(clean), { passed: true, exitCode: 0, reasons: [] });
});

test('at-most-once may lose readings when the table predicts it', () => {
  const tiers = [{ tier: 'at-most-once', lost: 40, duplicated: 0, matchesTable: true }, exact('at-least-once'), exact('exactly-once')];
  assert.equal(chaosVerdict({ ...clean, tiers }).exitCode, 0);
});

const faults: { name: string; figures: Partial<ChaosFigures>; reason: RegExp }[] = [
  { name: 'the topic audit did not run', figures: { kafkaLost: null }, reason: /readings topic: unknown/ },
  { name: 'the readings_raw audit did not run', figures: { edgeLost: null }, reason: /readings_raw: unknown/ },
  { name: 'readings missing from the topic', figures: { kafkaLost: 7 }, reason: /^7 acknowledged readings missing from the readings topic$/ },
  { name: 'readings missing from readings_raw', figures: { edgeLost: 3 }, reason: /^3 acknowledged readings missing from readings_raw$/ },
  { name: 'the tiers did not settle', figures: { settle: 'timed-out' }, reason: /did not settle/ },
  { name: 'the run never reached the audit', figures: { settle: 'not-reached', tiers: [] }, reason: /ended before the audit/ },
  { name: 'a tier was not audited', figures: { tiers: [exact('at-most-once'), exact('exactly-once')] }, reason: /^at-least-once: not audited$/ },
  { name: 'a step failed', figures: { failures: ['starting the bridges and the aggregators: bridge 0 ready: not reached within 90000 ms'] }, reason: /^starting the bridges/ },
  { name: 'exactly-once duplicated', figures: { tiers: [exact('at-most-once'), exact('at-least-once'), { tier: 'exactly-once', lost: 0, duplicated: 2, matchesTable: false }] }, reason: /exactly-once: lost 0, duplicated 2$/ },
  { name: 'at-least-once lost', figures: { tiers: [exact('at-most-once'), { tier: 'at-least-once', lost: 5, duplicated: 0, matchesTable: false }, exact('exactly-once')] }, reason: /at-least-once: lost 5$/ },
  { name: 'an observation contradicts the table', figures: { tiers: [{ tier: 'at-most-once', lost: 0, duplicated: 4, matchesTable: false }, exact('at-least-once'), exact('exactly-once')] }, reason: /contradicts the failure table/ },
];

test('broker mode: readings a Mosquitto kill lost within the table\'s bound are not a finding', () => {
  const brokerCrash = { missing: 120, allowed: 2400, matches: true };
  assert.deepEqual(chaosVerdict({ ...clean, kafkaLost: 120, edgeLost: 120, explainedLoss: 120, brokerCrash }), { passed: true, exitCode: 0, reasons: [] });
});

faults.push(
  { name: 'a broker crash lost more than the table allows', figures: { kafkaLost: 3000, edgeLost: 3000, explainedLoss: 0, brokerCrash: { missing: 3000, allowed: 2400, matches: false } }, reason: /broker crash lost 3000 .* at most 2400$/ },
  { name: 'readings missing beyond what the broker crash lost', figures: { kafkaLost: 130, edgeLost: 130, explainedLoss: 120, brokerCrash: { missing: 120, allowed: 2400, matches: true } }, reason: /^10 acknowledged readings missing from the readings topic beyond the 120/ },
);

for (const fault of faults) {
  test(`a chaos run fails with exit code 1 and says why: ${fault.name}`, () => {
    const verdict = chaosVerdict({ ...clean, ...fault.figures });
    assert.equal(verdict.exitCode, 1);
    assert.ok(verdict.reasons.some((reason) => fault.reason.test(reason)), verdict.reasons.join('\n'));
  });
}

test('against a plain model: passes exactly when every figure is known and clean', () => {
  const tier = (name: string): fc.Arbitrary<ChaosTierFigures> =>
    fc.record({ tier: fc.constant(name), lost: fc.oneof(fc.constant(0), fc.nat(50)), duplicated: fc.oneof(fc.constant(0), fc.nat(50)), matchesTable: fc.boolean() });
  const figures: fc.Arbitrary<ChaosFigures> = fc.record({
    tiers: fc.subarray(tiersConfigured).chain((names) => fc.tuple(...names.map(tier))),
    tiersConfigured: fc.constant(tiersConfigured),
    kafkaLost: fc.option(fc.oneof(fc.constant(0), fc.nat(50)), { nil: null }),
    edgeLost: fc.option(fc.oneof(fc.constant(0), fc.nat(50)), { nil: null }),
    explainedLoss: fc.oneof(fc.constant(0), fc.nat(50)),
    brokerCrash: fc.option(fc.record({ missing: fc.nat(50), allowed: fc.nat(50), matches: fc.boolean() }), { nil: null }),
    settle: fc.constantFrom('settled' as const, 'timed-out' as const, 'not-reached' as const),
    failures: fc.oneof(fc.constant([]), fc.constant(['fault kill-bridge#0: timed out'])),
  });
  fc.assert(
    fc.property(figures, (input) => {
      const byTier = new Map(input.tiers.map((t) => [t.tier, t]));
      const model =
        input.failures.length === 0 && input.settle === 'settled' && input.kafkaLost !== null && input.kafkaLost <= input.explainedLoss &&
        input.edgeLost !== null && input.edgeLost <= input.explainedLoss && (input.brokerCrash?.matches ?? true) &&
        tiersConfigured.every((name) => byTier.has(name)) && input.tiers.every((t) => t.matchesTable) &&
        byTier.get('exactly-once')?.lost === 0 && byTier.get('exactly-once')?.duplicated === 0 && byTier.get('at-least-once')?.lost === 0;
      const verdict = chaosVerdict(input);
      assert.equal(verdict.passed, model);
      assert.equal(verdict.exitCode, model ? 0 : 1);
      assert.equal(verdict.reasons.length === 0, model);
    }),
    { numRuns: 2000 },
  );
});
