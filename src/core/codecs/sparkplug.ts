import { get as sparkplugNamespace } from 'sparkplug-payload';
import type { UMetric, UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import type { Reading } from '../readings.ts';
import type { Rejection, ValidationResult } from '../validation.ts';
import { refuseMessage, type DecodeContext, type PayloadCodec, type ScopeResult } from './codec.ts';
import { metricNameOf, parseSparkplugTopic, type SparkplugTopic } from './sparkplug-topic.ts';
import { SparkplugState, type MetricDefinition } from './sparkplug-state.ts';

/**
 * Sparkplug B payloads (Eclipse Tahu's protobuf, decoded by its own `sparkplug-payload`).
 *
 * - NBIRTH/DBIRTH define the metric aliases (and types) of the node or device and bring it
 *   online; their values are the node's state at birth, not measurements: no readings.
 * - NDATA/DDATA: each metric whose value is int, float, double or boolean (1/0) becomes a metric
 *   of a reading; metrics sharing a timestamp (the metric's own, else the payload's) share a
 *   reading. Metrics named only by an alias this bridge has not seen a BIRTH for are refused
 *   (`unknown-alias`) and a rebirth is asked for; strings, bytes, datasets, templates, property
 *   sets, DateTime and null values are refused one by one (`unsupported-type`).
 * - `seq` (0–255) must follow the last message of the node; a gap is counted and a rebirth
 *   asked for, the message itself is still taken.
 * - NDEATH/DDEATH take the node (and its devices) or the device offline.
 *
 * A reading's id is `<seq>-<payload timestamp>` (then `-<metric timestamp>` when the metrics'
 * own time differs, and `-<n>` for the n-th part of a reading split by maxMetricsPerReading):
 * all of it comes from the message's bytes, so a redelivered message gets the same ids, while two
 * messages of a node differ in seq or timestamp (256 messages within one millisecond would collide).
 */
const spB = sparkplugNamespace('spBv1.0')!;

const NUMERIC_TYPES = new Set(['Int8', 'Int16', 'Int32', 'Int64', 'UInt8', 'UInt16', 'UInt32', 'UInt64', 'Float', 'Double']);

export const SPARKPLUG_REASONS = [
  'bad-topic',
  'payload-too-large',
  'undecodable',
  'missing-field',
  'unknown-alias',
  'unsupported-type',
  'non-finite-value',
  'schema',
  'event-time-too-far-ahead',
  'event-time-too-far-behind',
] as const;

export function sparkplugCodec(state: SparkplugState = new SparkplugState()): PayloadCodec & { readonly state: SparkplugState } {
  return {
    name: 'sparkplug',
    reasons: SPARKPLUG_REASONS,
    state,
    scope(topic: string): ScopeResult {
      const parsed = parseSparkplugTopic(topic);
      return parsed.ok ? { ok: true, scope: { tenant: parsed.topic.group, device: parsed.topic.node } } : parsed;
    },
    decode(topic, bytes, context) {
      const parsed = parseSparkplugTopic(topic);
      if (!parsed.ok) return refuseMessage(parsed.reason, parsed.detail);
      if (bytes.length > context.validation.maxPayloadBytes) {
        return refuseMessage('payload-too-large', `${bytes.length} bytes exceed the limit of ${context.validation.maxPayloadBytes}`);
      }
      let payload: UPayload;
      try {
        payload = spB.decodePayload(bytes);
      } catch (error) {
        return refuseMessage('undecodable', `not a Sparkplug B payload: ${error instanceof Error ? error.message : String(error)}`);
      }
      return decodeMessage(state, parsed.topic, payload, context);
    },
  };
}

const NOTHING: ValidationResult = Object.freeze({ readings: [], rejections: [] }) as ValidationResult;

function decodeMessage(state: SparkplugState, topic: SparkplugTopic, payload: UPayload, context: DecodeContext): ValidationResult {
  const { group, node, device, type } = topic;
  const metrics = payload.metrics ?? [];
  const seq = toNumber(payload.seq);
  if (type === 'NDEATH') {
    state.died(group, node, bdSeqOf(metrics));
    return NOTHING;
  }
  if (seq === undefined || !Number.isInteger(seq) || seq < 0 || seq > 255) return refuseMessage('missing-field', `a ${type} payload needs 'seq' (0–255)`);
  if (type === 'NBIRTH') {
    state.born(group, node, bdSeqOf(metrics), seq, aliasesOf(metrics));
    return NOTHING;
  }
  if (state.node(group, node) === undefined) state.requestRebirth(group, node, 'no-birth');
  else state.sequence(group, node, seq);
  if (type === 'DBIRTH') {
    state.deviceBorn(group, node, device!, aliasesOf(metrics));
    return NOTHING;
  }
  if (type === 'DDEATH') {
    state.deviceDied(group, node, device!);
    return NOTHING;
  }
  return dataReadings(state, topic, seq, payload, metrics, context);
}

/** NDATA/DDATA: metrics grouped by timestamp into readings; what cannot be a number is refused. */
function dataReadings(state: SparkplugState, topic: SparkplugTopic, seq: number, payload: UPayload, metrics: readonly UMetric[], context: DecodeContext): ValidationResult {
  const { group, node, device, deviceName } = topic;
  const { ingestTime, validation } = context;
  const nodeState = state.node(group, node);
  const deviceAliases = device === null ? undefined : nodeState?.devices.get(device)?.aliases;
  const payloadTime = toNumber(payload.timestamp);
  const groups = new Map<number, Record<string, number>>();
  const rejections: Rejection[] = [];
  const refuse = (index: number, metric: UMetric, reason: Rejection['reason'], detail: string): void => {
    rejections.push({ index, reason, detail, item: describeMetric(metric) });
  };
  for (let index = 0; index < metrics.length; index++) {
    const metric = metrics[index]!;
    const alias = toNumber(metric.alias);
    let definition: MetricDefinition | undefined;
    if (typeof metric.name === 'string' && metric.name !== '') definition = { name: metric.name, type: metric.type };
    else if (alias !== undefined) definition = deviceAliases?.get(String(alias)) ?? nodeState?.aliases.get(String(alias));
    if (definition === undefined) {
      refuse(index, metric, 'unknown-alias', alias === undefined ? 'metric has neither a name nor an alias' : `alias ${alias} was not defined by a BIRTH this bridge received; a rebirth is requested`);
      if (alias !== undefined) state.requestRebirth(group, node, 'unknown-alias');
      continue;
    }
    const type = metric.type ?? definition.type;
    if (metric.value === null) {
      refuse(index, metric, 'unsupported-type', `metric ${JSON.stringify(definition.name)} has a null value`);
      continue;
    }
    let value: number | undefined;
    if (type === 'Boolean' && typeof metric.value === 'boolean') value = metric.value ? 1 : 0;
    else if (NUMERIC_TYPES.has(type)) value = toNumber(metric.value);
    else {
      refuse(index, metric, 'unsupported-type', `metric ${JSON.stringify(definition.name)} is of type ${String(type)}; only int, float, double and boolean are taken`);
      continue;
    }
    if (value === undefined) {
      refuse(index, metric, 'missing-field', `metric ${JSON.stringify(definition.name)} carries no value of its type ${type}`);
      continue;
    }
    if (!Number.isFinite(value)) {
      refuse(index, metric, 'non-finite-value', `metric ${JSON.stringify(definition.name)} is not finite`);
      continue;
    }
    const time = toNumber(metric.timestamp) ?? payloadTime;
    if (time === undefined) {
      refuse(index, metric, 'missing-field', `metric ${JSON.stringify(definition.name)} has no timestamp and neither has the payload`);
      continue;
    }
    if (time > ingestTime + validation.maxFutureSkewMs) {
      refuse(index, metric, 'event-time-too-far-ahead', `timestamp is ${time - ingestTime} ms ahead of the ingest time; the limit is ${validation.maxFutureSkewMs}`);
      continue;
    }
    if (time < ingestTime - validation.maxPastAgeMs) {
      refuse(index, metric, 'event-time-too-far-behind', `timestamp is ${ingestTime - time} ms behind the ingest time; the limit is ${validation.maxPastAgeMs}`);
      continue;
    }
    const name = metricNameOf(definition.name);
    let values = groups.get(time);
    if (values === undefined) groups.set(time, (values = {}));
    if (Object.hasOwn(values, name)) {
      refuse(index, metric, 'schema', `metric ${JSON.stringify(definition.name)} appears twice with the same timestamp (as ${name})`);
      continue;
    }
    values[name] = value;
  }
  const readings: Reading[] = [];
  const base = `${seq}-${payloadTime ?? 'none'}`;
  for (const [eventTime, values] of groups) {
    const id = eventTime === payloadTime ? base : `${base}-${eventTime}`;
    const names = Object.keys(values);
    const per = validation.maxMetricsPerReading;
    for (let part = 0; part * per < names.length; part++) {
      const chunk: Record<string, number> = {};
      for (const name of names.slice(part * per, (part + 1) * per)) chunk[name] = values[name]!;
      readings.push({ tenant: group, device: deviceName, id: part === 0 ? id : `${id}-${part}`, eventTime, ingestTime, metrics: chunk });
    }
  }
  return { readings, rejections };
}

function aliasesOf(metrics: readonly UMetric[]): Map<string, MetricDefinition> {
  const aliases = new Map<string, MetricDefinition>();
  for (const metric of metrics) {
    const alias = toNumber(metric.alias);
    if (alias !== undefined && typeof metric.name === 'string' && metric.name !== '') aliases.set(String(alias), { name: metric.name, type: metric.type });
  }
  return aliases;
}

function bdSeqOf(metrics: readonly UMetric[]): number | null {
  for (const metric of metrics) if (metric.name === 'bdSeq') return toNumber(metric.value) ?? null;
  return null;
}

/** A protobuf scalar as a number: int64 fields come as Long objects from protobufjs. */
export function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { toNumber?: unknown }).toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return undefined;
}

/** A refused metric's evidence for its dead letter (never its value: a string may be anything). */
function describeMetric(metric: UMetric): string {
  return JSON.stringify({ name: metric.name ?? null, alias: toNumber(metric.alias) ?? null, type: metric.type ?? null, timestamp: toNumber(metric.timestamp) ?? null });
}
