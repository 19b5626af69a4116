import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { validateGatewayBody } from '../../src/core/validation.ts';
import { encodeValidatedBatches } from '../../src/core/wire/batch.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';

const config = parseConfig({}).edge.validation;
const NOW = 1_764_100_000_000;
const MAX_BODY = 4096;
const encode = (text: string) => new TextEncoder().encode(text);

test('a JSON array of gateway readings takes the device from each item and the tenant from the key', () => {
  const body = JSON.stringify([
    { device: 'd1', id: '1', ts: NOW, metrics: { t: 1 } },
    { device: 'd2', seq: 2, ts: NOW, metric: 'h', value: 40 },
  ]);
  const result = validateGatewayBody(encode(body), 'json', 'acme', NOW, config, MAX_BODY);
  assert.deepEqual(result.rejections, []);
  assert.deepEqual(
    result.readings.map((r) => [r.tenant, r.device, r.id]),
    [
      ['acme', 'd1', '1'],
      ['acme', 'd2', '2'],
    ],
  );
});

test('NDJSON: each line stands alone, blank lines are skipped, a malformed line is one rejection', () => {
  const body = [
    JSON.stringify({ device: 'd1', id: '1', ts: NOW, metrics: { t: 1 } }),
    '',
    '{"device":"d1","id":"2",',
    JSON.stringify({ device: 'd1', id: '3', ts: NOW, metrics: { t: 3 } }) + '\r',
  ].join('\n');
  const result = validateGatewayBody(encode(body), 'ndjson', 'acme', NOW, config, MAX_BODY);
  assert.deepEqual(result.readings.map((r) => r.id), ['1', '3']);
  assert.deepEqual(result.rejections.map((r) => [r.index, r.reason]), [[1, 'malformed-json']]);
  assert.equal(result.rejections[0]?.item, '{"device":"d1","id":"2",');
});

test('a gateway reading without a device, or with an unsafe device name, is refused', () => {
  const body = JSON.stringify([
    { id: '1', ts: NOW, metrics: { t: 1 } },
    { device: 'a/b', id: '2', ts: NOW, metrics: { t: 1 } },
  ]);
  const result = validateGatewayBody(encode(body), 'json', 'acme', NOW, config, MAX_BODY);
  assert.deepEqual(result.rejections.map((r) => [r.index, r.reason]), [
    [0, 'schema'],
    [1, 'schema'],
  ]);
});

test('an item naming another tenant than the key is refused as tenant-mismatch', () => {
  const body = JSON.stringify([{ tenant: 'other', device: 'd1', id: '1', ts: NOW, metrics: { t: 1 } }]);
  const result = validateGatewayBody(encode(body), 'json', 'acme', NOW, config, MAX_BODY);
  assert.equal(result.rejections[0]?.reason, 'tenant-mismatch');
});

test('whole-body refusals: too large, not an array, too many readings, empty NDJSON', () => {
  const big = encode('[' + '1,'.repeat(3000) + '1]');
  assert.equal(validateGatewayBody(big, 'json', 'acme', NOW, config, MAX_BODY).rejections[0]?.reason, 'payload-too-large');
  const object = encode(JSON.stringify({ device: 'd1', id: '1', ts: NOW, metrics: { t: 1 } }));
  assert.equal(validateGatewayBody(object, 'json', 'acme', NOW, config, MAX_BODY).rejections[0]?.reason, 'schema');
  const many = encode(JSON.stringify(Array.from({ length: 3 }, (_, i) => ({ device: 'd', id: String(i), ts: NOW, metrics: { t: 1 } }))));
  const limited = { ...config, maxReadingsPerMessage: 2 };
  assert.equal(validateGatewayBody(many, 'json', 'acme', NOW, limited, MAX_BODY).rejections[0]?.reason, 'too-many-readings');
  const manyLines = encode(['a', 'b', 'c'].map((id) => JSON.stringify({ device: 'd', id, ts: NOW, metrics: { t: 1 } })).join('\n'));
  assert.equal(validateGatewayBody(manyLines, 'ndjson', 'acme', NOW, limited, MAX_BODY).rejections[0]?.reason, 'too-many-readings');
  const blank = validateGatewayBody(encode('\n\n'), 'ndjson', 'acme', NOW, config, MAX_BODY);
  assert.deepEqual([blank.readings.length, blank.rejections[0]?.reason, blank.rejections[0]?.index], [0, 'schema', null]);
});

test('every finite double is a valid metric value, the limits included, and reaches the readings topic unchanged', () => {
  // Issue 16: the aggregates must cope with these (a refusal here would only hide the problem).
  const extremes = [1e308, -1e308, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, -Number.MIN_VALUE, 2.2250738585072014e-308, -0];
  const body = JSON.stringify(extremes.map((value, i) => ({ device: 'ovf-1', id: `x${i}`, ts: NOW, metrics: { t: value } }))).replace('"t":0}', '"t":-0}');
  const result = validateGatewayBody(encode(body), 'json', 'acme', NOW, config, MAX_BODY);
  assert.deepEqual(result.rejections, []);
  const decoded = encodeValidatedBatches(result.readings).flatMap((batch) => {
    const record = decodeRecord(batch.value);
    assert.ok(record.ok);
    return record.readings.map((reading) => reading.metrics['t']);
  });
  // -0 travels as JSON's 0 (the aggregates fold it into 0 anyway).
  assert.deepEqual(decoded, extremes.map((value) => value + 0));
});
