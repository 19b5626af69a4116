import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { parseTelemetryTopic, validateDeviceMessage, type ValidationResult } from '../../src/core/validation.ts';
import { nestingDepthExceeds } from '../../src/core/validation/document.ts';
import { CONTROL_CHARACTERS, hasControlCharacters, isMetricName, METRIC_NAME_PATTERN } from '../../src/core/validation/text.ts';

const config = parseConfig({}).edge.validation;
const NOW = 1_764_100_000_000;
const origin = { tenant: 'acme', device: 'sensor-1' };

function validate(payload: unknown, overrides: Partial<typeof config> = {}): ValidationResult {
  const bytes = typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
  const buffer = typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes;
  return validateDeviceMessage(buffer, origin, NOW, { ...config, ...overrides });
}

function onlyRejection(result: ValidationResult) {
  assert.equal(result.readings.length, 0, 'no reading should pass');
  assert.equal(result.rejections.length, 1);
  return result.rejections[0]!;
}

test('a single reading is normalized with topic tenant/device and the ingest time', () => {
  const result = validate({ id: '42', ts: NOW - 1000, metrics: { temperature: 21.5, humidity: 40 } });
  assert.deepEqual(result.rejections, []);
  assert.deepEqual(result.readings, [
    { tenant: 'acme', device: 'sensor-1', id: '42', eventTime: NOW - 1000, ingestTime: NOW, metrics: { temperature: 21.5, humidity: 40 } },
  ]);
});

test('seq stands in for id, an ISO-8601 ts is read with its zone, and metric/value is a one-metric reading', () => {
  const result = validate({ seq: 7, ts: '2025-11-25T19:46:39.000Z', metric: 'temperature', value: -3 });
  assert.deepEqual(result.rejections, []);
  const [reading] = result.readings;
  assert.equal(reading?.id, '7');
  assert.equal(reading?.eventTime, Date.UTC(2025, 10, 25, 19, 46, 39));
  assert.deepEqual(reading?.metrics, { temperature: -3 });
  const offset = validate({ id: 'a', ts: '2025-11-25T20:46:39+01:00', metric: 'x', value: 1 });
  assert.equal(offset.readings[0]?.eventTime, Date.UTC(2025, 10, 25, 19, 46, 39));
});

test('an ISO time without a zone is refused (it would depend on the bridge clock zone)', () => {
  const rejection = onlyRejection(validate({ id: '1', ts: '2025-11-25T19:46:39', metric: 'x', value: 1 }));
  assert.equal(rejection.reason, 'schema');
  assert.match(rejection.detail, /ISO-8601/);
});

test('a batch object and a JSON array both carry many readings', () => {
  const reading = (id: number) => ({ id: String(id), ts: NOW, metrics: { t: id } });
  assert.equal(validate({ readings: [reading(1), reading(2), reading(3)] }).readings.length, 3);
  const array = validate([reading(1), reading(2)]);
  assert.deepEqual(array.readings.map((r) => r.id), ['1', '2']);
});

test('a partly valid batch passes its valid readings and refuses each invalid one with its index', () => {
  const result = validate([
    { id: 'ok-1', ts: NOW, metrics: { t: 1 } },
    { id: 'bad-type', ts: NOW, metrics: { t: 'warm' } },
    { id: 'ok-2', ts: NOW, metrics: { t: 2 } },
    { id: 'future', ts: NOW + 3_600_000, metrics: { t: 3 } },
  ]);
  assert.deepEqual(result.readings.map((r) => r.id), ['ok-1', 'ok-2']);
  assert.deepEqual(
    result.rejections.map((r) => [r.index, r.reason]),
    [
      [1, 'schema'],
      [3, 'event-time-too-far-ahead'],
    ],
  );
  assert.deepEqual(JSON.parse(result.rejections[0]!.item!), { id: 'bad-type', ts: NOW, metrics: { t: 'warm' } });
});

/** The table of refusals: payload → the reason it must be refused with. */
const REFUSALS: ReadonlyArray<readonly [name: string, payload: unknown, reason: string]> = [
  ['malformed JSON', '{"id":"1",', 'malformed-json'],
  ['NaN as JSON text', '{"id":"1","ts":1,"metrics":{"t":NaN}}', 'malformed-json'],
  ['Infinity as JSON text', '{"id":"1","ts":1,"metrics":{"t":Infinity}}', 'malformed-json'],
  ['1e999 overflows to Infinity', `{"id":"1","ts":${NOW},"metrics":{"t":1e999}}`, 'non-finite-value'],
  ['empty payload', '', 'malformed-json'],
  ['binary junk', new Uint8Array([0xff, 0xfe, 0x00, 0x81, 0x7b]), 'not-utf8'],
  ['a JSON string', '"hello"', 'schema'],
  ['a number', '42', 'schema'],
  ['missing id', { ts: NOW, metrics: { t: 1 } }, 'schema'],
  ['id of the wrong type', { id: true, ts: NOW, metrics: { t: 1 } }, 'schema'],
  ['negative seq', { seq: -1, ts: NOW, metrics: { t: 1 } }, 'schema'],
  ['id too long', { id: 'x'.repeat(200), ts: NOW, metrics: { t: 1 } }, 'id-too-long'],
  ['missing ts', { id: '1', metrics: { t: 1 } }, 'schema'],
  ['ts of the wrong type', { id: '1', ts: [NOW], metrics: { t: 1 } }, 'schema'],
  ['far-future ts', { id: '1', ts: NOW + 6 * 60_000, metrics: { t: 1 } }, 'event-time-too-far-ahead'],
  ['far-past ts', { id: '1', ts: NOW - 8 * 86_400_000, metrics: { t: 1 } }, 'event-time-too-far-behind'],
  ['epoch seconds instead of milliseconds', { id: '1', ts: Math.floor(NOW / 1000), metrics: { t: 1 } }, 'event-time-too-far-behind'],
  ['metrics of the wrong type', { id: '1', ts: NOW, metrics: [1, 2] }, 'schema'],
  ['a metric of the wrong type', { id: '1', ts: NOW, metrics: { t: '21.5' } }, 'schema'],
  ['empty metrics', { id: '1', ts: NOW, metrics: {} }, 'schema'],
  ['an unsafe metric name', { id: '1', ts: NOW, metrics: { 'a b': 1 } }, 'schema'],
  ['both metric forms', { id: '1', ts: NOW, metrics: { t: 1 }, metric: 't', value: 1 }, 'schema'],
  ['another device in the payload', { id: '1', device: 'sensor-2', ts: NOW, metrics: { t: 1 } }, 'device-mismatch'],
  ['another tenant in the payload', { id: '1', tenant: 'other', ts: NOW, metrics: { t: 1 } }, 'tenant-mismatch'],
  ['another device on the batch envelope', { device: 'sensor-2', readings: [{ id: '1', ts: NOW, metrics: { t: 1 } }] }, 'device-mismatch'],
  ['readings that are not an array', { readings: { id: '1' } }, 'schema'],
  ['an empty batch', [], 'schema'],
  ['deep nesting', '['.repeat(50) + ']'.repeat(50), 'too-deeply-nested'],
  ['deep nesting inside a valid reading', `{"id":"1","ts":${NOW},"metrics":{"t":1},"x":{"a":[[[[[[[1]]]]]]]}}`, 'too-deeply-nested'],
  ['deep nesting that is also malformed JSON', '{"id":"1","x":' + '['.repeat(20), 'too-deeply-nested'],
  ['deep nesting that is also not UTF-8', new Uint8Array([...new TextEncoder().encode('['.repeat(20)), 0xff, ...new TextEncoder().encode(']'.repeat(20))]), 'too-deeply-nested'],
  ['oversized', { id: '1', ts: NOW, metrics: { t: 1 }, pad: 'x'.repeat(300 * 1024) }, 'payload-too-large'],
];

for (const [name, payload, reason] of REFUSALS) {
  test(`refuses ${name} as ${reason}`, () => {
    const rejection = onlyRejection(validate(payload));
    assert.equal(rejection.reason, reason);
    assert.ok(rejection.detail.length > 0, 'a refusal explains itself');
  });
}

test('a payload naming its own device and tenant is accepted', () => {
  const result = validate({ id: '1', device: 'sensor-1', tenant: 'acme', ts: NOW, metrics: { t: 1 } });
  assert.equal(result.readings.length, 1);
});

test('limits come from the configuration: readings per message and metrics per reading', () => {
  const batch = Array.from({ length: 5 }, (_, i) => ({ id: String(i), ts: NOW, metrics: { t: i } }));
  assert.equal(onlyRejection(validate(batch, { maxReadingsPerMessage: 4 })).reason, 'too-many-readings');
  assert.equal(validate(batch, { maxReadingsPerMessage: 5 }).readings.length, 5);
  const wide = { id: '1', ts: NOW, metrics: { a: 1, b: 2, c: 3 } };
  assert.equal(onlyRejection(validate(wide, { maxMetricsPerReading: 2 })).reason, 'too-many-metrics');
});

test('the event-time window is [ingest - maxPastAgeMs, ingest + maxFutureSkewMs], bounds included', () => {
  const at = (ts: number) => validate({ id: '1', ts, metrics: { t: 1 } }, { maxFutureSkewMs: 1000, maxPastAgeMs: 5000 });
  assert.equal(at(NOW + 1000).readings.length, 1);
  assert.equal(at(NOW + 1001).rejections[0]?.reason, 'event-time-too-far-ahead');
  assert.equal(at(NOW - 5000).readings.length, 1);
  assert.equal(at(NOW - 5001).rejections[0]?.reason, 'event-time-too-far-behind');
});

test('nesting depth counts brackets outside strings only', () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  assert.equal(nestingDepthExceeds(encode('{"a":"[[[[[[[[[[[["}'), 2), false);
  assert.equal(nestingDepthExceeds(encode('{"a":"\\"[[[[["}'), 2), false);
  assert.equal(nestingDepthExceeds(encode('[[[]]]'), 3), false);
  assert.equal(nestingDepthExceeds(encode('[[[[]]]]'), 3), true);
});

test('topics are <prefix>/<tenant>/<device> with safe names', () => {
  assert.deepEqual(parseTelemetryTopic('telemetry/acme/sensor-1', 'telemetry'), { tenant: 'acme', device: 'sensor-1' });
  assert.deepEqual(parseTelemetryTopic('site/a/telemetry/acme/d', 'site/a/telemetry'), { tenant: 'acme', device: 'd' });
  for (const bad of ['telemetry/acme', 'telemetry/acme/d/extra', 'telemetryx/acme/d', 'other/acme/d', 'telemetry//d', 'telemetry/acme/d e', 'telemetry/../d']) {
    assert.equal(parseTelemetryTopic(bad, 'telemetry'), undefined, bad);
  }
});

test('nesting up to the limit passes, brackets inside strings do not count', () => {
  const deepest = `{"id":"1","ts":${NOW},"metrics":{"t":1},"x":[[[[[[[1]]]]]]]}`; // 8 levels: the default limit
  assert.equal(validate(deepest).readings.length, 1);
  assert.equal(validate(`{"id":"[[[[[[[[[[","ts":${NOW},"metrics":{"t":1}}`).readings.length, 1);
  assert.equal(onlyRejection(validate(deepest, { maxNestingDepth: 7 })).reason, 'too-deeply-nested');
});

test('isMetricName and hasControlCharacters answer as their regular expressions do', () => {
  const alphabet = ['a', 'Z', '_', '0', '9', '.', '-', ' ', '/', '\u0000', '\u001f', '\u007f', '\u0080', 'é', '\n', '@', '[', '`', '{', ':'];
  let seed = 11;
  const random = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const samples = ['', 'a', '_', '0', '.a', 'a.b-c_9', 'x'.repeat(64), 'x'.repeat(65), 'temperature', 'a\n', 'ok\u007f'];
  for (let i = 0; i < 20_000; i++) {
    let text = '';
    const length = random(i % 10 === 0 ? 70 : 6);
    for (let j = 0; j < length; j++) text += alphabet[random(i % 3 === 0 ? alphabet.length : 7)];
    samples.push(text);
  }
  for (const text of samples) {
    assert.equal(isMetricName(text), METRIC_NAME_PATTERN.test(text), JSON.stringify(text));
    assert.equal(hasControlCharacters(text), CONTROL_CHARACTERS.test(text), JSON.stringify(text));
  }
});
