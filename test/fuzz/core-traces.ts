import fc from 'fast-check';
import type { LatePolicySpec, ProcessorSpec } from '../../src/core/processor-spec.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import type { WatermarkSpec } from '../../src/core/watermarks.ts';
import type { WindowSpec } from '../../src/core/windows.ts';
import type { LogEntry } from '../model/reference-core.ts';
import type { Cut, Entry } from './core-run.ts';

/**
 * Generators of partition logs for the core properties: disorder, redeliveries, reused ids, idle
 * gaps and ticks, batches, devices whose clocks run behind or ahead or jump, and (switchable)
 * extreme values, long ids and many metrics. Traces are short by default (shrinking stays fast)
 * and occasionally long. A trace is a plan of steps mapped to a log, so fast-check shrinks the plan.
 */
export const T0 = 1_700_000_000_000;

export interface CoreCase {
  readonly spec: ProcessorSpec;
  readonly log: readonly LogEntry[];
  readonly entry: Entry;
  readonly cuts: readonly Cut[];
}

export interface TraceOptions {
  readonly windows: ReadonlyArray<WindowSpec['kind']>;
  readonly latePolicies: ReadonlyArray<LatePolicySpec['kind']>;
  /** Devices whose clocks run behind, ahead, beyond the ceiling, or jump between those. */
  readonly skewedClocks: boolean;
  /** ±1e308, -0, subnormals, any double, non-finite values and times, long ids, many metrics. */
  readonly extremes: boolean;
  /** Snapshot and restore at random offsets. */
  readonly cuts: boolean;
  /** Steps of a long trace (one in ten); short ones have at most a quarter of it. */
  readonly maxSteps: number;
}

const DEVICES: ReadonlyArray<readonly [tenant: string, device: string]> = [
  ['a', 'd0'],
  ['a', 'd1'],
  ['b', 'd0'],
  ['a', 'd2'],
];
const FEW_METRICS = ['t', 'h', '0'];
const MANY_METRICS = [...Array.from({ length: 20 }, (_, i) => `m${i}`), '7', '10', 'constructor', 'toString'];

interface ReadingPlan {
  readonly delayMs: number;
  readonly metrics: ReadonlyArray<readonly [name: number, value: number]>;
  readonly idSuffix: string;
}

type StepPlan =
  | { readonly kind: 'reading'; readonly device: number; readonly advanceMs: number; readonly readings: readonly ReadingPlan[] }
  | { readonly kind: 'tick'; readonly advanceMs: number; readonly ingestTime?: number }
  /** Sends an earlier reading again (`back` readings ago); `reuse`: a new reading under its id. */
  | { readonly kind: 'redeliver'; readonly advanceMs: number; readonly back: number; readonly reuse: boolean; readonly delayMs: number };

/** Clock offset of a device (positive: behind), changing to `jumpToMs` from step `jumpAt` on. */
interface ClockPlan {
  readonly offsetMs: number;
  readonly jumpAt: number;
  readonly jumpToMs: number;
}

const pick = <T>(values: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...values);

function windowArb(kinds: TraceOptions['windows']): fc.Arbitrary<WindowSpec> {
  return pick(kinds).chain((kind): fc.Arbitrary<WindowSpec> => {
    if (kind === 'tumbling') return pick([1000, 2000, 5000, 10_000]).map((sizeMs) => ({ kind, sizeMs }));
    if (kind === 'sliding') {
      return fc.tuple(pick([500, 1000, 2500]), fc.integer({ min: 1, max: 4 })).map(([slideMs, k]) => ({ kind, sizeMs: slideMs * k, slideMs }));
    }
    return pick([500, 1500, 3000, 8000]).map((gapMs) => ({ kind, gapMs }));
  });
}

const watermarkArb: fc.Arbitrary<WatermarkSpec> = fc.oneof(
  pick([0, 500, 2000, 5000]).map((delayMs): WatermarkSpec => ({ kind: 'fixed', delayMs })),
  fc
    .record({ quantile: pick([0.5, 0.9, 0.99]), marginMs: pick([0, 200]), floorMs: pick([0, 500]), ceilingMs: pick([1000, 5000, 15_000]), horizonMs: pick([1000, 10_000, 60_000]) })
    .map((adaptive): WatermarkSpec => ({ kind: 'adaptive', ...adaptive })),
);

function latePolicyArb(kinds: TraceOptions['latePolicies']): fc.Arbitrary<LatePolicySpec> {
  return pick(kinds).chain((kind): fc.Arbitrary<LatePolicySpec> => {
    if (kind === 'reemit') return pick([0, 1000, 5000, 30_000]).map((allowedLatenessMs) => ({ kind, allowedLatenessMs }));
    return fc.constant({ kind });
  });
}

function specArb(options: TraceOptions): fc.Arbitrary<ProcessorSpec> {
  return fc
    .record({
      window: windowArb(options.windows),
      watermark: watermarkArb,
      latePolicy: latePolicyArb(options.latePolicies),
      idleTimeoutMs: pick([0, 1000, 5000]),
      maxOffset: options.skewedClocks ? pick([-1, 0, 30_000]) : fc.constant(-1),
    })
    .map(({ maxOffset, ...rest }) => ({
      pipeline: 'fuzz',
      partition: 0,
      ...rest,
      ...(maxOffset >= 0 ? { maxDeviceClockOffsetMs: maxOffset } : {}),
    }));
}

function valueArb(extremes: boolean): fc.Arbitrary<number> {
  const moderate = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -100, max: 100 }) }, { weight: 1, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }) });
  if (!extremes) return fc.oneof({ weight: 60, arbitrary: moderate }, { weight: 1, arbitrary: pick([Number.NaN, Number.POSITIVE_INFINITY]) });
  return fc.oneof(
    { weight: 3, arbitrary: moderate },
    { weight: 3, arbitrary: pick([1e308, -1e308, Number.MAX_VALUE, -Number.MAX_VALUE, -0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-310, 2 ** 53, 2 ** 53 + 2, 0.1, 0.2, 0.3]) },
    { weight: 2, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
    { weight: 1, arbitrary: pick([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) },
  );
}

function delayArb(extremes: boolean): fc.Arbitrary<number> {
  const ordinary = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 800 }) },
    // Round delays put event times on window boundaries, where off-by-one errors live.
    { weight: 4, arbitrary: pick([0, 250, 500, 1000, 1500, 2000, 3000, 5000]) },
    { weight: 3, arbitrary: fc.integer({ min: 1000, max: 20_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: -3000, max: 0 }) },
  );
  if (!extremes) return ordinary;
  // Offsets from the ingest time: epoch 0, negative times, a year ahead, fractions, non-finite.
  return fc.oneof({ weight: 20, arbitrary: ordinary }, { weight: 1, arbitrary: pick([T0, T0 + 5e12, -3e10, 0.5, Number.NaN, Number.NEGATIVE_INFINITY]) });
}

function readingArb(options: TraceOptions): fc.Arbitrary<ReadingPlan> {
  const names = options.extremes ? MANY_METRICS : FEW_METRICS;
  const idSuffix = options.extremes
    ? fc.oneof({ weight: 6, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: 'grapheme' }) }, { weight: 1, arbitrary: fc.nat(4000).map((n) => '~'.repeat(n)) })
    : fc.constant('');
  return fc.record({
    delayMs: delayArb(options.extremes),
    metrics: fc.array(fc.tuple(fc.nat(names.length - 1), valueArb(options.extremes)), { minLength: 1, maxLength: options.extremes ? 24 : 2 }),
    idSuffix,
  });
}

function stepArb(options: TraceOptions): fc.Arbitrary<StepPlan> {
  const advanceMs = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 1500 }) },
    { weight: 6, arbitrary: pick([0, 250, 500, 1000]) },
    { weight: 1, arbitrary: fc.integer({ min: 3000, max: 40_000 }) },
    { weight: 1, arbitrary: pick([1000, 5000, 10_000]) },
  );
  const tickTime = options.extremes ? fc.option(pick([Number.NaN, 0]), { freq: 10, nil: undefined }) : fc.constant(undefined);
  return fc.oneof(
    {
      weight: 16,
      arbitrary: fc.record({
        kind: fc.constant('reading' as const),
        device: fc.nat(DEVICES.length - 1),
        advanceMs,
        readings: fc.oneof({ weight: 5, arbitrary: fc.array(readingArb(options), { minLength: 1, maxLength: 1 }) }, { weight: 1, arbitrary: fc.array(readingArb(options), { minLength: 2, maxLength: 3 }) }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const), advanceMs, ingestTime: tickTime }, { requiredKeys: ['kind', 'advanceMs'] }) },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('redeliver' as const), advanceMs, back: fc.nat(12), reuse: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }), delayMs: delayArb(false) }),
    },
  );
}

function clockArb(skewed: boolean): fc.Arbitrary<ClockPlan> {
  if (!skewed) return fc.constant({ offsetMs: 0, jumpAt: Number.POSITIVE_INFINITY, jumpToMs: 0 });
  const offset = fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: 2000, max: 60_000 }) },
    { weight: 2, arbitrary: fc.integer({ min: -60_000, max: -1500 }) },
    { weight: 1, arbitrary: pick([400_000, -400_000]) },
  );
  return fc.record({ offsetMs: offset, jumpAt: fc.oneof(fc.constant(Number.POSITIVE_INFINITY), fc.nat(80)), jumpToMs: offset });
}

export function coreCaseArb(options: TraceOptions): fc.Arbitrary<CoreCase> {
  const step = stepArb(options);
  const steps = fc.oneof(
    { weight: 9, arbitrary: fc.array(step, { maxLength: Math.max(1, Math.floor(options.maxSteps / 4)), size: 'max' }) },
    { weight: 1, arbitrary: fc.array(step, { maxLength: options.maxSteps, size: 'max' }) },
  );
  const cuts = options.cuts ? fc.array(fc.record({ at: fc.nat(), redeliver: fc.nat(3) }), { minLength: 1, maxLength: 3 }) : fc.constant<Cut[]>([]);
  return fc
    .record({
      spec: specArb(options),
      steps,
      clocks: fc.array(clockArb(options.skewedClocks), { minLength: DEVICES.length, maxLength: DEVICES.length }),
      // Fewer devices in use: each learns its clock sooner and its windows meet more often.
      devices: fc.integer({ min: 1, max: DEVICES.length }),
      entry: pick<Entry>(['records', 'numbered']),
      cuts,
    })
    .map(({ spec, steps: plan, clocks, devices, entry, cuts: rawCuts }) => {
      const log = buildLog(plan, clocks, devices, options.extremes);
      const cutsAt = rawCuts.map((cut) => ({ at: cut.at % (log.length + 1), redeliver: cut.redeliver }));
      return { spec, log, entry, cuts: cutsAt };
    });
}

function buildLog(plan: readonly StepPlan[], clocks: readonly ClockPlan[], devices: number, extremes: boolean): LogEntry[] {
  const names = extremes ? MANY_METRICS : FEW_METRICS;
  const log: LogEntry[] = [];
  const sent: ReadingRecord[] = [];
  let ingestTime = T0;
  let n = 0;
  plan.forEach((step, index) => {
    ingestTime += step.advanceMs;
    if (step.kind === 'tick') {
      log.push({ kind: 'tick', ingestTime: step.ingestTime ?? ingestTime });
      return;
    }
    if (step.kind === 'redeliver') {
      const earlier = sent[sent.length - 1 - (step.back % Math.max(1, sent.length))];
      if (earlier === undefined) return;
      const again = step.reuse
        ? { ...earlier, id: earlier.id, eventTime: ingestTime - step.delayMs, ingestTime, metrics: { [Object.keys(earlier.metrics)[0] ?? 't']: n++ } }
        : { ...earlier, ingestTime };
      log.push({ kind: 'readings', readings: [again] });
      return;
    }
    const [tenant, device] = DEVICES[step.device % devices]!;
    const clock = clocks[step.device % devices]!;
    const offsetMs = index >= clock.jumpAt ? clock.jumpToMs : clock.offsetMs;
    const readings = step.readings.map((reading): ReadingRecord => {
      const metrics: Record<string, number> = {};
      for (const [name, value] of reading.metrics) metrics[names[name]!] = value;
      const record: ReadingRecord = { v: 1, tenant, device, id: `${device}-${n++}${reading.idSuffix}`, eventTime: ingestTime - reading.delayMs - offsetMs, ingestTime, metrics };
      sent.push(record);
      return record;
    });
    log.push({ kind: 'readings', readings });
  });
  return log;
}
