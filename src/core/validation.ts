import type { ValidationLimits as ValidationConfig } from './validation-limits.ts';
import { NAME_PATTERN } from './names.ts';
import type { Reading, RejectionReason } from './readings.ts';
import { readCompactReading } from './validation/compact-reading.ts';
import { checkReadingCount, decodeChecked, JSON_BLANK_LINE, parseDocument, parsePayload, Refusal, type Failure } from './validation/document.ts';
import { checkNamedOrigin, isFailure, normalizeGatewayReading, normalizeReading, type RawReading } from './validation/reading.ts';
import { describeType, isPlainObject, safeStringify } from './validation/text.ts';

/**
 * Validation of device payloads (MQTT) and gateway bodies (HTTP) into normalized readings.
 *
 * Pure and on the hot path: no I/O, no clock (the ingest time is a parameter), no allocation
 * beyond the results. A message may be partly valid: every valid reading goes on, every invalid
 * one comes back as a rejection carrying its index inside the message and the reason.
 *
 * The checks are hand-written for speed: `MESSAGE_LIMITS` (whole-message guards, cheapest
 * first: validation/document.ts), then `normalizeReading` (one check per field of a reading, in a
 * fixed order: validation/reading.ts); validation/compact-reading.ts answers first for the payload
 * most devices send. Validation produces readings; writing them as records is src/core/wire/'s.
 */

export interface Rejection {
  /** Index of the reading inside its message or body; null when the whole message was refused. */
  readonly index: number | null;
  readonly reason: RejectionReason;
  /** For a person: which field, which value, which limit. */
  readonly detail: string;
  /**
   * The refused reading as JSON when it is one item of a batch (its own evidence); null when the
   * whole message was refused (then the original bytes are the evidence).
   */
  readonly item: string | null;
}

export interface ValidationResult {
  readonly readings: Reading[];
  readonly rejections: Rejection[];
}

/** Where a device message came from: the tenant and device named by its topic. */
export interface DeviceOrigin {
  readonly tenant: string;
  readonly device: string;
}

// Tenant and device names: safe in topics, keys, tables and logs (core/names.ts).
export { NAME_PATTERN };

/**
 * Parses `<prefix>/<tenant>/<device>`; undefined when the topic has another shape or a name is
 * not safe (reason `bad-topic`).
 */
export function parseTelemetryTopic(topic: string, prefix: string): DeviceOrigin | undefined {
  if (topic.length <= prefix.length + 1 || !topic.startsWith(prefix) || topic[prefix.length] !== '/') return undefined;
  const rest = topic.slice(prefix.length + 1);
  const slash = rest.indexOf('/');
  if (slash < 0 || rest.indexOf('/', slash + 1) >= 0) return undefined;
  const tenant = rest.slice(0, slash);
  const device = rest.slice(slash + 1);
  if (!NAME_PATTERN.test(tenant) || !NAME_PATTERN.test(device)) return undefined;
  return { tenant, device };
}

/**
 * A device's MQTT payload: one reading, `{"readings":[...]}` or a JSON array of readings.
 * The topic names tenant and device; a payload naming another device (or tenant) is refused.
 */
export function validateDeviceMessage(
  payload: Uint8Array,
  origin: DeviceOrigin,
  ingestTime: number,
  config: ValidationConfig,
): ValidationResult {
  const reading = readCompactReading(payload, origin, ingestTime, config);
  if (reading !== undefined) return { readings: [reading], rejections: [] };
  return validateDeviceMessageInFull(payload, origin, ingestTime, config);
}

/** validateDeviceMessage without the compact fast path: every payload through JSON.parse (exported for tests). */
export function validateDeviceMessageInFull(
  payload: Uint8Array,
  origin: DeviceOrigin,
  ingestTime: number,
  config: ValidationConfig,
): ValidationResult {
  const root = parsePayload(payload, config, config.maxPayloadBytes);
  if (root instanceof Refusal) return refuseWhole(root.reason, root.detail);

  let items: unknown[];
  let batch: boolean;
  if (Array.isArray(root)) {
    items = root;
    batch = true;
  } else if (isPlainObject(root) && 'readings' in root) {
    const envelopeMismatch = checkOriginFields(root, origin);
    if (envelopeMismatch) return refuseWhole(envelopeMismatch.reason, envelopeMismatch.detail);
    if (!Array.isArray(root['readings'])) return refuseWhole('schema', "'readings' must be an array");
    items = root['readings'];
    batch = true;
  } else if (isPlainObject(root)) {
    items = [root];
    batch = false;
  } else {
    return refuseWhole('schema', `payload must be a JSON object or array, got ${describeType(root)}`);
  }

  const countProblem = checkReadingCount(items.length, config);
  if (countProblem) return refuseWhole(countProblem.reason, countProblem.detail);

  return normalizeItems(items, (item) => normalizeReading(item, origin.tenant, origin.device, ingestTime, config), batch);
}

export type GatewayBodyFormat = 'json' | 'ndjson';

/**
 * A gateway's HTTP body: a JSON array (or `{"readings":[...]}`) or NDJSON, each reading carrying
 * its `device` (and optionally `tenant`, which must be the gateway key's tenant: reason
 * `tenant-mismatch`, also on the `{"readings":[...]}` envelope). In NDJSON the body must be UTF-8
 * as a whole, then each line stands alone: a line that is not JSON or nests too deep is one rejection.
 */
export function validateGatewayBody(
  body: Uint8Array,
  format: GatewayBodyFormat,
  tenant: string,
  ingestTime: number,
  config: ValidationConfig,
  maxBodyBytes: number,
): ValidationResult {
  if (format === 'ndjson') return validateNdjson(body, tenant, ingestTime, config, maxBodyBytes);
  const root = parsePayload(body, config, maxBodyBytes);
  if (root instanceof Refusal) return refuseWhole(root.reason, root.detail);
  let items: unknown[];
  if (Array.isArray(root)) items = root;
  else if (isPlainObject(root) && Array.isArray(root['readings'])) {
    // The envelope is part of the request: naming another tenant there is refused as in an item.
    const foreign = checkNamedOrigin(root, 'tenant', tenant, 'tenant-mismatch');
    if (foreign) return refuseWhole(foreign.reason, foreign.detail);
    items = root['readings'];
  } else return refuseWhole('schema', `body must be a JSON array of readings, got ${describeType(root)}`);
  const countProblem = checkReadingCount(items.length, config);
  if (countProblem) return refuseWhole(countProblem.reason, countProblem.detail);

  return normalizeItems(items, (item) => normalizeGatewayReading(item, tenant, ingestTime, config), true);
}

/**
 * Each item on its own: one that fails is one rejection and the others go on. `batch`: a rejection
 * names the item's index and echoes it; the rejection of a lone reading (not an array) names neither.
 */
function normalizeItems(items: readonly unknown[], normalize: (item: unknown) => Reading | Failure, batch: boolean): ValidationResult {
  const readings: Reading[] = [];
  const rejections: Rejection[] = [];
  for (let index = 0; index < items.length; index++) {
    const item = items[index];
    const outcome = normalize(item);
    if (!isFailure(outcome)) readings.push(outcome);
    else if (batch) rejections.push({ index, reason: outcome.reason, detail: outcome.detail, item: safeStringify(item) });
    else rejections.push({ index: null, reason: outcome.reason, detail: outcome.detail, item: null });
  }
  return { readings, rejections };
}

function validateNdjson(
  body: Uint8Array,
  tenant: string,
  ingestTime: number,
  config: ValidationConfig,
  maxBodyBytes: number,
): ValidationResult {
  const decoded = decodeChecked(body, maxBodyBytes);
  if (!decoded.ok) return refuseWhole(decoded.reason, decoded.detail);
  const lines = decoded.value.split('\n');
  const readings: Reading[] = [];
  const rejections: Rejection[] = [];
  let index = 0;
  for (const rawLine of lines) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    // JSON's own whitespace only: a line of U+FEFF or U+00A0 (which trim() drops) is a malformed line.
    if (JSON_BLANK_LINE.test(line)) continue;
    if (index >= config.maxReadingsPerMessage) {
      return refuseWhole('too-many-readings', `more than ${config.maxReadingsPerMessage} readings in one body`);
    }
    const parsed = parseDocument(line, config, undefined);
    if (parsed instanceof Refusal) {
      rejections.push({ index, reason: parsed.reason, detail: parsed.detail, item: line });
    } else {
      const outcome = normalizeGatewayReading(parsed, tenant, ingestTime, config);
      if (isFailure(outcome)) {
        rejections.push({ index, reason: outcome.reason, detail: outcome.detail, item: line });
      } else {
        readings.push(outcome);
      }
    }
    index++;
  }
  if (index === 0) return refuseWhole('schema', 'body holds no readings');
  return { readings, rejections };
}

function refuseWhole(reason: RejectionReason, detail: string): ValidationResult {
  return { readings: [], rejections: [{ index: null, reason, detail, item: null }] };
}

function checkOriginFields(envelope: RawReading, origin: DeviceOrigin): Failure | undefined {
  return (
    checkNamedOrigin(envelope, 'device', origin.device, 'device-mismatch') ??
    checkNamedOrigin(envelope, 'tenant', origin.tenant, 'tenant-mismatch')
  );
}
