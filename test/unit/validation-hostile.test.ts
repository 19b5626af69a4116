import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { validateDeviceMessage, validateGatewayBody, type ValidationResult } from '../../src/core/validation.ts';

/**
 * Disagreements between the validator and its documented rules that the hostile-payload fuzzing
 * (test/fuzz/validator-properties.ts against test/model/reference-validator.ts) pointed at, each
 * as the class of inputs it belongs to.
 */

const config = parseConfig({}).edge.validation;
const NOW = Date.UTC(2025, 2, 1, 12);
const origin = { tenant: 'acme', device: 'sensor-1' };
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const wide = { ...config, maxPastAgeMs: 200 * 365 * 86_400_000, maxFutureSkewMs: 400 * 86_400_000 };

function device(payload: string): ValidationResult {
  return validateDeviceMessage(encode(payload), origin, NOW, wide);
}

function gateway(body: string, format: 'json' | 'ndjson'): ValidationResult {
  return validateGatewayBody(encode(body), format, 'acme', NOW, wide, 64 * 1024);
}

const reasons = (result: ValidationResult) => result.rejections.map((r) => [r.index, r.reason]);

test('an ISO time that is not a calendar date or clock time is refused, not rolled over into the next month', () => {
  const impossible = [
    '2025-02-29T00:00:00Z', // not a leap year: Date.parse reads March 1
    '2025-02-30T00:00Z',
    '2024-02-30T00:00Z',
    '2025-04-31T10:00:00Z',
    '2025-06-31T10:00:00.5+02:00',
    '2025-11-31T10:00Z',
    '1900-02-29T00:00Z', // divisible by 100, not by 400
    '2025-01-01T24:00Z', // RFC 3339: hours 00-23
    '2025-01-01T24:00:00.000Z',
    '2025-01-01T23:60Z',
    '2025-01-01T23:59:60Z',
    '2025-01-01T10:00+24:00',
    '2025-01-01T10:00+01:60',
    '2025-00-10T10:00Z',
    '2025-13-10T10:00Z',
    '2025-01-00T10:00Z',
    '2025-01-32T10:00Z',
  ];
  for (const ts of impossible) {
    const result = device(JSON.stringify({ id: '1', ts, metrics: { t: 1 } }));
    assert.deepEqual(reasons(result), [[null, 'schema']], ts);
  }
  const real: ReadonlyArray<readonly [string, number]> = [
    ['2024-02-29T00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['2025-04-30T23:59:59.9999Z', Date.UTC(2025, 3, 30, 23, 59, 59, 999)],
    ['2025-01-31T10:00+23:59', Date.UTC(2025, 0, 30, 10, 1)],
    ['2025-12-31T00:00-00:00', Date.UTC(2025, 11, 31)],
  ];
  for (const [ts, eventTime] of real) {
    const result = device(JSON.stringify({ id: '1', ts, metrics: { t: 1 } }));
    assert.deepEqual(result.readings.map((r) => r.eventTime), [eventTime], ts);
  }
});

test('NDJSON: a line nesting deeper than the limit is refused however the other lines are broken', () => {
  const deep = `{"device":"d1","id":"2","ts":${NOW},"metrics":{"t":1},"x":${'['.repeat(12)}${']'.repeat(12)}}`;
  const ok = `{"device":"d1","id":"3","ts":${NOW},"metrics":{"t":1}}`;
  // An unclosed string or stray closing brackets on a malformed line must not hide the next line's depth.
  for (const broken of ['"', '{"device":"d1","id":"1', ']'.repeat(20), '}}}}}}}}}}}}', '"\\']) {
    const result = gateway([broken, deep, ok].join('\n'), 'ndjson');
    assert.deepEqual(result.readings.map((r) => r.id), ['3'], broken);
    assert.deepEqual(reasons(result), [[0, 'malformed-json'], [1, 'too-deeply-nested']], broken);
  }
});

test('NDJSON: a line of non-JSON whitespace (BOM, no-break space, line separator) is a malformed line, not a blank one', () => {
  for (const space of ['\ufeff', '\u00a0', '\u2028', '\u3000', '\u000b', '\u000c']) {
    const result = gateway(`{"device":"d1","id":"1","ts":${NOW},"metrics":{"t":1}}\n${space}\n`, 'ndjson');
    assert.deepEqual(reasons(result), [[1, 'malformed-json']], JSON.stringify(space));
  }
  const blank = gateway(`{"device":"d1","id":"1","ts":${NOW},"metrics":{"t":1}}\n \t\r\n\n`, 'ndjson');
  assert.deepEqual([blank.readings.length, blank.rejections.length], [1, 0]);
});

test('a gateway body or item naming another tenant is tenant-mismatch, whatever else is wrong with it', () => {
  const envelope = gateway(`{"tenant":"other","readings":[{"device":"d1","id":"1","ts":${NOW},"metrics":{"t":1}}]}`, 'json');
  assert.deepEqual(envelope.readings, []);
  assert.deepEqual(reasons(envelope), [[null, 'tenant-mismatch']]);
  for (const item of [`{"tenant":"other","id":"1","ts":${NOW},"metrics":{"t":1}}`, `{"tenant":"other","device":"a/b"}`, `{"tenant":7,"device":3}`]) {
    assert.deepEqual(reasons(gateway(`[${item}]`, 'json')), [[0, 'tenant-mismatch']], item);
    assert.deepEqual(reasons(gateway(item, 'ndjson')), [[0, 'tenant-mismatch']], item);
  }
});
