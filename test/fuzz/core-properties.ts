import assert from 'node:assert/strict';
import { referenceRun } from '../model/reference-core.ts';
import { assertSameAsModel, runProduction, sortedLate } from './core-run.ts';
import { coreCaseArb, type CoreCase, type TraceOptions } from './core-traces.ts';
import { renderCoreUnitTest } from './core-unit-test.ts';
import type { AnyFuzzProperty, FuzzProperty } from './property.ts';

/**
 * Properties of the aggregation core, held against the reference model (test/model/): the
 * production PartitionProcessor must emit exactly the model's rows (every (key, version) once,
 * the same final row per key), late readings and counters, also when cut and restored.
 */
const ALL_POLICIES: TraceOptions['latePolicies'] = ['drop', 'late-topic', 'reemit'];
const ORDINARY: Omit<TraceOptions, 'windows'> = { latePolicies: ALL_POLICIES, skewedClocks: false, extremes: false, cuts: false, maxSteps: 160 };

function modelProperty(name: string, description: string, options: TraceOptions): FuzzProperty<CoreCase> {
  return {
    name,
    description,
    arbitrary: coreCaseArb(options),
    predicate: (input) => {
      const expected = referenceRun(input.spec, input.log, true);
      assertSameAsModel(runProduction(input.spec, input.log, input.entry, input.cuts), expected);
    },
    toUnitTest: (input) => renderCoreUnitTest(name, input),
  };
}

const restoreProperty: FuzzProperty<CoreCase> = {
  name: 'core/restore-equals-uncut',
  description: 'cut at random offsets, snapshotted, restored and resumed (with redeliveries), the processor emits what an uncut run and the model emit',
  arbitrary: coreCaseArb({ windows: ['tumbling', 'sliding', 'session'], latePolicies: ALL_POLICIES, skewedClocks: true, extremes: false, cuts: true, maxSteps: 160 }),
  predicate: (input) => {
    const uncut = runProduction(input.spec, input.log, input.entry);
    const cut = runProduction(input.spec, input.log, input.entry, input.cuts);
    assertSameAsModel(cut, { ...uncut, stats: { ...uncut.stats } });
    assertSameAsModel(cut, referenceRun(input.spec, input.log, true));
  },
  toUnitTest: (input) => renderCoreUnitTest('core/restore-equals-uncut', input),
};

const lateTopicProperty: FuzzProperty<CoreCase> = {
  name: 'core/late-topic-equals-model',
  description: "under 'late-topic', the readings handed out late are exactly the model's late set (once per reading and metric), and rows still match",
  arbitrary: coreCaseArb({ ...ORDINARY, windows: ['tumbling', 'sliding', 'session'], latePolicies: ['late-topic'], skewedClocks: true }),
  predicate: (input) => {
    const expected = referenceRun(input.spec, input.log, true);
    const actual = runProduction(input.spec, input.log, input.entry, input.cuts);
    assert.deepEqual(sortedLate(actual.late), sortedLate(expected.late), 'late readings differ from the model');
    assertSameAsModel(actual, expected);
  },
  toUnitTest: (input) => renderCoreUnitTest('core/late-topic-equals-model', input),
};

export const coreProperties: readonly AnyFuzzProperty[] = [
  modelProperty('core/aligned-equals-model', 'tumbling and sliding windows, fixed and adaptive watermarks, every late policy, disorder, duplicates, idle gaps and ticks: rows equal the model', {
    ...ORDINARY,
    windows: ['tumbling', 'sliding'],
  }),
  modelProperty('core/session-equals-model', 'session windows (merging), fixed and adaptive watermarks, every late policy, disorder, duplicates, idle gaps and ticks: rows equal the model', {
    ...ORDINARY,
    windows: ['session'],
  }),
  modelProperty('core/device-clocks-equal-model', 'devices whose clocks run behind, ahead, beyond the ceiling, or jump: rows equal the model', {
    ...ORDINARY,
    windows: ['tumbling', 'sliding', 'session'],
    skewedClocks: true,
    maxSteps: 240,
  }),
  restoreProperty,
  lateTopicProperty,
  modelProperty('core/extreme-values-equal-model', '±1e308, -0, subnormals, any double, non-finite values and times, long ids, many metrics: rows equal the model (exact sums)', {
    ...ORDINARY,
    windows: ['tumbling', 'sliding', 'session'],
    extremes: true,
    maxSteps: 80,
  }),
];
