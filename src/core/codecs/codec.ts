import type { ValidationLimits } from '../validation-limits.ts';
import type { RejectionReason } from '../readings.ts';
import type { ValidationResult } from '../validation.ts';

/**
 * The payload codec contract: a codec turns one MQTT message (topic and bytes) into validated
 * readings and refusals with reasons, the same `ValidationResult` the JSON validator produces, so
 * that one encoder (src/core/wire/) writes every reading to Kafka whatever the
 * device spoke. Pure: no I/O, no clock (the ingest time comes in the context). Every codec runs
 * the shared contract suite (test/unit/codec-contract.ts).
 */

/** Who a topic says sent a message: the tenant, and the device (or Sparkplug edge node) the account must own. */
export interface TopicScope {
  readonly tenant: string;
  /** The device an account must be (or a gateway account `*` of the tenant may stand for). */
  readonly device: string;
}

export type ScopeResult = { readonly ok: true; readonly scope: TopicScope } | { readonly ok: false; readonly reason: RejectionReason; readonly detail: string };

export interface DecodeContext {
  /** The scope the codec's own `scope(topic)` gave, already checked against the account. */
  readonly scope: TopicScope;
  readonly ingestTime: number;
  readonly validation: ValidationLimits;
}

export interface PayloadCodec {
  /** The codec's name in configuration, metrics and dead-letter details. */
  readonly name: string;
  /** Every refusal reason decode() may give (the contract suite proves each one reachable). */
  readonly reasons: readonly RejectionReason[];
  /** The tenant and device a topic names, or why the topic is not one of this codec's (`bad-topic`). */
  scope(topic: string): ScopeResult;
  /** Never throws: whatever the bytes, readings and refusals. */
  decode(topic: string, bytes: Uint8Array, context: DecodeContext): ValidationResult;
}

/** A whole-message refusal as a ValidationResult. */
export function refuseMessage(reason: RejectionReason, detail: string): ValidationResult {
  return { readings: [], rejections: [{ index: null, reason, detail, item: null }] };
}

/**
 * Whether an MQTT topic matches a filter (`+` one level, `#` the rest, MQTT 5 §4.7); topics
 * starting with `$` match no filter starting with a wildcard (§4.7.2).
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i]!;
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** A well-formed MQTT topic filter: `#` only as the last level, wildcards only as whole levels. */
export function isTopicFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => (level === '#' ? i === levels.length - 1 : level === '+' || !/[+#]/.test(level)));
}

export interface CodecRule {
  readonly filter: string;
  readonly codec: PayloadCodec;
}

/**
 * Ordered topic rules, first match wins (as Strimzi's MQTT bridge maps topics to Kafka topics).
 * A topic no rule matches has no codec: the message is refused as `bad-topic`.
 */
export class CodecRouter {
  constructor(readonly rules: readonly CodecRule[]) {}

  codecFor(topic: string): PayloadCodec | undefined {
    for (const rule of this.rules) if (topicMatches(rule.filter, topic)) return rule.codec;
    return undefined;
  }

  /** The codec of a topic and the scope it names, or the refusal of the topic. */
  route(topic: string): { readonly ok: true; readonly codec: PayloadCodec; readonly scope: TopicScope } | { readonly ok: false; readonly reason: RejectionReason; readonly detail: string } {
    const codec = this.codecFor(topic);
    if (codec === undefined) return { ok: false, reason: 'bad-topic', detail: `no codec rule (mqtt.codecs) matches the topic` };
    const scoped = codec.scope(topic);
    return scoped.ok ? { ok: true, codec, scope: scoped.scope } : scoped;
  }
}
