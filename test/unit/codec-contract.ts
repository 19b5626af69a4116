import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PayloadCodec } from '../../src/core/codecs/codec.ts';
import { REJECTION_REASONS, type Reading, type RejectionReason } from '../../src/core/readings.ts';
import { encodeReading, encodeValidatedReading } from '../../src/core/wire/reading.ts';
import { NAME_PATTERN, type ValidationResult } from '../../src/core/validation.ts';
import { hasLoneSurrogate, METRIC_NAME_PATTERN } from '../../src/core/validation/text.ts';
import { assertProperty, type FuzzProperty } from '../fuzz/property.ts';
import { feed, NOW, VALIDATION, type Message } from '../support/codec-fixtures.ts';

/**
 * The contract every payload codec keeps (src/core/codecs/codec.ts), run against each codec as
 * mqtt.js runs its abstract store tests against each store: `codecContractTests(build)` from one
 * test file per codec.
 */
export interface ValidCase extends Message {
  readonly name: string;
  /** The readings expected, in order (ingestTime is the suite's NOW). */
  readonly readings: readonly ExpectedReading[];
}

/** A reading as expected (ingestTime is the suite's NOW); metrics typed loosely so that literals of several shapes fit one list. */
export type ExpectedReading = Omit<Reading, 'ingestTime' | 'metrics'> & { readonly metrics: Readonly<Record<string, number | undefined>> };

export interface RefusalCase extends Message {
  /** Whether the whole message is refused (index null) or one of its items (that index). */
  readonly index: number | null;
}

export interface CodecUnderTest {
  readonly codec: PayloadCodec;
  /** Messages a device sends before the cases (a Sparkplug node's births). */
  readonly setup: readonly Message[];
  readonly valid: readonly ValidCase[];
  /** One message per reason the codec declares. */
  readonly refusals: Readonly<Partial<Record<RejectionReason, RefusalCase>>>;
  /** The codec's fuzz property (also in test/fuzz/registry.ts). */
  readonly fuzz: FuzzProperty<unknown>;
}

export function decodeOn(codec: PayloadCodec, message: Message, ingestTime = NOW): ValidationResult {
  const route = codec.scope(message.topic);
  if (!route.ok) return { readings: [], rejections: [{ index: null, reason: route.reason, detail: route.detail, item: null }] };
  return codec.decode(message.topic, message.bytes, { scope: route.scope, ingestTime, validation: VALIDATION });
}

/** What every reading leaving a codec must be: what the one Kafka encoder may write without checks. */
export function assertWellFormed(result: ValidationResult, reasons: readonly RejectionReason[]): void {
  for (const reading of result.readings) {
    assert.match(reading.tenant, NAME_PATTERN);
    assert.match(reading.device, NAME_PATTERN);
    assert.ok(reading.id.length > 0 && reading.id.length <= VALIDATION.maxIdLength && !hasLoneSurrogate(reading.id), `id ${JSON.stringify(reading.id)}`);
    assert.ok(Number.isSafeInteger(reading.eventTime), `eventTime ${reading.eventTime}`);
    const names = Object.keys(reading.metrics);
    assert.ok(names.length > 0 && names.length <= VALIDATION.maxMetricsPerReading, `${names.length} metrics`);
    for (const name of names) {
      assert.match(name, METRIC_NAME_PATTERN);
      assert.ok(Number.isFinite(reading.metrics[name]), `metric ${name} = ${reading.metrics[name]}`);
    }
    assert.equal(encodeValidatedReading(reading), encodeReading(reading), 'the fast encoder writes what encodeReading writes');
  }
  for (const rejection of result.rejections) {
    assert.ok(reasons.includes(rejection.reason) || rejection.reason === 'bad-topic', `undeclared reason ${rejection.reason}`);
    assert.equal(typeof rejection.detail, 'string');
    assert.ok(!hasLoneSurrogate(rejection.detail));
    assert.ok(rejection.item === null || typeof rejection.item === 'string');
  }
}

export function codecContractTests(label: string, build: () => CodecUnderTest): void {
  test(`${label}: declares only known refusal reasons`, () => {
    const { codec } = build();
    for (const reason of codec.reasons) assert.ok((REJECTION_REASONS as readonly string[]).includes(reason), reason);
  });

  test(`${label}: valid messages become exactly the expected readings`, () => {
    const subject = build();
    feed(subject.codec, subject.setup);
    assert.ok(subject.valid.length > 0, 'the codec names at least one valid case');
    for (const valid of subject.valid) {
      const result = decodeOn(subject.codec, valid);
      assert.deepEqual(result.rejections, [], valid.name);
      assert.deepEqual(result.readings, valid.readings.map((reading) => ({ ...reading, ingestTime: NOW })), valid.name);
      assertWellFormed(result, subject.codec.reasons);
    }
  });

  test(`${label}: a redelivered message gives the same readings (the same ids)`, () => {
    const subject = build();
    feed(subject.codec, subject.setup);
    for (const valid of subject.valid) {
      const first = decodeOn(subject.codec, valid);
      const again = decodeOn(subject.codec, valid, NOW + 1000);
      assert.deepEqual(again.readings.map((reading) => [reading.device, reading.id]), first.readings.map((reading) => [reading.device, reading.id]), valid.name);
    }
  });

  test(`${label}: every refusal reason it declares is reachable, with its index`, () => {
    const subject = build();
    const missing = subject.codec.reasons.filter((reason) => subject.refusals[reason] === undefined);
    assert.deepEqual(missing, [], 'a refusal case for each declared reason');
    for (const [reason, refusal] of Object.entries(subject.refusals) as Array<[RejectionReason, RefusalCase]>) {
      const fresh = build();
      feed(fresh.codec, fresh.setup);
      const result = decodeOn(fresh.codec, refusal);
      const found = result.rejections.find((rejection) => rejection.reason === reason);
      assert.ok(found, `${reason}: got ${JSON.stringify(result.rejections)}`);
      assert.equal(found.index, refusal.index, `${reason}: index`);
      assertWellFormed(result, fresh.codec.reasons);
    }
  });

  test(`${label}: hostile bytes never make it throw (fuzz property, fixed seed)`, () => {
    assertProperty(build().fuzz, { numRuns: 400, seed: 19_003 });
  });
}
