import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.ts';
import { validateDeviceMessage, validateDeviceMessageInFull } from '../../src/core/validation.ts';
import { readCompactReading } from '../../src/core/validation/compact-reading.ts';
import { encodeReading } from '../../src/core/wire/reading.ts';

/**
 * The validation fast path (validation/compact-reading.ts) held equal to the full path: whatever
 * payload it answers for, the full path accepts as the very same reading. The fuzz property
 * 'validator/compact-payloads' (test/fuzz/validator-properties.ts) holds both to the documented rules.
 */

const config = parseConfig({}).edge.validation;
const NOW = 1_764_100_000_000;
const origin = { tenant: 'acme', device: 'sensor-1' };

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
