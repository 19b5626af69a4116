import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { readCompactReading } from '../../src/core/validation/compact-reading.ts';
import {
  validateDeviceMessage,
  validateDeviceMessageInFull,
  validateGatewayBody,
  type ValidationResult,
} from '../../src/core/validation.ts';
import { hasLoneSurrogate } from '../../src/core/validation/text.ts';

/**
 * Issue 16, defect 5: every string that reaches Kafka and ClickHouse must be well-formed Unicode.
 * A lone surrogate (`"\ud800"`) becomes EF BF BD when written as UTF-8, so two distinct ids would
 * merge into one row; invalid UTF-8 bytes must not be decoded lossily for the same reason.
 */

const config = parseConfig({}).edge.validation;
const NOW = 1_764_100_000_000;
const origin = { tenant: 'acme', device: 'sensor-1' };
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const bytes = (...parts: Array<string | number[]>): Uint8Array =>
  Uint8Array.from(parts.flatMap((part) => (typeof part === 'string' ? [...encode(part)] : part)));

/** Every lone or misordered surrogate, written as JSON escapes (the only way valid UTF-8 can carry one). */
const MALFORMED_IDS = ['\\ud800', '\\ud801', '\\udbff', '\\udc00', '\\udfff', 'a\\ud800b', 'a\\ud800', '\\udc00\\ud800', '\\ud83d\\ud83d', 'x\\ude00'];
/** Well-formed non-BMP ids, as escapes and raw: a surrogate pair is fine. */
const WELL_FORMED_IDS = [['\\ud83d\\ude00', '\u{1f600}'], ['\u{1f600}', '\u{1f600}'], ['a\\udbff\\udfffb', 'a\u{10ffff}b']] as const;

/** In u-mode a surrogate pair is one code point, so this class matches lone surrogates only. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

function device(payload: Uint8Array): ValidationResult {
  const result = validateDeviceMessage(payload, origin, NOW, config);
  assert.deepEqual(validateDeviceMessageInFull(payload, origin, NOW, config), result, 'fast and full paths agree');
  return result;
}

test('an id with a lone surrogate escape is refused as schema, alone and in a batch (issue 16, defect 5)', () => {
  for (const id of MALFORMED_IDS) {
    const single = device(encode(`{"id":"${id}","ts":${NOW},"metrics":{"t":1}}`));
    assert.deepEqual(single.readings, [], id);
    assert.deepEqual(single.rejections.map((r) => [r.index, r.reason]), [[null, 'schema']], id);
    assert.match(single.rejections[0]!.detail, /well-formed/, id);

    const batch = device(encode(`[{"id":"${id}","ts":${NOW},"metrics":{"t":1}},{"id":"ok","ts":${NOW},"metrics":{"t":2}}]`));
    assert.deepEqual(batch.readings.map((r) => r.id), ['ok'], id);
    assert.deepEqual(batch.rejections.map((r) => [r.index, r.reason]), [[0, 'schema']], id);
  }
});

test('two readings whose ids differ only in a lone surrogate are not both accepted (raw = sum(count))', () => {
  const result = device(encode(`[{"id":"\\ud800","ts":${NOW},"metrics":{"t":1}},{"id":"\\ud801","ts":${NOW},"metrics":{"t":1}}]`));
  assert.equal(result.readings.length, 0);
  for (const reading of result.readings) assert.ok(!LONE_SURROGATE.test(reading.id), JSON.stringify(reading.id));
});

test('a gateway reading with a lone surrogate in its id is refused, in a JSON body and on an NDJSON line', () => {
  for (const id of MALFORMED_IDS) {
    const json = validateGatewayBody(encode(`[{"device":"d1","id":"${id}","ts":${NOW},"metrics":{"t":1}}]`), 'json', 'acme', NOW, config, 4096);
    assert.deepEqual(json.rejections.map((r) => [r.index, r.reason]), [[0, 'schema']], id);
    const lines = `{"device":"d1","id":"ok","ts":${NOW},"metrics":{"t":1}}\n{"device":"d1","id":"${id}","ts":${NOW},"metrics":{"t":1}}`;
    const ndjson = validateGatewayBody(encode(lines), 'ndjson', 'acme', NOW, config, 4096);
    assert.deepEqual(ndjson.readings.map((r) => r.id), ['ok'], id);
    assert.deepEqual(ndjson.rejections.map((r) => [r.index, r.reason]), [[1, 'schema']], id);
  }
});

test('surrogate pairs (escaped or raw UTF-8) are well-formed ids and accepted', () => {
  for (const [written, id] of WELL_FORMED_IDS) {
    const result = device(encode(`{"id":"${written}","ts":${NOW},"metrics":{"t":1}}`));
    assert.deepEqual(result.readings.map((r) => r.id), [id], written);
  }
});

/** Byte sequences that are not UTF-8: each would decode to U+FFFD if decoding were lossy. */
const INVALID_UTF8: ReadonlyArray<readonly [string, number[]]> = [
  ['an encoded surrogate ED A0 80', [0xed, 0xa0, 0x80]],
  ['an encoded low surrogate ED B0 80', [0xed, 0xb0, 0x80]],
  ['an overlong "/" C0 AF', [0xc0, 0xaf]],
  ['an overlong three-byte E0 80 AF', [0xe0, 0x80, 0xaf]],
  ['a code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['a lone continuation byte', [0x80]],
  ['a truncated sequence', [0xc3]],
  ['an invalid continuation', [0xe2, 0x28, 0xa1]],
  ['a raw FF', [0xff]],
];

test('an id carrying invalid UTF-8 bytes is refused as not-utf8 on both paths, never decoded to U+FFFD', () => {
  for (const [name, raw] of INVALID_UTF8) {
    const payload = bytes('{"id":"a', raw, `","ts":${NOW},"metrics":{"t":1}}`);
    assert.equal(readCompactReading(payload, origin, NOW, config), undefined, name);
    const result = device(payload);
    assert.deepEqual(result.rejections.map((r) => [r.index, r.reason]), [[null, 'not-utf8']], name);
    const body = bytes('[{"device":"d1","id":"a', raw, `","ts":${NOW},"metrics":{"t":1}}]`);
    const gateway = validateGatewayBody(body, 'json', 'acme', NOW, config, 4096);
    assert.deepEqual(gateway.rejections.map((r) => [r.index, r.reason]), [[null, 'not-utf8']], name);
  }
});

test('an NDJSON body with invalid UTF-8 on one line is refused whole as not-utf8 (a whole-body limit)', () => {
  for (const [name, raw] of INVALID_UTF8) {
    const good = (id: string): string => `{"device":"d1","id":"${id}","ts":${NOW},"metrics":{"t":1}}`;
    const body = bytes(good('1'), '\n{"device":"d1","id":"a', raw, `","ts":${NOW},"metrics":{"t":1}}\n`, good('3'));
    const result = validateGatewayBody(body, 'ndjson', 'acme', NOW, config, 4096);
    assert.deepEqual(result.readings, [], name);
    assert.deepEqual(result.rejections.map((r) => [r.index, r.reason]), [[null, 'not-utf8']], name);
  }
});

test('a refusal detail cut for length never splits a surrogate pair', () => {
  for (let pad = 0; pad < 4; pad++) {
    const id = 'x'.repeat(pad) + '\u{1f600}'.repeat(60);
    const result = device(encode(JSON.stringify({ id, device: id, ts: NOW, metrics: { t: 1 } })));
    const detail = result.rejections[0]!.detail;
    assert.equal(result.rejections[0]!.reason, 'device-mismatch');
    assert.ok(!LONE_SURROGATE.test(detail), JSON.stringify(detail));
  }
});

test("a malformed-json detail never carries half a surrogate pair (V8 names the bad token by one code unit)", () => {
  const texts = ['\u{1f600}x', '\u{1f600}'.repeat(3) + 'x', '{"a":1}\u{1f600}', '[1,\u{10ffff}]'];
  for (const text of texts) {
    const single = device(encode(text));
    assert.equal(single.rejections[0]!.reason, 'malformed-json', text);
    assert.ok(!LONE_SURROGATE.test(single.rejections[0]!.detail), JSON.stringify(single.rejections[0]!.detail));
    const ndjson = validateGatewayBody(encode(`${text}\n`), 'ndjson', 'acme', NOW, config, 4096);
    assert.equal(ndjson.rejections[0]!.reason, 'malformed-json', text);
    assert.ok(!LONE_SURROGATE.test(ndjson.rejections[0]!.detail), JSON.stringify(ndjson.rejections[0]!.detail));
  }
});

test('hasLoneSurrogate answers as a u-mode surrogate class does (String.prototype.isWellFormed)', () => {
  const units = [0x61, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xd83d, 0xde00, 0xe000, 0xfffd];
  let seed = 5;
  const random = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed % n;
  };
  for (let i = 0; i < 20_000; i++) {
    const text = String.fromCharCode(...Array.from({ length: random(6) }, () => units[random(units.length)]!));
    assert.equal(hasLoneSurrogate(text), LONE_SURROGATE.test(text), JSON.stringify(text));
  }
});
