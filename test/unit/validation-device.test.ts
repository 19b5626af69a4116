import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { encodeReading, type Reading } from '../../src/core/readings.ts';
import { isMetricName, readCompactReading } from '../../src/core/compact-reading.ts';
import { writeValidatedReading } from '../../src/core/reading-bytes.ts';
import {
  encodeValidatedReading,
  validateDeviceMessageInFull,
  hasControlCharacters,
  METRIC_NAME_PATTERN,
  CONTROL_CHARACTERS,
  nestingDepthExceeds,
  parseTelemetryTopic,
  validateDeviceMessage,
  type ValidationResult,
} from '../../src/core/validation.ts';

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

test('encodeValidatedReading is byte for byte encodeReading for every validated reading', () => {
  const payloads = [
    { id: '42', ts: NOW, metrics: { temperature: 21.5, humidity: 40 } },
    { id: 'quote " back \\ slash', ts: NOW - 1, metrics: { a: -0, b: 1e21, c: 1e-7, d: -123.456 } },
    { id: 'unicodé ✓ \u2028', ts: NOW, metric: 'x', value: 0.1 + 0.2 },
    { seq: 9007199254740991, ts: '2025-11-25T19:46:39.123Z', metrics: { _z: 1, a1: 2, 'm.x-y_z': 3 } },
  ];
  for (const payload of payloads) {
    const [reading] = validate(payload).readings;
    assert.ok(reading, JSON.stringify(payload));
    assert.equal(encodeValidatedReading(reading), encodeReading(reading));
  }
});

test('nesting up to the limit passes, brackets inside strings do not count', () => {
  const deepest = `{"id":"1","ts":${NOW},"metrics":{"t":1},"x":[[[[[[[1]]]]]]]}`; // 8 levels: the default limit
  assert.equal(validate(deepest).readings.length, 1);
  assert.equal(validate(`{"id":"[[[[[[[[[[","ts":${NOW},"metrics":{"t":1}}`).readings.length, 1);
  assert.equal(onlyRejection(validate(deepest, { maxNestingDepth: 7 })).reason, 'too-deeply-nested');
});

test('writeValidatedReading writes encodeReading\'s UTF-8 bytes, or -1 when it cannot', () => {
  const target = new Uint8Array(4096);
  const written = (reading: Reading): string | -1 => {
    const length = writeValidatedReading(reading, target);
    return length < 0 ? -1 : Buffer.from(target.subarray(0, length)).toString('utf8');
  };
  const payloads = [
    { id: '42', ts: NOW, metrics: { temperature: 21.5, humidity: 40 } },
    { id: 'run-s-17', ts: NOW - 123_456, metrics: { a: -0, b: 1e21, c: 1e-7, d: -123.456, e: -9007199254740991, f: 9007199254740991, g: 9007199254740992, h: 0, i: 10, j: 99, k: 100 } },
    { seq: 0, ts: 0, metrics: { x: 1 } },
    { seq: 9007199254740991, ts: '2025-11-25T19:46:39.123Z', metrics: { _z: 1, a1: 2, 'm.x-y_z': 3 } },
    { id: 'ts-float', ts: NOW - 0.5, metric: 'x', value: 0.1 + 0.2 },
    { id: ' ~!#$%&()*+,-./:;<=>?@[]^_`{|}', ts: NOW, metrics: { y: -1.5e-300 } },
  ];
  for (const payload of payloads) {
    const [reading] = validate(payload, { maxPastAgeMs: NOW + 1 }).readings;
    assert.ok(reading, JSON.stringify(payload));
    assert.equal(written(reading), encodeReading(reading), JSON.stringify(payload));
  }
  // Readings this writer leaves to encodeValidatedReading: escapes, non-ASCII, too long for the target.
  for (const id of ['quote " here', 'back \\ slash', 'unicodé ✓', 'line \u2028', 'del \u007f']) {
    const reading: Reading = { tenant: 't', device: 'd', id, eventTime: NOW, ingestTime: NOW, metrics: { a: 1 } };
    assert.equal(writeValidatedReading(reading, target), -1, id);
  }
  const [reading] = validate({ id: '42', ts: NOW, metrics: { temperature: 21.5 } }).readings;
  assert.ok(reading);
  const exact = Buffer.byteLength(encodeReading(reading));
  assert.equal(writeValidatedReading(reading, new Uint8Array(exact)), exact);
  assert.equal(writeValidatedReading(reading, new Uint8Array(exact - 1)), -1);
});

test('writeValidatedReading writes every number as String() does (integers, short decimals, the rest)', () => {
  const target = new Uint8Array(256);
  const values: number[] = [0.001, 0.0011, 0.999, 1.5, -1.5, 21.5, 20.05, 1.005, 0.1 + 0.2, 999_999_999.999, 1e9 + 0.5, 123_456_789.123, 1e-4, 5e-324, 1.7976931348623157e308, 4.35, 0.145, 1.1];
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  for (let i = 0; i < 20_000; i++) {
    const places = i % 5;
    const magnitude = 10 ** Math.floor(random() * 12 - 3);
    values.push(Number((random() * magnitude * (i % 2 === 0 ? 1 : -1)).toFixed(places)));
    values.push(random() * magnitude, Math.floor(random() * 2 ** 53) * (i % 2 === 0 ? 1 : -1), random() * 1000 + 0.1);
  }
  for (const value of values) {
    const reading: Reading = { tenant: 't', device: 'd', id: 'i', eventTime: 0, ingestTime: 0, metrics: { m: value } };
    const length = writeValidatedReading(reading, target);
    assert.equal(Buffer.from(target.subarray(0, length)).toString('utf8'), encodeReading(reading), String(value));
  }
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

test('the compact fast path answers only as the full path would, for the same reading', () => {
  const small = { ...config, maxIdLength: 12, maxMetricsPerReading: 3 };
  const bases = [
    `{"id":"run-s-1","ts":${NOW - 5},"metrics":{"temperature":20.5,"humidity":40}}`,
    `{"ts":${NOW},"metrics":{"a":-0,"b":0.125,"c":-12.5},"id":"x"}`,
    `{"metrics":{"m.x-y_z":123456789012345},"id":"~ !#","ts":${NOW}.75}`,
    `{"id":"a","ts":${NOW},"metrics":{"a":1,"a":2}}`,
    `{"id":"a","ts":${NOW},"metrics":{"__proto__":1}}`,
    `{"id":"a","ts":${NOW},"metrics":{"constructor":1}}`,
    `{"id":"a","ts":${NOW},"metrics":{"x":1e3}}`,
    `{"id":"a","ts":${NOW},"metrics":{"x":1234567890123456}}`,
    `{"id":"a","ts":${NOW},"metrics":{"x":01}}`,
    `{"id":"a","ts":${NOW},"metrics":{"x":1.}}`,
    `{"id":"a","ts":${NOW},"metrics":{"x":-}}`,
    `{"id":"a","ts":${NOW},"metrics":{}}`,
    `{"id":"a\\"b","ts":${NOW},"metrics":{"x":1}}`,
    `{"id":"\\u0069","ts":${NOW},"metrics":{"x":1}}`,
    `{"\\u0069d":"a","ts":${NOW},"metrics":{"x":1}}`,
    `{"id":"unicodé","ts":${NOW},"metrics":{"x":1}}`,
    `{"id":"a","ts":${NOW},"metrics":{"x":1},"device":"sensor-1"}`,
    `{"id":"a","id":"b","ts":${NOW},"metrics":{"x":1}}`,
    `{"id":"a","ts":${NOW + 10 * 60_000},"metrics":{"x":1}}`,
    `{"id":"a","ts":1,"metrics":{"x":1}}`,
    `{"id":"a", "ts":${NOW},"metrics":{"x":1}}`,
    `{"id":"a","ts":${NOW},"metrics":{"x":1}} `,
    `{"id":"1234567890123","ts":${NOW},"metrics":{"x":1}}`,
    `{"id":"","ts":${NOW},"metrics":{"x":1}}`,
    `{"id":"a","ts":${NOW},"metrics":{"w":1,"x":2,"y":3,"z":4}}`,
    `{"seq":5,"ts":${NOW},"metrics":{"x":1}}`,
    `{"id":"a","ts":"2025-11-25T19:46:39Z","metrics":{"x":1}}`,
    `\ufeff{"id":"a","ts":${NOW},"metrics":{"x":1}}`,
  ];
  const mutations = '{}[]",:.-0123456789eE \\ax';
  let seed = 3;
  const random = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  const payloads = [...bases];
  for (let i = 0; i < 30_000; i++) {
    const base = bases[random(3)]!;
    const at = random(base.length);
    const edit = random(3);
    const char = mutations[random(mutations.length)]!;
    payloads.push(edit === 0 ? base.slice(0, at) + base.slice(at + 1) : edit === 1 ? base.slice(0, at) + char + base.slice(at) : base.slice(0, at) + char + base.slice(at + 1));
  }
  let answered = 0;
  for (const payload of payloads) {
    const bytes = new TextEncoder().encode(payload);
    for (const limits of [config, small]) {
      const fast = readCompactReading(bytes, origin, NOW, limits);
      const full = validateDeviceMessageInFull(bytes, origin, NOW, limits);
      assert.deepEqual(validateDeviceMessage(bytes, origin, NOW, limits), full, payload);
      if (fast === undefined) continue;
      answered++;
      assert.deepEqual(full, { readings: [fast], rejections: [] }, payload);
      assert.ok(Object.is(fast.eventTime, full.readings[0]!.eventTime), payload);
      for (const name in fast.metrics) assert.ok(Object.is(fast.metrics[name], full.readings[0]!.metrics[name]), `${payload} ${name}`);
      assert.equal(encodeReading(fast), encodeReading(full.readings[0]!), payload);
    }
  }
  assert.ok(answered > 5000, `the fast path answered ${answered} times`);
  const [first] = payloads;
  assert.ok(readCompactReading(new TextEncoder().encode(first), origin, NOW, config), 'the common payload takes the fast path');
});
