import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Candidate } from '../../src/advisor/candidates.ts';
import { simulate } from '../../src/advisor/simulate.ts';
import { TraceBuilder, type Trace } from '../../src/advisor/trace.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { exactReplay } from '../model/advisor-replay.ts';
import type { AnyFuzzProperty, FuzzProperty } from './property.ts';

/**
 * Properties of the watermark advisor: the fast what-if replay (src/advisor/simulate.ts) reports
 * exactly the completeness and the end-to-end latencies of the plain per-reading replay
 * (test/model/advisor-replay.ts), on traces made to reorder window closing — device clocks ahead,
 * behind, or jumping between the two, delays that step up or come in bursts, devices whose
 * readings land on several partitions — under every window kind, watermark and late policy.
 */
export interface DeviceSpec {
  /** Sending interval and first send (ms). */
  readonly periodMs: number;
  readonly phaseMs: number;
  /** Clock offset (event − true time; > 0 ahead, < 0 behind) until `jumpAtMs`, then `laterOffsetMs`. */
  readonly offsetMs: number;
  readonly jumpAtMs: number;
  readonly laterOffsetMs: number;
}

export interface AdvisorCase {
  readonly seed: number;
  readonly durationMs: number;
  readonly delays: 'step' | 'bursts' | 'jitter';
  readonly devices: readonly DeviceSpec[];
  /** Devices' readings spread over partitions at random (as a trace recorded from Kafka may say). */
  readonly scattered: boolean;
  readonly partitions: number;
  readonly flushMs: number;
  readonly candidate: Candidate;
}

const START = 10_000_000;

/** The case's trace: each device sends every period; delays and scattering drawn from `seed`. */
export function advisorCaseTrace(input: AdvisorCase): Trace {
  const random = mulberry32(input.seed);
  const builder = new TraceBuilder();
  input.devices.forEach((spec, d) => {
    const device = builder.deviceId(`dev-${d}`);
    for (let sent = spec.phaseMs; sent < input.durationMs; sent += spec.periodMs) {
      const offset = sent < spec.jumpAtMs ? spec.offsetMs : spec.laterOffsetMs;
      const delay = networkDelay(input, sent, random);
      const partition = input.scattered && random() < 0.2 ? Math.floor(random() * input.partitions) : -1;
      builder.add(START + sent + offset, START + sent + delay, device, partition);
    }
  });
  return builder.build();
}

function networkDelay(input: AdvisorCase, sent: number, random: () => number): number {
  const jitter = Math.round(random() * 400);
  switch (input.delays) {
    case 'step':
      return (sent < input.durationMs / 2 ? 200 : 3000) + jitter * (sent < input.durationMs / 2 ? 1 : 4);
    case 'bursts':
      // Every 15 s, 3 s of readings held back by up to 8 s.
      return sent % 15_000 < 3000 ? 2000 + Math.round(random() * 6000) : jitter;
    case 'jitter':
      return random() < 0.05 ? Math.round(random() * 10_000) : jitter;
  }
}

/** Throws (with the differing figure) unless the simulator equals the exact replay on `input`. */
export function checkAdvisorCase(input: AdvisorCase): void {
  const trace = advisorCaseTrace(input);
  const options = { partitions: input.partitions, flushMs: input.flushMs, tickIntervalMs: 1000 };
  const fast = simulate(trace, input.candidate, { ...options, collectLatencies: true });
  const exact = exactReplay(trace, input.candidate, options);
  assert.equal(fast.counted, exact.counted, 'values counted');
  assert.equal(fast.unresolved, exact.unresolved, 'values unresolved');
  assert.equal(fast.completeness, exact.completeness, 'completeness');
  assert.equal(fast.endToEndLatency.count, exact.latencies.length, 'readings with a latency');
  assert.deepEqual(Array.from(fast.latencies!), Array.from(exact.latencies), 'the latencies, reading by reading');
  assert.equal(fast.endToEndLatency.p50, exact.p50, 'P50');
  assert.equal(fast.endToEndLatency.p95, exact.p95, 'P95');
  assert.equal(fast.endToEndLatency.p99, exact.p99, 'P99');
}

const offsetArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 40 }).map((s) => s * 1000) },
  { weight: 2, arbitrary: fc.integer({ min: -40, max: -1 }).map((s) => s * 1000) },
  { weight: 1, arbitrary: fc.integer({ min: -40_000, max: 40_000 }) },
);

const deviceArb: fc.Arbitrary<DeviceSpec> = fc.record({
  periodMs: fc.constantFrom(250, 500, 1000, 2000),
  phaseMs: fc.integer({ min: 0, max: 999 }),
  offsetMs: offsetArb,
  jumpAtMs: fc.oneof(fc.constant(Number.MAX_SAFE_INTEGER), fc.integer({ min: 0, max: 90_000 })),
  laterOffsetMs: offsetArb,
});

const windowArb: fc.Arbitrary<Candidate['window']> = fc.oneof(
  fc.constantFrom(1000, 2000, 5000).map((sizeMs) => ({ kind: 'tumbling' as const, sizeMs })),
  fc.constantFrom([4000, 1000], [10_000, 5000], [6000, 2000]).map(([sizeMs, slideMs]) => ({ kind: 'sliding' as const, sizeMs: sizeMs!, slideMs: slideMs! })),
  fc.constantFrom(1000, 3000).map((gapMs) => ({ kind: 'session' as const, gapMs })),
);

const candidateArb: fc.Arbitrary<Candidate> = fc.record({
  window: windowArb,
  watermark: fc.oneof(
    fc.constantFrom(0, 500, 1000, 3000, 5000).map((delayMs) => ({ kind: 'fixed' as const, delayMs })),
    fc
      .record({ quantile: fc.constantFrom(0.9, 0.99), marginMs: fc.constantFrom(0, 500) })
      .map(({ quantile, marginMs }) => ({ kind: 'adaptive' as const, quantile, marginMs, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 })),
  ),
  latePolicy: fc.constantFrom<Candidate['latePolicy']>({ kind: 'drop' }, { kind: 'late-topic' }, { kind: 'reemit', allowedLatenessMs: 2000 }, { kind: 'reemit', allowedLatenessMs: 10_000 }),
  idleTimeoutMs: fc.constantFrom(2000, 5000),
  maxDeviceClockOffsetMs: fc.constantFrom(0, 15_000, 300_000),
});

const caseArb: fc.Arbitrary<AdvisorCase> = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  durationMs: fc.integer({ min: 5000, max: 90_000 }),
  delays: fc.constantFrom('step', 'bursts', 'jitter'),
  devices: fc.array(deviceArb, { minLength: 1, maxLength: 5 }),
  scattered: fc.boolean(),
  partitions: fc.integer({ min: 1, max: 3 }),
  flushMs: fc.constantFrom(0, 1000),
  candidate: candidateArb,
});

const replayEqualsExact: FuzzProperty<AdvisorCase> = {
  name: 'advisor/replay-equals-exact',
  description:
    'the what-if replay\'s completeness and end-to-end latencies equal a per-reading replay through the same PartitionProcessor (clocks ahead, behind, jumping; step delays, bursts; every window, watermark, late policy)',
  arbitrary: caseArb,
  predicate: (input) => checkAdvisorCase(input),
  toUnitTest: (input) =>
    [
      `import { test } from 'node:test';`,
      `import { checkAdvisorCase } from '../fuzz/advisor-properties.ts';`,
      ``,
      `test('the what-if replay equals the exact per-reading replay (found by advisor/replay-equals-exact)', () => {`,
      `  checkAdvisorCase(${JSON.stringify(input)});`,
      `});`,
    ].join('\n'),
};

export const advisorProperties: readonly AnyFuzzProperty[] = [replayEqualsExact];
