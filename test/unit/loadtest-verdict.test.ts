import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { settleStep, startSettleWait, verdictOf, type RunFigures, type SettleLimits, type SettleObservation, type SettleOutcome, type SettleWait } from '../../loadtest/e2e/verdict.ts';

/**
 * The release check's decisions without servers: when the wait after the fleet ends, and how the
 * audit's figures become the verdict and the exit code. The defect these guard: a wait that did not
 * settle ended the load test with a stack trace and no report.
 */

const limits: SettleLimits = { acked: 1000, timeoutMs: 10_000, quietMs: 3000 };

/** Feeds observations one second apart until the wait ends; returns the outcome (or null if it never did). */
function runWait(observe: (second: number) => Omit<SettleObservation, 'nowMs'>, seconds = 60, limitsUsed = limits): { outcome: SettleOutcome | null; second: number } {
  let wait: SettleWait = startSettleWait(0);
  for (let second = 0; second <= seconds; second++) {
    const step = settleStep(wait, { nowMs: second * 1000, ...observe(second) }, limitsUsed);
    wait = step.wait;
    if (step.outcome) return { outcome: step.outcome, second };
  }
  return { outcome: null, second: seconds };
}

const running = { exited: [], aggregators: 1 } as const;

test('the wait ends settled once every acknowledged reading is accepted and counted', () => {
  const { outcome, second } = runWait((s) => ({ ...running, balance: { acceptedValues: Math.min(1000, s * 300), countedValues: Math.min(1000, s * 250) } }));
  assert.deepEqual(outcome, { kind: 'settled', waitedMs: 4000 });
  assert.equal(second, 4);
});

test('every reading accepted but some dropped as late: settled once the count stops changing for the quiet time', () => {
  const { outcome } = runWait(() => ({ ...running, balance: { acceptedValues: 1000, countedValues: 990 } }));
  assert.equal(outcome?.kind, 'settled');
  assert.equal(outcome?.kind === 'settled' && outcome.waitedMs, 4000);
});

test('readings never accepted (lost): the wait is bounded and ends timed out, not with an exception', () => {
  const { outcome } = runWait(() => ({ ...running, balance: { acceptedValues: 400, countedValues: 400 } }));
  assert.deepEqual(outcome, { kind: 'timed-out', waitedMs: 10_000, lastError: null });
});

test('queries that keep failing do not end the wait early; the timeout carries the last error', () => {
  const { outcome } = runWait((s) => ({ ...running, balance: { error: `Database x doesn't exist (${s})` } }));
  assert.deepEqual(outcome, { kind: 'timed-out', waitedMs: 10_000, lastError: "Database x doesn't exist (10)" });
});

test('a query error after a good balance keeps the last balance in the state', () => {
  let wait = startSettleWait(0);
  wait = settleStep(wait, { nowMs: 0, ...running, balance: { acceptedValues: 5, countedValues: 5 } }, limits).wait;
  wait = settleStep(wait, { nowMs: 1000, ...running, balance: { error: 'timeout' } }, limits).wait;
  assert.deepEqual(wait.balance, { acceptedValues: 5, countedValues: 5 });
  assert.equal(wait.lastError, 'timeout');
});

test('every aggregator gone or the bridge gone: the wait stops at once with the services named', () => {
  const cases = [
    { aggregators: 1, exited: [{ name: 'aggregator-0', exit: 'SIGKILL' }] },
    { aggregators: 2, exited: [{ name: 'aggregator-0', exit: '1' }, { name: 'aggregator-1', exit: 'SIGKILL' }] },
    { aggregators: 2, exited: [{ name: 'bridge', exit: '1' }] },
  ];
  for (const services of cases) {
    const { outcome } = runWait((s) => ({ ...services, exited: s >= 2 ? services.exited : [], balance: { acceptedValues: 10, countedValues: 10 } }));
    assert.deepEqual(outcome, { kind: 'service-exited', waitedMs: 2000, exited: services.exited }, JSON.stringify(services));
  }
});

test('one aggregator of two gone: the other takes its partitions over, so the wait goes on', () => {
  const { outcome } = runWait((s) => ({ aggregators: 2, exited: [{ name: 'aggregator-1', exit: 'SIGKILL' }], balance: { acceptedValues: s * 100, countedValues: s * 100 } }));
  assert.deepEqual(outcome, { kind: 'settled', waitedMs: 10_000 });
});

test('no aggregator started at all: nothing exited, so the wait runs to its bound', () => {
  const { outcome } = runWait(() => ({ aggregators: 0, exited: [], balance: { acceptedValues: 0, countedValues: 0 } }));
  assert.equal(outcome?.kind, 'timed-out');
});

test('a complete balance wins over a service that exited after writing everything', () => {
  const { outcome } = runWait(() => ({ aggregators: 1, exited: [{ name: 'aggregator-0', exit: '0' }], balance: { acceptedValues: 1000, countedValues: 1000 } }));
  assert.equal(outcome?.kind, 'settled');
});

const targets = { slaP95Ms: 10_000, minCompleteness: 0.999 };
const clean: RunFigures = {
  acked: 1000,
  lost: 0,
  lostSample: [],
  duplicated: 0,
  completeness: 1,
  p95Ms: 4000,
  settle: { kind: 'settled', waitedMs: 3000 },
  exited: [],
  failures: [],
};

test('a clean run passes with exit code 0 and no reasons', () => {
  assert.deepEqual(verdictOf(clean, targets), { slaMet: true, passed: true, exitCode: 0, reasons: [] });
});

test('the issue case: the wait timed out and the audit found lost readings: exit 1, both reasons, the sample named', () => {
  const verdict = verdictOf({ ...clean, lost: 600, lostSample: ['dev-000000/1', 'dev-000000/2'], completeness: 0, settle: { kind: 'timed-out', waitedMs: 180_000, lastError: null } }, targets);
  assert.equal(verdict.exitCode, 1);
  assert.equal(verdict.passed, false);
  assert.equal(verdict.slaMet, false);
  assert.ok(verdict.reasons.some((reason) => /did not settle within 180\.0 s/.test(reason)), verdict.reasons.join('\n'));
  assert.ok(verdict.reasons.some((reason) => /^600 acknowledged readings missing from readings_raw \(for example dev-000000\/1, dev-000000\/2\)$/.test(reason)), verdict.reasons.join('\n'));
});

/** Each way a run can fail, alone on top of a clean run, and what its reason must mention. */
const singleFaults: { name: string; figures: Partial<RunFigures>; reason: RegExp }[] = [
  { name: 'lost readings', figures: { lost: 3, lostSample: ['d/1'] }, reason: /3 acknowledged readings missing.*d\/1/ },
  { name: 'one lost reading', figures: { lost: 1 }, reason: /^1 acknowledged reading missing/ },
  { name: 'audit of ids failed', figures: { lost: null }, reason: /lost readings unknown/ },
  { name: 'duplicates', figures: { duplicated: 2 }, reason: /2 values counted more than once/ },
  { name: 'audit of aggregates failed', figures: { duplicated: null }, reason: /duplicates unknown/ },
  { name: 'wait timed out', figures: { settle: { kind: 'timed-out', waitedMs: 5000, lastError: 'boom' } }, reason: /did not settle within 5\.0 s \(last error: boom\)/ },
  { name: 'services exited during the wait', figures: { settle: { kind: 'service-exited', waitedMs: 1000, exited: [{ name: 'aggregator-0', exit: 'SIGKILL' }] } }, reason: /aggregator-0 exited/ },
  { name: 'a service exited', figures: { exited: [{ name: 'bridge', exit: '1' }] }, reason: /^bridge exited \(1\) during the run$/ },
  { name: 'a phase failed', figures: { failures: [{ phase: 'latency', message: 'measuring: socket hang up' }] }, reason: /^latency: measuring: socket hang up$/ },
  { name: 'the run never reached the wait', figures: { acked: 0, settle: { kind: 'not-reached' }, failures: [{ phase: 'stack', message: 'Kafka did not start' }] }, reason: /^stack: Kafka did not start$/ },
  { name: 'nothing acknowledged', figures: { acked: 0 }, reason: /acknowledged no reading/ },
  { name: 'p95 above the SLA', figures: { p95Ms: 12_000 }, reason: /p95 12\.0 s above/ },
  { name: 'completeness below target', figures: { completeness: 0.99 }, reason: /completeness 99\.000 % below 99\.900 %/ },
];

for (const fault of singleFaults) {
  test(`fails with exit code 1 and says why: ${fault.name}`, () => {
    const verdict = verdictOf({ ...clean, ...fault.figures }, targets);
    assert.equal(verdict.passed, false);
    assert.equal(verdict.exitCode, 1);
    assert.ok(verdict.reasons.some((reason) => fault.reason.test(reason)), verdict.reasons.join('\n'));
  });
}

const figures: fc.Arbitrary<RunFigures> = fc.record({
  acked: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1_000_000 })),
  lost: fc.option(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })), { nil: null }),
  lostSample: fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 3 }),
  duplicated: fc.option(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })), { nil: null }),
  completeness: fc.oneof(fc.constant(1), fc.constant(0.999), fc.double({ min: 0, max: 1, noNaN: true })),
  p95Ms: fc.oneof(fc.constant(10_000), fc.integer({ min: 0, max: 60_000 })),
  settle: fc.oneof(
    fc.record({ kind: fc.constant('settled' as const), waitedMs: fc.nat() }),
    fc.record({ kind: fc.constant('timed-out' as const), waitedMs: fc.nat(), lastError: fc.option(fc.string(), { nil: null }) }),
    fc.record({ kind: fc.constant('service-exited' as const), waitedMs: fc.nat(), exited: fc.constant([{ name: 'aggregator-0', exit: 'SIGKILL' }]) }),
    fc.constant({ kind: 'not-reached' as const }),
  ),
  exited: fc.oneof(fc.constant([]), fc.constant([{ name: 'bridge', exit: '1' }])),
  failures: fc.oneof(fc.constant([]), fc.constant([{ phase: 'audit' as const, message: 'query failed' }])),
});

test('against a plain model: exit code 0 exactly when nothing at all went wrong, and never without a reason otherwise', () => {
  fc.assert(
    fc.property(figures, (input) => {
      const model =
        input.acked > 0 && input.lost === 0 && input.duplicated === 0 && input.settle.kind === 'settled' && input.exited.length === 0 &&
        input.failures.length === 0 && input.p95Ms <= targets.slaP95Ms && input.completeness >= targets.minCompleteness;
      const verdict = verdictOf(input, targets);
      assert.equal(verdict.passed, model);
      assert.equal(verdict.exitCode, model ? 0 : 1);
      assert.equal(verdict.reasons.length === 0, model);
    }),
    { numRuns: 2000 },
  );
});
