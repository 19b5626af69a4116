import type { ValidationLimits as ValidationConfig } from '../validation-limits.ts';
import { parseIsoTime } from '../iso-time.ts';
import { NAME_PATTERN } from '../names.ts';
import type { Reading, RejectionReason } from '../readings.ts';
import { Refusal, type Failure } from './document.ts';
import { describeType, describeValue, hasControlCharacters, hasLoneSurrogate, isMetricName, isPlainObject, isSequenceNumber, METRIC_NAME_PATTERN, quote } from './text.ts';

/**
 * One reading of a device message or gateway body, checked field by field into a normalized
 * Reading or the first failure. Pure: no I/O, no clock (the ingest time is a parameter).
 */

export type RawReading = Record<string, unknown>;

/**
 * One reading's fields, checked in the order a person would check them (device, tenant, id or
 * seq, ts, metrics or metric + value); the first failure wins. Written out rather than as a table
 * of rules over a draft object: this runs once per reading on the bridge's hot path.
 */
export function normalizeReading(
  item: unknown,
  tenant: string,
  device: string,
  ingestTime: number,
  config: ValidationConfig,
): Reading | Failure {
  if (!isPlainObject(item)) return { reason: 'schema', detail: `a reading must be a JSON object, got ${describeType(item)}` };
  const originFailure =
    checkNamedOrigin(item, 'device', device, 'device-mismatch') ?? checkNamedOrigin(item, 'tenant', tenant, 'tenant-mismatch');
  if (originFailure) return originFailure;
  const id = readId(item, config);
  if (typeof id !== 'string') return id;
  const eventTime = readEventTime(item, ingestTime, config);
  if (typeof eventTime !== 'number') return eventTime;
  const metrics = readMetrics(item, config);
  if (metrics instanceof Refusal) return metrics;
  return { tenant, device, id, eventTime, ingestTime, metrics };
}

/**
 * A gateway reading names its device; the gateway key decides the tenant. A foreign tenant is
 * checked first: it makes the whole request 403, whatever else is wrong with the reading.
 */
export function normalizeGatewayReading(item: unknown, tenant: string, ingestTime: number, config: ValidationConfig): Reading | Failure {
  if (!isPlainObject(item)) return { reason: 'schema', detail: `a reading must be a JSON object, got ${describeType(item)}` };
  const foreign = checkNamedOrigin(item, 'tenant', tenant, 'tenant-mismatch');
  if (foreign) return foreign;
  const device = item['device'];
  if (typeof device !== 'string') return { reason: 'schema', detail: "a gateway reading needs 'device' (a string)" };
  if (!NAME_PATTERN.test(device)) return { reason: 'schema', detail: `device ${quote(device)} does not match ${NAME_PATTERN}` };
  return normalizeReading(item, tenant, device, ingestTime, config);
}

export function checkNamedOrigin(raw: RawReading, field: 'device' | 'tenant', expected: string, reason: RejectionReason): Failure | undefined {
  const named = raw[field];
  if (named === undefined || named === expected) return undefined;
  return { reason, detail: `${field} ${quote(named)} is not ${quote(expected)}` };
}

function readId(raw: RawReading, config: ValidationConfig): string | Failure {
  const id = raw['id'];
  if (id !== undefined) {
    if (typeof id === 'string') {
      if (id.length === 0) return { reason: 'schema', detail: "'id' is empty" };
      if (id.length > config.maxIdLength) {
        return { reason: 'id-too-long', detail: `'id' has ${id.length} characters, the limit is ${config.maxIdLength}` };
      }
      if (hasControlCharacters(id)) return { reason: 'schema', detail: "'id' contains control characters" };
      // A lone surrogate (only a JSON escape can carry one) becomes U+FFFD in UTF-8: two ids would merge.
      if (hasLoneSurrogate(id)) return { reason: 'schema', detail: "'id' is not well-formed Unicode (a lone surrogate escape)" };
      return id;
    }
    if (isSequenceNumber(id)) return String(id);
    return { reason: 'schema', detail: `'id' must be a string or a non-negative integer, got ${describeType(id)}` };
  }
  const seq = raw['seq'];
  if (seq === undefined) return { reason: 'schema', detail: "a reading needs 'id' or 'seq'" };
  if (!isSequenceNumber(seq)) return { reason: 'schema', detail: `'seq' must be a non-negative integer, got ${describeValue(seq)}` };
  return String(seq);
}

function readEventTime(raw: RawReading, ingestTime: number, config: ValidationConfig): number | Failure {
  const ts = raw['ts'];
  let eventTime: number;
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts)) return { reason: 'non-finite-value', detail: "'ts' is not a finite number" };
    eventTime = Math.floor(ts);
  } else if (typeof ts === 'string') {
    eventTime = parseIsoTime(ts);
    if (Number.isNaN(eventTime)) return { reason: 'schema', detail: `'ts' ${quote(ts)} is not ISO-8601 with a zone` };
  } else if (ts === undefined) {
    return { reason: 'schema', detail: "a reading needs 'ts' (epoch milliseconds or ISO-8601)" };
  } else {
    return { reason: 'schema', detail: `'ts' must be epoch milliseconds or an ISO-8601 string, got ${describeType(ts)}` };
  }
  if (eventTime > ingestTime + config.maxFutureSkewMs) {
    return {
      reason: 'event-time-too-far-ahead',
      detail: `'ts' is ${eventTime - ingestTime} ms ahead of the ingest time; the limit is ${config.maxFutureSkewMs}`,
    };
  }
  if (eventTime < ingestTime - config.maxPastAgeMs) {
    return {
      reason: 'event-time-too-far-behind',
      detail: `'ts' is ${ingestTime - eventTime} ms behind the ingest time; the limit is ${config.maxPastAgeMs}`,
    };
  }
  return eventTime;
}

/** `metrics: {name: number, ...}`, or the one-metric form `metric` + `value`. */
function readMetrics(raw: RawReading, config: ValidationConfig): Record<string, number> | Refusal {
  const metrics = raw['metrics'];
  const single = raw['metric'];
  if (metrics !== undefined && single !== undefined) {
    return new Refusal('schema', "a reading has either 'metrics' or 'metric' + 'value', not both");
  }
  if (metrics === undefined) {
    if (single === undefined) return new Refusal('schema', "a reading needs 'metrics' or 'metric' + 'value'");
    if (typeof single !== 'string' || !isMetricName(single)) {
      return new Refusal('schema', `'metric' ${quote(single)} does not match ${METRIC_NAME_PATTERN}`);
    }
    const failure = checkMetricValue(single, raw['value']);
    if (failure) return Refusal.of(failure);
    return { [single]: raw['value'] as number };
  }
  if (!isPlainObject(metrics)) return new Refusal('schema', `'metrics' must be an object, got ${describeType(metrics)}`);
  let count = 0;
  for (const name in metrics) {
    if (++count > config.maxMetricsPerReading) {
      return new Refusal('too-many-metrics', `more than ${config.maxMetricsPerReading} metrics in one reading`);
    }
    if (!isMetricName(name)) return new Refusal('schema', `metric name ${quote(name)} does not match ${METRIC_NAME_PATTERN}`);
    const failure = checkMetricValue(name, metrics[name]);
    if (failure) return Refusal.of(failure);
  }
  if (count === 0) return new Refusal('schema', "'metrics' is empty");
  // Every entry is a checked number, so the parsed object is used as it is (no copy on the hot path).
  return metrics as Record<string, number>;
}

function checkMetricValue(name: string, value: unknown): Failure | undefined {
  if (typeof value !== 'number') return { reason: 'schema', detail: `metric ${quote(name)} must be a number, got ${describeType(value)}` };
  if (!Number.isFinite(value)) return { reason: 'non-finite-value', detail: `metric ${quote(name)} is not finite` };
  return undefined;
}

export function isFailure(outcome: Reading | Failure): outcome is Failure {
  return (outcome as Failure).reason !== undefined;
}
