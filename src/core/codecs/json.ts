import { JSON_REJECTION_REASONS } from '../readings.ts';
import { parseTelemetryTopic, validateDeviceMessage } from '../validation.ts';
import type { PayloadCodec, ScopeResult } from './codec.ts';

/**
 * The JSON codec: `<prefix>/<tenant>/<device>` topics, payloads as validation.ts documents them
 * (the compact fast path first, then the full rules). The topic prefix is the rule's own: a rule
 * `plant/+/+` reads `plant/<tenant>/<device>`.
 */
export function jsonCodec(prefix: string): PayloadCodec {
  return {
    name: 'json',
    reasons: JSON_REJECTION_REASONS,
    scope(topic: string): ScopeResult {
      const origin = parseTelemetryTopic(topic, prefix);
      if (origin === undefined) return { ok: false, reason: 'bad-topic', detail: `topic is not ${prefix}/<tenant>/<device> with safe names` };
      return { ok: true, scope: origin };
    },
    decode(_topic, bytes, context) {
      return validateDeviceMessage(bytes, context.scope, context.ingestTime, context.validation);
    },
  };
}

/** The prefix a JSON rule's filter reads (`telemetry/+/+` → `telemetry`), or undefined when the filter is not `<prefix>/+/+`. */
export function jsonRulePrefix(filter: string): string | undefined {
  if (!filter.endsWith('/+/+')) return undefined;
  const prefix = filter.slice(0, -4);
  return prefix.length > 0 && !/[+#]/.test(prefix) ? prefix : undefined;
}
