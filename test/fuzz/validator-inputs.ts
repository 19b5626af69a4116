import fc from 'fast-check';
import { parseConfig } from '../../src/config/load.ts';
import type { ValidationConfig } from '../../src/config/schema.ts';

/**
 * Hostile inputs for the edge validator's properties (validator-properties.ts): device payloads,
 * compact single readings bent one way at a time, gateway bodies in JSON and NDJSON, and the
 * validation limits they are checked under. Built as JSON trees, so that they can say what
 * JSON.stringify cannot (duplicate keys, number literals as written), then serialized and mutated
 * at the byte level.
 */

export const NOW = 1_764_100_000_000;
export const TENANT = 'acme';
export const DEVICE = 'sensor-1';
export const DEFAULTS = parseConfig({}).edge.validation;
const DAY = 86_400_000;

// ---------------------------------------------------------------------------------------------
// A JSON tree that can say what JSON.stringify cannot: duplicate keys, number literals as written
// ---------------------------------------------------------------------------------------------

type Node = string | number | boolean | null | { readonly num: string } | readonly Node[] | { readonly entries: ReadonlyArray<readonly [string, Node]> };

interface Style {
  /** Whitespace between tokens. */
  readonly spaced: boolean;
  /** Every string character as a \uXXXX escape (surrogate pairs as two escapes). */
  readonly escaped: boolean;
}

function serialize(node: Node, style: Style): string {
  const gap = style.spaced ? ' ' : '';
  if (typeof node === 'string') return style.escaped ? escapeAll(node) : JSON.stringify(node);
  if (typeof node === 'number' || typeof node === 'boolean' || node === null) return JSON.stringify(node) ?? 'null';
  if (Array.isArray(node)) return `[${gap}${node.map((item: Node) => serialize(item, style)).join(`,${gap}`)}${gap}]`;
  if ('num' in node) return node.num;
  const { entries } = node as { entries: ReadonlyArray<readonly [string, Node]> };
  return `{${gap}${entries.map(([key, value]) => `${serialize(key, style)}${gap}:${gap}${serialize(value, style)}`).join(`,${gap}`)}${gap}}`;
}

function escapeAll(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) out += `\\u${text.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `${out}"`;
}

const object = (...entries: Array<readonly [string, Node] | undefined>): Node => ({ entries: entries.filter((entry) => entry !== undefined) });

// ---------------------------------------------------------------------------------------------
// Fields, good and hostile
// ---------------------------------------------------------------------------------------------

const hostileStrings = fc.constantFrom('', '\ud800', '\ud801', 'a\udc00', '\udc00\ud800', '\u{1f600}', 'é', 'a\u0000b', 'tab\t', 'del\u007f', '\u2028', '\ufeff', 'x'.repeat(140), '\ufffd');
const plainIds = fc.stringMatching(/^[a-z0-9 ._~-]{1,14}$/);
const numberLiterals = fc.constantFrom('1e309', '-1e309', '1e308', '-1e308', '5e-324', '-0', '0.0', '1E2', '100.0', '1e21', '9007199254740993', '-5', '1.5', '0');

/** Mostly the good value: a reading has one thing wrong at a time more often than many. */
function mostly<T>(good: fc.Arbitrary<T>, ...bad: Array<fc.Arbitrary<T>>): fc.Arbitrary<T> {
  return fc.oneof({ weight: 6 * bad.length, arbitrary: good }, ...bad.map((arbitrary) => ({ weight: 1, arbitrary })));
}

const idValue: fc.Arbitrary<Node> = fc.oneof(
  { weight: 40, arbitrary: plainIds },
  { weight: 3, arbitrary: hostileStrings },
  { weight: 2, arbitrary: fc.oneof(fc.nat(), fc.constantFrom(-0, -1, 1.5, 2 ** 53, 2 ** 53 - 1)) },
  { weight: 2, arbitrary: numberLiterals.map((num) => ({ num })) },
  { weight: 1, arbitrary: fc.constantFrom<Node>(null, true, [1], { entries: [] }) },
);

const isoAround = (offsetMs: number, zone: string): string => {
  const shift = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  return new Date(NOW + offsetMs + shift).toISOString().replace('Z', zone);
};

const tsValue: fc.Arbitrary<Node> = fc.oneof(
  { weight: 30, arbitrary: fc.integer({ min: -6 * 60_000, max: 6 * 60_000 }).map((offset) => NOW + offset) },
  { weight: 2, arbitrary: fc.double({ min: NOW - 60_000, max: NOW + 60_000, noNaN: true }) },
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.integer({ min: -3 * DAY, max: 3 * DAY }), fc.constantFrom('Z', '+01:00', '-05:30', '+23:59', '-00:00'), fc.constantFrom(0, 1, 2, 3))
      .map(([offset, zone, cut]) => {
        const text = isoAround(offset, zone);
        // Drop the milliseconds, the seconds, or add digits to the fraction.
        if (cut === 1) return text.replace(/\.\d{3}/, '');
        if (cut === 2) return text.replace(/:\d{2}\.\d{3}/, '');
        return cut === 3 ? text.replace(/(\.\d{3})/, '$1456789') : text;
      }),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '2025-11-31T00:00:00Z', '2025-11-25T24:00Z', '2025-11-26T00:00:00Z', '2025-11-25T23:60Z', '2025-11-25T23:59:60Z', '2025-02-29T12:00Z',
      '2025-11-25T19:46:39', '2025-11-25 19:46:39Z', '2025-11-25T19:46:39.Z', '2025-11-25T19:46:39+2400', '2025-11-25T19:46:39+24:00',
      '1764100000000', 'now', '', '2025-13-01T00:00Z', '2025-11-25T19:46:39.1234567890Z', '２０２５-11-25T00:00Z',
    ),
  },
  { weight: 2, arbitrary: numberLiterals.map((num) => ({ num })) },
  { weight: 1, arbitrary: fc.constantFrom<Node>(null, [NOW], { entries: [] }, true, NOW / 1000, 0, -1) },
);

const metricName = fc.oneof(
  { weight: 40, arbitrary: fc.constantFrom('t', 'temperature', 'humidity', 'a.b-c_9', '_x', 'Z') },
  { weight: 2, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf') },
  { weight: 2, arbitrary: fc.constantFrom('', 'a b', '1a', '-a', '.a', 'x'.repeat(64), 'y'.repeat(65), 'é', '\ud800', '0', '12', 'a\u0000') },
);

const metricValue: fc.Arbitrary<Node> = fc.oneof(
  { weight: 20, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { weight: 20, arbitrary: fc.integer() },
  { weight: 2, arbitrary: numberLiterals.map((num) => ({ num })) },
  { weight: 1, arbitrary: fc.constantFrom<Node>('21.5', null, true, [1], { entries: [] }, '') },
);

const metricsObject: fc.Arbitrary<Node> = mostly(
  fc.array(fc.tuple(metricName, metricValue), { minLength: 1, maxLength: 4 }),
  fc.array(fc.tuple(metricName, metricValue), { maxLength: 70 }),
).map((entries) => ({ entries }));

/** Deep junk: nests up to 12 levels, as arrays or objects. */
const junk: fc.Arbitrary<Node> = fc.tuple(mostly(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 3, max: 12 })), fc.boolean()).map(([depth, arrays]) => {
  let node: Node = 1;
  for (let i = 0; i < depth; i++) node = arrays ? [node] : { entries: [['k', node]] };
  return node;
});

interface ReadingShape {
  readonly device: 'own' | 'other' | 'none' | 'bad';
  readonly tenant: 'own' | 'other' | 'none';
  readonly id: Node | undefined;
  readonly seq: Node | undefined;
  readonly ts: Node | undefined;
  readonly metrics: Node | undefined;
  readonly metric: Node | undefined;
  readonly value: Node | undefined;
  readonly extra: Node | undefined;
  readonly duplicate: 'none' | 'id' | 'ts' | 'metrics';
}

/** Present `presentIn` times out of `outOf`. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>, presentIn: number, outOf: number): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: presentIn, arbitrary }, { weight: outOf - presentIn, arbitrary: fc.constant(undefined) });

const readingShape: fc.Arbitrary<ReadingShape> = fc.record({
  device: mostly(fc.constantFrom('own', 'none'), fc.constant('other'), fc.constant('bad')),
  tenant: mostly(fc.constantFrom('own', 'none', 'none'), fc.constant('other')),
  id: sometimes(idValue, 19, 20),
  seq: sometimes(fc.oneof(fc.nat(), numberLiterals.map((num) => ({ num })), fc.constant<Node>('7')), 1, 5),
  ts: sometimes(tsValue, 39, 40),
  metrics: sometimes(metricsObject, 19, 20),
  metric: sometimes(metricName, 1, 6),
  value: sometimes(metricValue, 1, 6),
  extra: sometimes(junk, 1, 4),
  duplicate: mostly(fc.constant('none'), fc.constant('id'), fc.constant('ts'), fc.constant('metrics')),
});

function readingNode(shape: ReadingShape, device: string): Node {
  const named = (field: 'device' | 'tenant', mode: string, own: string): readonly [string, Node] | undefined =>
    mode === 'none' ? undefined : [field, mode === 'own' ? own : mode === 'bad' ? 'a/b' : `${own}-x`];
  const field = (key: string, value: Node | undefined): readonly [string, Node] | undefined => (value === undefined ? undefined : [key, value]);
  const entries = [
    named('device', shape.device, device),
    named('tenant', shape.tenant, TENANT),
    field('id', shape.id),
    field('seq', shape.seq),
    field('ts', shape.ts),
    field('metrics', shape.metrics),
    field('metric', shape.metric),
    field('value', shape.value),
    field('extra', shape.extra),
  ];
  // A duplicate key up front: JSON.parse keeps the later (generated) value.
  const first: ReadonlyArray<readonly [string, Node]> =
    shape.duplicate === 'none' ? [] : [[shape.duplicate, shape.duplicate === 'metrics' ? [[1]] : shape.duplicate === 'ts' ? 'soon' : '\ud800']];
  return object(...first, ...entries);
}

// ---------------------------------------------------------------------------------------------
// Messages and bytes
// ---------------------------------------------------------------------------------------------

type Envelope = 'single' | 'array' | 'readings' | 'readings-own-origin' | 'readings-other-device' | 'readings-other-tenant' | 'readings-not-array' | 'scalar' | 'deep';

const styles: fc.Arbitrary<Style> = fc.record({ spaced: fc.boolean(), escaped: fc.constantFrom(false, false, false, true) });

function messageNode(envelope: Envelope, readings: readonly Node[]): Node {
  switch (envelope) {
    case 'single':
      return readings[0] ?? object();
    case 'array':
      return readings;
    case 'readings':
      return object(['readings', readings]);
    case 'readings-own-origin':
      return object(['device', DEVICE], ['tenant', TENANT], ['readings', readings]);
    case 'readings-other-device':
      return object(['device', 'other'], ['readings', readings]);
    case 'readings-other-tenant':
      return object(['tenant', 'other'], ['readings', readings]);
    case 'readings-not-array':
      return object(['readings', readings[0] ?? null]);
    case 'scalar':
      return readings.length % 2 === 0 ? 'hello' : 42;
    case 'deep':
      return [[[[[[[[[[readings]]]]]]]]]];
  }
}

/** Byte-level tricks applied after serializing: a BOM, raw invalid UTF-8, NUL and control bytes, a cut. */
type Mutation = { readonly kind: 'none' } | { readonly kind: 'bom' | 'double-bom' } | { readonly kind: 'insert'; readonly at: number; readonly bytes: readonly number[] } | { readonly kind: 'cut'; readonly at: number };

const badBytes = fc.constantFrom<readonly number[]>([0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xc3], [0xff], [0xfe, 0xff], [0x00], [0x01], [0x7f], [0xe2, 0x28, 0xa1], [0xef, 0xbf, 0xbd]);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 40, arbitrary: fc.constant({ kind: 'none' } as const) },
  { weight: 2, arbitrary: fc.constantFrom({ kind: 'bom' } as const, { kind: 'double-bom' } as const) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: badBytes }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }) },
);

function mutate(text: string, change: Mutation): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  switch (change.kind) {
    case 'none':
      return bytes;
    case 'bom':
      return Uint8Array.from([0xef, 0xbb, 0xbf, ...bytes]);
    case 'double-bom':
      return Uint8Array.from([0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, ...bytes]);
    case 'insert': {
      const at = change.at % (bytes.length + 1);
      return Uint8Array.from([...bytes.subarray(0, at), ...change.bytes, ...bytes.subarray(at)]);
    }
    case 'cut':
      return bytes.subarray(0, change.at % (bytes.length + 1));
  }
}

const limits: fc.Arbitrary<ValidationConfig> = fc
  .record({
    maxPayloadBytes: mostly(fc.constant(DEFAULTS.maxPayloadBytes), fc.constantFrom(64, 300)),
    maxReadingsPerMessage: mostly(fc.constant(DEFAULTS.maxReadingsPerMessage), fc.constantFrom(1, 2, 3)),
    maxMetricsPerReading: mostly(fc.constant(DEFAULTS.maxMetricsPerReading), fc.constantFrom(1, 2, 3)),
    maxIdLength: mostly(fc.constant(DEFAULTS.maxIdLength), fc.constantFrom(1, 5, 12)),
    maxNestingDepth: mostly(fc.constant(DEFAULTS.maxNestingDepth), fc.constantFrom(4, 5)),
    maxFutureSkewMs: mostly(fc.constant(DEFAULTS.maxFutureSkewMs), fc.constantFrom(0, 400 * DAY)),
    maxPastAgeMs: mostly(fc.constant(DEFAULTS.maxPastAgeMs), fc.constantFrom(0, 400 * DAY)),
  })
  .map((overrides) => ({ ...DEFAULTS, ...overrides }));

export interface DeviceCase {
  readonly payload: Uint8Array;
  readonly limits: ValidationConfig;
}

export interface GatewayCase extends DeviceCase {
  readonly format: 'json' | 'ndjson';
  readonly maxBodyBytes: number;
}

export const deviceCase: fc.Arbitrary<DeviceCase> = fc
  .record({
    envelope: mostly(
      fc.constantFrom<Envelope>('single', 'single', 'array', 'readings', 'readings-own-origin'),
      fc.constantFrom<Envelope>('readings-other-device', 'readings-other-tenant'),
      fc.constantFrom<Envelope>('readings-not-array', 'scalar', 'deep'),
    ),
    readings: fc.array(readingShape, { minLength: 0, maxLength: 4 }),
    style: styles,
    change: mutation,
    limits,
  })
  .map(({ envelope, readings, style, change, limits: chosen }) => ({
    payload: mutate(serialize(messageNode(envelope, readings.map((shape) => readingNode(shape, DEVICE))), style), change),
    limits: chosen,
  }));

/** The payload most devices send, with one thing at most changed: the fast path's own ground. */
export const compactCase: fc.Arbitrary<DeviceCase> = fc
  .record({
    id: mostly(plainIds, hostileStrings),
    ts: mostly(fc.integer({ min: -6 * 60_000, max: 6 * 60_000 }).map((offset) => String(NOW + offset)), numberLiterals, fc.constant(`${NOW}.75`)),
    metrics: fc.array(
      fc.tuple(metricName, mostly(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }).map(String), fc.integer().map(String)), numberLiterals)),
      { minLength: 0, maxLength: 4 },
    ),
    order: fc.constantFrom(0, 1, 2),
    change: mutation,
    limits,
  })
  .map(({ id, ts, metrics, order, change, limits: chosen }) => {
    const parts = [`"id":${JSON.stringify(id)}`, `"ts":${ts}`, `"metrics":{${metrics.map(([name, value]) => `${JSON.stringify(name)}:${value}`).join(',')}}`];
    const ordered = order === 0 ? parts : order === 1 ? [parts[2], parts[0], parts[1]] : [parts[1], parts[2], parts[0]];
    return { payload: mutate(`{${ordered.join(',')}}`, change), limits: chosen };
  });

export const gatewayCase: fc.Arbitrary<GatewayCase> = fc
  .record({
    format: fc.constantFrom<'json' | 'ndjson'>('json', 'ndjson'),
    envelope: mostly(fc.constantFrom('array', 'readings'), fc.constantFrom('readings-other-tenant', 'object', 'scalar')),
    readings: fc.array(fc.tuple(readingShape, fc.constantFrom('d1', 'd2', DEVICE)), { minLength: 0, maxLength: 5 }),
    style: styles,
    separators: fc.array(
      mostly(fc.constantFrom('\n', '\r\n', '\n\n', '\n \t\n'), fc.constantFrom('\n\ufeff\n', '\n\u00a0\n', '\n"\n', '\n]]]]]]]]]]\n', '\n{"device":"d1","id":"z",\n')),
      { minLength: 5, maxLength: 5 },
    ),
    change: mutation,
    limits,
    maxBodyBytes: mostly(fc.constant(64 * 1024), fc.constantFrom(64, 512)),
  })
  .map(({ format, envelope, readings, style, separators, change, limits: chosen, maxBodyBytes }) => {
    const nodes = readings.map(([shape, device]) => readingNode(shape.device === 'own' ? shape : { ...shape, device: 'own' }, device));
    let text: string;
    if (format === 'ndjson') {
      text = nodes.map((node, i) => serialize(node, style) + (i < nodes.length - 1 ? separators[i]! : '')).join('');
    } else if (envelope === 'readings') text = serialize(object(['readings', nodes]), style);
    else if (envelope === 'readings-other-tenant') text = serialize(object(['tenant', 'other'], ['readings', nodes]), style);
    else if (envelope === 'object') text = serialize(nodes[0] ?? object(), style);
    else if (envelope === 'scalar') text = serialize(nodes.length, style);
    else text = serialize(nodes, style);
    return { format, payload: mutate(text, change), limits: chosen, maxBodyBytes };
  });
