import type { ValidationConfig } from '../../src/config/schema.ts';
import type { Reading, RejectionReason } from '../../src/core/readings.ts';

/**
 * The edge bridge's documented acceptance rules (edge/README.md "Payloads", "HTTP intake"), written
 * plainly and on purpose apart from src/core/validation.ts: its own UTF-8 decoder, its own ISO-8601
 * reader, JSON.parse and one check after another. Slow and obviously right; the fuzz properties
 * (test/fuzz/validator-properties.ts) hold the production validator equal to it.
 *
 * The outcome is what the validator's result says without its words: the accepted readings in
 * order, and each refusal's index (null for the whole message) and reason.
 */
export interface ReferenceOutcome {
  readonly readings: Reading[];
  readonly rejections: Array<{ readonly index: number | null; readonly reason: RejectionReason }>;
}

type Limits = ValidationConfig;
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Checked<T> = { ok: true; value: T } | { ok: false; reason: RejectionReason };

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$/;
const METRIC_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const CONTROL = /[\u0000-\u001f\u007f]/;
/** In u-mode a surrogate pair is one code point, so this class finds lone surrogates only. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

const fail = <T>(reason: RejectionReason): Checked<T> => ({ ok: false, reason });
const whole = (reason: RejectionReason): ReferenceOutcome => ({ readings: [], rejections: [{ index: null, reason }] });

/** An MQTT device message published on `<prefix>/<tenant>/<device>`. */
export function referenceDeviceMessage(payload: Uint8Array, tenant: string, device: string, ingestTime: number, limits: Limits): ReferenceOutcome {
  const document = readDocument(payload, limits.maxPayloadBytes, limits);
  if (!document.ok) return whole(document.reason);
  const root = document.value;
  let items: Json[];
  let batch = true;
  if (Array.isArray(root)) {
    items = root;
  } else if (isObject(root) && has(root, 'readings')) {
    if (has(root, 'device') && root['device'] !== device) return whole('device-mismatch');
    if (has(root, 'tenant') && root['tenant'] !== tenant) return whole('tenant-mismatch');
    const readings = root['readings'];
    if (!Array.isArray(readings)) return whole('schema');
    items = readings;
  } else if (isObject(root)) {
    items = [root];
    batch = false;
  } else {
    return whole('schema');
  }
  if (items.length === 0) return whole('schema');
  if (items.length > limits.maxReadingsPerMessage) return whole('too-many-readings');
  const outcome: ReferenceOutcome = { readings: [], rejections: [] };
  items.forEach((item, index) => {
    const reading = readReading(item, tenant, device, ingestTime, limits);
    if (reading.ok) outcome.readings.push(reading.value);
    else outcome.rejections.push({ index: batch ? index : null, reason: reading.reason });
  });
  return outcome;
}

/** An HTTP gateway body: a JSON array or `{"readings":[…]}`, or NDJSON. */
export function referenceGatewayBody(
  body: Uint8Array,
  format: 'json' | 'ndjson',
  tenant: string,
  ingestTime: number,
  limits: Limits,
  maxBodyBytes: number,
): ReferenceOutcome {
  if (format === 'ndjson') return referenceNdjson(body, tenant, ingestTime, limits, maxBodyBytes);
  const document = readDocument(body, maxBodyBytes, limits);
  if (!document.ok) return whole(document.reason);
  const root = document.value;
  let items: Json[];
  if (Array.isArray(root)) {
    items = root;
  } else if (isObject(root) && Array.isArray(root['readings'])) {
    if (has(root, 'tenant') && root['tenant'] !== tenant) return whole('tenant-mismatch');
    items = root['readings'];
  } else {
    return whole('schema');
  }
  if (items.length === 0) return whole('schema');
  if (items.length > limits.maxReadingsPerMessage) return whole('too-many-readings');
  const outcome: ReferenceOutcome = { readings: [], rejections: [] };
  items.forEach((item, index) => addGatewayReading(outcome, index, item, tenant, ingestTime, limits));
  return outcome;
}

function referenceNdjson(body: Uint8Array, tenant: string, ingestTime: number, limits: Limits, maxBodyBytes: number): ReferenceOutcome {
  if (body.length > maxBodyBytes) return whole('payload-too-large');
  if (body.length === 0) return whole('malformed-json');
  const text = decodeUtf8(body);
  if (text === undefined) return whole('not-utf8');
  const lines = text
    .split('\n')
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
    .filter((line) => !/^[ \t\r]*$/.test(line));
  if (lines.length === 0) return whole('schema');
  if (lines.length > limits.maxReadingsPerMessage) return whole('too-many-readings');
  const outcome: ReferenceOutcome = { readings: [], rejections: [] };
  lines.forEach((line, index) => {
    const document = parseText(line, limits);
    if (!document.ok) outcome.rejections.push({ index, reason: document.reason });
    else addGatewayReading(outcome, index, document.value, tenant, ingestTime, limits);
  });
  return outcome;
}

function addGatewayReading(outcome: ReferenceOutcome, index: number, item: Json, tenant: string, ingestTime: number, limits: Limits): void {
  const reading = readGatewayReading(item, tenant, ingestTime, limits);
  if (reading.ok) outcome.readings.push(reading.value);
  else outcome.rejections.push({ index, reason: reading.reason });
}

function readGatewayReading(item: Json, tenant: string, ingestTime: number, limits: Limits): Checked<Reading> {
  if (!isObject(item)) return fail('schema');
  if (has(item, 'tenant') && item['tenant'] !== tenant) return fail('tenant-mismatch');
  const device = item['device'];
  if (typeof device !== 'string' || !NAME.test(device)) return fail('schema');
  return readReading(item, tenant, device, ingestTime, limits);
}

// ---------------------------------------------------------------------------------------------
// A document: size, emptiness, UTF-8, JSON, nesting
// ---------------------------------------------------------------------------------------------

function readDocument(bytes: Uint8Array, maxBytes: number, limits: Limits): Checked<Json> {
  if (bytes.length > maxBytes) return fail('payload-too-large');
  if (bytes.length === 0) return fail('malformed-json');
  const text = decodeUtf8(bytes);
  if (text === undefined) return fail(textDepth(latin1(bytes)) > limits.maxNestingDepth ? 'too-deeply-nested' : 'not-utf8');
  return parseText(text, limits);
}

/** JSON, then the depth of what it parsed to; a text that is not JSON is measured on its brackets. */
function parseText(text: string, limits: Limits): Checked<Json> {
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch {
    return fail(textDepth(text) > limits.maxNestingDepth ? 'too-deeply-nested' : 'malformed-json');
  }
  return valueDepth(value) > limits.maxNestingDepth ? fail('too-deeply-nested') : { ok: true, value };
}

/** Every object and array is one level. */
function valueDepth(value: Json): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(valueDepth));
  if (isObject(value)) return 1 + Math.max(0, ...Object.values(value).map(valueDepth));
  return 0;
}

/** The deepest bracket level of a text, brackets inside strings not counted. */
function textDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{' || char === '[') deepest = Math.max(deepest, ++depth);
    else if (char === '}' || char === ']') depth--;
  }
  return deepest;
}

function latin1(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => String.fromCharCode(byte)).join('');
}

/**
 * UTF-8 as the Unicode standard defines it (table 3-7: no overlong forms, no surrogates, nothing
 * above U+10FFFF), one leading byte order mark dropped; undefined when the bytes are not UTF-8.
 */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  const points: number[] = [];
  for (let i = 0; i < bytes.length; ) {
    const lead = bytes[i]!;
    let length: number;
    let point: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead <= 0x7f) [length, point] = [1, lead];
    else if (lead >= 0xc2 && lead <= 0xdf) [length, point] = [2, lead & 0x1f];
    else if (lead >= 0xe0 && lead <= 0xef) [length, point] = [3, lead & 0x0f];
    else if (lead >= 0xf0 && lead <= 0xf4) [length, point] = [4, lead & 0x07];
    else return undefined;
    if (lead === 0xe0) low = 0xa0;
    if (lead === 0xed) high = 0x9f;
    if (lead === 0xf0) low = 0x90;
    if (lead === 0xf4) high = 0x8f;
    for (let k = 1; k < length; k++) {
      const next = bytes[i + k];
      if (next === undefined || next < (k === 1 ? low : 0x80) || next > (k === 1 ? high : 0xbf)) return undefined;
      point = (point << 6) | (next & 0x3f);
    }
    points.push(point);
    i += length;
  }
  if (points[0] === 0xfeff) points.shift();
  let text = '';
  for (let i = 0; i < points.length; i += 4096) text += String.fromCodePoint(...points.slice(i, i + 4096));
  return text;
}

// ---------------------------------------------------------------------------------------------
// One reading: device, tenant, id or seq, ts, metrics — the first failure in this order wins
// ---------------------------------------------------------------------------------------------

function readReading(item: Json, tenant: string, device: string, ingestTime: number, limits: Limits): Checked<Reading> {
  if (!isObject(item)) return fail('schema');
  if (has(item, 'device') && item['device'] !== device) return fail('device-mismatch');
  if (has(item, 'tenant') && item['tenant'] !== tenant) return fail('tenant-mismatch');
  const id = readId(item, limits);
  if (!id.ok) return id;
  const eventTime = readTime(item['ts'], ingestTime, limits);
  if (!eventTime.ok) return eventTime;
  const metrics = readMetrics(item, limits);
  if (!metrics.ok) return metrics;
  return { ok: true, value: { tenant, device, id: id.value, eventTime: eventTime.value, ingestTime, metrics: metrics.value } };
}

/** A non-negative integer a double holds exactly; written as its decimal digits (1e2 and 100.0 are "100"). */
function isCounter(value: Json | undefined): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= Number.MAX_SAFE_INTEGER;
}

function readId(item: { [key: string]: Json }, limits: Limits): Checked<string> {
  if (has(item, 'id')) {
    const id = item['id'];
    if (isCounter(id)) return { ok: true, value: String(id) };
    if (typeof id !== 'string' || id === '') return fail('schema');
    if (id.length > limits.maxIdLength) return fail('id-too-long');
    if (CONTROL.test(id) || LONE_SURROGATE.test(id)) return fail('schema');
    return { ok: true, value: id };
  }
  const seq = item['seq'];
  return isCounter(seq) ? { ok: true, value: String(seq) } : fail('schema');
}

function readTime(ts: Json | undefined, ingestTime: number, limits: Limits): Checked<number> {
  let eventTime: number;
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts)) return fail('non-finite-value');
    eventTime = Math.floor(ts);
  } else if (typeof ts === 'string') {
    const parsed = referenceIsoTime(ts);
    if (parsed === undefined) return fail('schema');
    eventTime = parsed;
  } else {
    return fail('schema');
  }
  if (eventTime > ingestTime + limits.maxFutureSkewMs) return fail('event-time-too-far-ahead');
  if (eventTime < ingestTime - limits.maxPastAgeMs) return fail('event-time-too-far-behind');
  return { ok: true, value: eventTime };
}

/**
 * RFC 3339: `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z` or `±HH:MM`, a real calendar day, hours
 * 00-23; the fraction is cut to milliseconds. Epoch milliseconds, computed here without Date.
 */
export function referenceIsoTime(text: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(text);
  if (match === null) return undefined;
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [1, 2, 3, 4, 5, 6, 9, 10].map((group) => Number(match[group] ?? 0)) as [
    number, number, number, number, number, number, number, number,
  ];
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (monthDays === undefined || day < 1 || day > monthDays) return undefined;
  if (hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return undefined;
  const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  const offset = (match[8] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  return daysFromCivil(year, month, day) * 86_400_000 + ((hour * 60 + minute - offset) * 60 + second) * 1000 + millis;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** `metrics` (entries checked in order; the (limit+1)-th entry is too-many-metrics) or `metric` + `value`. */
function readMetrics(item: { [key: string]: Json }, limits: Limits): Checked<Record<string, number>> {
  if (has(item, 'metrics') === has(item, 'metric')) return fail('schema');
  if (has(item, 'metric')) {
    const name = item['metric'];
    if (typeof name !== 'string' || !METRIC_NAME.test(name)) return fail('schema');
    const value = checkValue(item['value']);
    return value.ok ? { ok: true, value: Object.fromEntries([[name, value.value]]) } : value;
  }
  const metrics = item['metrics'];
  if (!isObject(metrics)) return fail('schema');
  const entries = Object.entries(metrics);
  if (entries.length === 0) return fail('schema');
  const checked: Array<[string, number]> = [];
  for (const [position, [name, raw]] of entries.entries()) {
    if (position >= limits.maxMetricsPerReading) return fail('too-many-metrics');
    if (!METRIC_NAME.test(name)) return fail('schema');
    const value = checkValue(raw);
    if (!value.ok) return value;
    checked.push([name, value.value]);
  }
  // fromEntries defines own properties: a metric named __proto__ stays a metric.
  return { ok: true, value: Object.fromEntries(checked) };
}

function checkValue(value: Json | undefined): Checked<number> {
  if (typeof value !== 'number') return fail('schema');
  return Number.isFinite(value) ? { ok: true, value } : fail('non-finite-value');
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function has(object: { [key: string]: Json }, key: string): boolean {
  return Object.hasOwn(object, key);
}
