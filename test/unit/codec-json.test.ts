import { codecContractTests } from './codec-contract.ts';
import { codecProperties } from '../fuzz/codec-properties.ts';
import { buildJson, NOW } from '../support/codec-fixtures.ts';

/** The JSON codec (validation.ts behind the codec contract) runs the shared codec suite. */
const json = (value: unknown): Uint8Array => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const topic = 'telemetry/acme/dev-1';

codecContractTests('json codec', () => ({
  codec: buildJson(),
  setup: [],
  valid: [
    { name: 'compact reading', topic, bytes: json({ id: 'a1', ts: NOW, metrics: { t: 1.5 } }), readings: [{ tenant: 'acme', device: 'dev-1', id: 'a1', eventTime: NOW, metrics: { t: 1.5 } }] },
    {
      name: 'batch',
      topic,
      bytes: json({ readings: [{ seq: 1, ts: NOW - 5, metric: 'x', value: 2 }, { seq: 2, ts: new Date(NOW).toISOString(), metrics: { y: 3 } }] }),
      readings: [
        { tenant: 'acme', device: 'dev-1', id: '1', eventTime: NOW - 5, metrics: { x: 2 } },
        { tenant: 'acme', device: 'dev-1', id: '2', eventTime: NOW, metrics: { y: 3 } },
      ],
    },
  ],
  refusals: {
    'malformed-json': { topic, bytes: json('{"id":'), index: null },
    'not-utf8': { topic, bytes: Uint8Array.from([0x7b, 0xff, 0x7d]), index: null },
    'payload-too-large': { topic, bytes: json(' '.repeat(256 * 1024 + 1)), index: null },
    'too-deeply-nested': { topic, bytes: json('[[[[[[[[[[1]]]]]]]]]]'), index: null },
    schema: { topic, bytes: json({ id: 'a', ts: NOW }), index: null },
    'non-finite-value': { topic, bytes: json('{"id":"a","ts":1,"metrics":{"t":1e999}}'.replace('"ts":1', `"ts":${NOW}`)), index: null },
    'too-many-readings': { topic, bytes: json(Array.from({ length: 1001 }, (_, i) => ({ seq: i, ts: NOW, metrics: { t: 1 } }))), index: null },
    'too-many-metrics': { topic, bytes: json({ id: 'a', ts: NOW, metrics: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`m${i}`, 1])) }), index: null },
    'device-mismatch': { topic, bytes: json({ device: 'dev-2', id: 'a', ts: NOW, metrics: { t: 1 } }), index: null },
    'tenant-mismatch': { topic, bytes: json({ tenant: 'other', id: 'a', ts: NOW, metrics: { t: 1 } }), index: null },
    'event-time-too-far-ahead': { topic, bytes: json({ id: 'a', ts: NOW + 3_600_000, metrics: { t: 1 } }), index: null },
    'event-time-too-far-behind': { topic, bytes: json({ id: 'a', ts: NOW - 30 * 86_400_000, metrics: { t: 1 } }), index: null },
    'id-too-long': { topic, bytes: json({ id: 'x'.repeat(129), ts: NOW, metrics: { t: 1 } }), index: null },
  },
  fuzz: codecProperties.find((property) => property.name === 'codec-json-never-throws')!,
}));
