import protobuf, { type Field, type MapField, type Message, type Type } from 'protobufjs';
import type { ValidationLimits } from '../validation-limits.ts';
import { ConfigError } from '../errors.ts';
import type { Reading, RejectionReason } from '../readings.ts';
import { parseTelemetryTopic, type Rejection, type ValidationResult } from '../validation.ts';
import { METRIC_NAME_PATTERN } from '../validation/text.ts';
import { refuseMessage, type PayloadCodec, type ScopeResult } from './codec.ts';
import { toNumber } from './sparkplug.ts';

/**
 * A user's own Protobuf messages, read with protobufjs from their `.proto` file: the
 * configuration names the message type and which fields are the device, id, time and metrics.
 * Topics are `<prefix>/<tenant>/<device>` as for JSON. Field presence is the wire's: a proto3
 * scalar equal to its default (0, "") is not sent, so it counts as missing (give ids as strings or
 * mark the field `optional`).
 */
export interface ProtobufFieldMap {
  /** A repeated message field whose items are the readings; '' when the message is one reading. */
  readonly readings: string;
  /** A string field naming the device, which must be the topic's when present; '' takes the topic's. */
  readonly device: string;
  /** A string or integer field: the reading's id. */
  readonly id: string;
  /** Epoch milliseconds (an integer or double field) or a google.protobuf.Timestamp. */
  readonly time: string;
  /** A map<string, number> field or a repeated {name, value} message field; '' to use metricFields. */
  readonly metrics: string;
  /** Numeric or bool fields, each a metric of its own name; used when `metrics` is ''. */
  readonly metricFields: readonly string[];
}

export const PROTOBUF_REASONS = [
  'payload-too-large',
  'undecodable',
  'missing-field',
  'wrong-type',
  'schema',
  'non-finite-value',
  'too-many-readings',
  'too-many-metrics',
  'device-mismatch',
  'id-too-long',
  'event-time-too-far-ahead',
  'event-time-too-far-behind',
] as const;

type Failure = { readonly reason: RejectionReason; readonly detail: string };

const NUMERIC = new Set(['double', 'float', 'int32', 'uint32', 'sint32', 'fixed32', 'sfixed32', 'int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** The codec of one message type; a field map that does not fit the type fails here, at start-up. */
export function protobufCodec(prefix: string, messageType: Type, fields: ProtobufFieldMap): PayloadCodec {
  const readingType = checkFieldMap(messageType, fields);
  return {
    name: 'protobuf',
    reasons: PROTOBUF_REASONS,
    scope(topic: string): ScopeResult {
      const origin = parseTelemetryTopic(topic, prefix);
      if (origin === undefined) return { ok: false, reason: 'bad-topic', detail: `topic is not ${prefix}/<tenant>/<device> with safe names` };
      return { ok: true, scope: origin };
    },
    decode(_topic, bytes, context) {
      const { validation, scope, ingestTime } = context;
      if (bytes.length > validation.maxPayloadBytes) return refuseMessage('payload-too-large', `${bytes.length} bytes exceed the limit of ${validation.maxPayloadBytes}`);
      let message: Message;
      const wrong = wireTypeMismatch(messageType, bytes);
      if (wrong !== undefined) return refuseMessage('wrong-type', wrong);
      try {
        message = messageType.decode(bytes);
      } catch (error) {
        return refuseMessage('undecodable', `not a ${messageType.fullName.replace(/^\./, '')}: ${error instanceof Error ? error.message : String(error)}`);
      }
      const one = (item: Record<string, unknown>): Reading | Failure => readReading(item, readingType, fields, scope.tenant, scope.device, ingestTime, validation);
      if (fields.readings === '') {
        const outcome = one(message as unknown as Record<string, unknown>);
        return 'reason' in outcome ? refuseMessage(outcome.reason, outcome.detail) : { readings: [outcome], rejections: [] };
      }
      const items = (message as unknown as Record<string, unknown>)[fields.readings] as Array<Record<string, unknown>>;
      if (items.length === 0) return refuseMessage('missing-field', `'${fields.readings}' holds no readings`);
      if (items.length > validation.maxReadingsPerMessage) return refuseMessage('too-many-readings', `${items.length} readings exceed the limit of ${validation.maxReadingsPerMessage}`);
      const readings: Reading[] = [];
      const rejections: Rejection[] = [];
      for (let index = 0; index < items.length; index++) {
        const outcome = one(items[index]!);
        if ('reason' in outcome) rejections.push({ index, reason: outcome.reason, detail: outcome.detail, item: safeJson(items[index]) });
        else readings.push(outcome);
      }
      return { readings, rejections };
    },
  };
}

function readReading(item: Record<string, unknown>, type: Type, fields: ProtobufFieldMap, tenant: string, topicDevice: string, ingestTime: number, validation: ValidationLimits): Reading | Failure {
  const present = (name: string): boolean => Object.hasOwn(item, name);
  if (fields.device !== '') {
    // Absent (or proto3's empty default), the topic's device stands, as for a JSON reading without 'device'.
    const device = present(fields.device) ? item[fields.device] : topicDevice;
    if (device !== topicDevice) return { reason: 'device-mismatch', detail: `device ${JSON.stringify(String(device).slice(0, 80))} is not the topic's ${JSON.stringify(topicDevice)}` };
  }
  if (!present(fields.id)) return { reason: 'missing-field', detail: `'${fields.id}' (the id) is missing` };
  const rawId = item[fields.id];
  const id = typeof rawId === 'string' ? rawId : toNumber(rawId)?.toString();
  if (id === undefined || id === '') return { reason: 'missing-field', detail: `'${fields.id}' (the id) is empty` };
  if (id.length > validation.maxIdLength) return { reason: 'id-too-long', detail: `'${fields.id}' has ${id.length} characters, the limit is ${validation.maxIdLength}` };
  if (/[\u0000-\u001f\u007f]/.test(id)) return { reason: 'schema', detail: `'${fields.id}' contains control characters` };
  if (!present(fields.time)) return { reason: 'missing-field', detail: `'${fields.time}' (the time) is missing` };
  const eventTime = readTime(item[fields.time]);
  if (eventTime === undefined) return { reason: 'non-finite-value', detail: `'${fields.time}' is not a finite time` };
  if (eventTime > ingestTime + validation.maxFutureSkewMs) return { reason: 'event-time-too-far-ahead', detail: `'${fields.time}' is ${eventTime - ingestTime} ms ahead of the ingest time; the limit is ${validation.maxFutureSkewMs}` };
  if (eventTime < ingestTime - validation.maxPastAgeMs) return { reason: 'event-time-too-far-behind', detail: `'${fields.time}' is ${ingestTime - eventTime} ms behind the ingest time; the limit is ${validation.maxPastAgeMs}` };
  const metrics = readMetrics(item, type, fields, validation);
  if ('reason' in metrics) return metrics as Failure;
  return { tenant, device: topicDevice, id, eventTime, ingestTime, metrics: metrics as Record<string, number> };
}

function readMetrics(item: Record<string, unknown>, type: Type, fields: ProtobufFieldMap, validation: ValidationLimits): Record<string, number> | Failure {
  const entries: Array<[string, unknown]> = [];
  if (fields.metrics === '') {
    for (const name of fields.metricFields) if (Object.hasOwn(item, name)) entries.push([name, item[name]]);
  } else if (type.fields[fields.metrics]?.map === true) {
    for (const [name, value] of Object.entries((item[fields.metrics] ?? {}) as Record<string, unknown>)) entries.push([name, value]);
  } else {
    for (const pair of (item[fields.metrics] ?? []) as Array<Record<string, unknown>>) entries.push([String(pair['name'] ?? ''), Object.hasOwn(pair, 'value') ? pair['value'] : 0]);
  }
  if (entries.length === 0) return { reason: 'missing-field', detail: 'the reading carries no metric' };
  if (entries.length > validation.maxMetricsPerReading) return { reason: 'too-many-metrics', detail: `more than ${validation.maxMetricsPerReading} metrics in one reading` };
  const metrics: Record<string, number> = {};
  for (const [name, raw] of entries) {
    if (!METRIC_NAME_PATTERN.test(name)) return { reason: 'schema', detail: `metric name ${JSON.stringify(name.slice(0, 80))} does not match ${METRIC_NAME_PATTERN}` };
    if (Object.hasOwn(metrics, name)) return { reason: 'schema', detail: `metric ${JSON.stringify(name)} appears twice` };
    const value = typeof raw === 'boolean' ? (raw ? 1 : 0) : toNumber(raw);
    if (value === undefined) return { reason: 'wrong-type', detail: `metric ${JSON.stringify(name)} is not a number` };
    if (!Number.isFinite(value)) return { reason: 'non-finite-value', detail: `metric ${JSON.stringify(name)} is not finite` };
    metrics[name] = value;
  }
  return metrics;
}

/** Wire types by protobuf scalar type: 0 varint, 1 64-bit, 2 length-delimited, 5 32-bit. */
const WIRE_TYPES: Readonly<Record<string, number>> = {
  int32: 0, int64: 0, uint32: 0, uint64: 0, sint32: 0, sint64: 0, bool: 0,
  fixed64: 1, sfixed64: 1, double: 1,
  string: 2, bytes: 2,
  fixed32: 5, sfixed32: 5, float: 5,
};

/**
 * A known field sent with another wire type than its declared type has (a string where a number
 * belongs): protobufjs would read it anyway as garbage of the declared type. Walks the message and
 * its nested messages (depth-bounded); undefined when every known field has its wire type, or the
 * bytes do not even parse (decode() then says so).
 */
function wireTypeMismatch(type: Type, bytes: Uint8Array, depth = 0): string | undefined {
  if (depth > 16) return undefined;
  const reader = protobuf.Reader.create(bytes);
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      const id = tag >>> 3;
      const wire = tag & 7;
      const field = type.fieldsById[id];
      if (field !== undefined) {
        const nested = field.resolvedType !== null && 'fieldsById' in field.resolvedType ? (field.resolvedType as Type) : undefined;
        const expected = field.map || nested !== undefined ? 2 : field.resolvedType !== null ? 0 : WIRE_TYPES[field.type];
        // A repeated scalar may come packed (length-delimited).
        const packedOk = field.repeated && wire === 2 && expected !== 2;
        if (expected !== undefined && wire !== expected && !packedOk) return `field '${field.name}' (${field.type}) came with wire type ${wire}, not ${expected}`;
        if (nested !== undefined && !field.map) {
          const inner = reader.bytes();
          const problem = wireTypeMismatch(nested, inner, depth + 1);
          if (problem !== undefined) return `${field.name}.${problem}`;
          continue;
        }
      }
      reader.skipType(wire);
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function readTime(value: unknown): number | undefined {
  const millis = toNumber(value);
  if (millis !== undefined) return Number.isFinite(millis) ? Math.floor(millis) : undefined;
  if (typeof value === 'object' && value !== null && 'seconds' in value) {
    const seconds = toNumber((value as { seconds: unknown }).seconds) ?? 0;
    const nanos = toNumber((value as { nanos?: unknown }).nanos) ?? 0;
    return seconds * 1000 + Math.floor(nanos / 1e6);
  }
  return undefined;
}

/**
 * The field map checked against the message type: every named field exists with a usable type.
 * Returns the type of a reading (the message's, or the `readings` field's item type).
 */
function checkFieldMap(messageType: Type, fields: ProtobufFieldMap): Type {
  const where = messageType.fullName.replace(/^\./, '');
  const fail = (message: string): never => {
    throw new ConfigError(`mqtt.codecs protobuf ${where}: ${message}`, { messageType: where });
  };
  let type = messageType;
  if (fields.readings !== '') {
    const list = messageType.fields[fields.readings];
    if (list === undefined || !list.repeated || list.resolvedType === null || !('fields' in list.resolvedType)) fail(`readings '${fields.readings}' must be a repeated message field`);
    type = list!.resolvedType as Type;
  }
  const field = (name: string, role: string): Field => type.fields[name] ?? fail(`${role} field '${name}' is not a field of ${type.name}`);
  if (fields.device !== '' && field(fields.device, 'device').type !== 'string') fail(`device field '${fields.device}' must be a string`);
  const id = field(fields.id, 'id');
  if (id.repeated || !(id.type === 'string' || (NUMERIC.has(id.type) && !['double', 'float'].includes(id.type)))) fail(`id field '${fields.id}' must be a string or an integer`);
  const time = field(fields.time, 'time');
  if (time.repeated || !(NUMERIC.has(time.type) || time.type === 'google.protobuf.Timestamp' || time.type === 'Timestamp')) fail(`time field '${fields.time}' must be a number (epoch ms) or a google.protobuf.Timestamp`);
  if (fields.metrics !== '') {
    const metrics = field(fields.metrics, 'metrics');
    const map = metrics as unknown as MapField;
    if (map.map) {
      if (map.keyType !== 'string' || !(NUMERIC.has(map.type) || map.type === 'bool')) fail(`metrics map '${fields.metrics}' must be map<string, number or bool>`);
    } else {
      const pair = metrics.resolvedType as Type | null;
      if (!metrics.repeated || pair === null || !('fields' in pair) || pair.fields['name']?.type !== 'string' || pair.fields['value'] === undefined || !NUMERIC.has(pair.fields['value'].type)) {
        fail(`metrics field '${fields.metrics}' must be a map<string, number> or a repeated message with 'string name' and a numeric 'value'`);
      }
    }
  } else {
    if (fields.metricFields.length === 0) fail("name the metrics: 'metrics' (a map or repeated {name, value}) or 'metricFields'");
    for (const name of fields.metricFields) {
      const metric = field(name, 'metric');
      if (metric.repeated || !(NUMERIC.has(metric.type) || metric.type === 'bool')) fail(`metric field '${name}' must be a number or bool`);
      if (!METRIC_NAME_PATTERN.test(name)) fail(`metric field '${name}' is not a metric name (${METRIC_NAME_PATTERN})`);
    }
  }
  return type;
}

function safeJson(value: unknown): string | null {
  try {
    return JSON.stringify(value, (_key, item: unknown) => (typeof item === 'object' && item !== null && 'toNumber' in item ? String(item) : item)) ?? null;
  } catch {
    return null;
  }
}
