import { resolve } from 'node:path';
import protobuf from 'protobufjs';
import type { CodecRuleConfig, MqttConfig } from '../../src/config/schema.ts';
import { CodecRouter, isTopicFilter, type CodecRule, type PayloadCodec } from '../../src/core/codecs/codec.ts';
import { jsonCodec, jsonRulePrefix } from '../../src/core/codecs/json.ts';
import { protobufCodec } from '../../src/core/codecs/protobuf.ts';
import { sparkplugCodec } from '../../src/core/codecs/sparkplug.ts';
import { SparkplugState, type SparkplugObserver } from '../../src/core/codecs/sparkplug-state.ts';
import { ConfigError, errorMessage } from '../../src/core/errors.ts';

/**
 * mqtt.codecs as a router: the configured rules in order, then `<topicPrefix>/+/+` as JSON. Fails
 * at start-up on a rule that cannot work (a filter that is not one, a JSON or Protobuf filter that
 * is not `<prefix>/+/+`, a .proto that does not load or a field map that does not fit it).
 */
export function buildCodecRouter(mqtt: MqttConfig, sparkplugObserver?: SparkplugObserver): CodecRouter {
  const rules: CodecRule[] = [];
  let sparkplug: PayloadCodec | undefined;
  mqtt.codecs.forEach((rule, index) => {
    const key = `mqtt.codecs[${index}]`;
    if (!isTopicFilter(rule.topic)) throw new ConfigError(`${key}.topic '${rule.topic}' is not an MQTT topic filter ('+' and '#' only as whole levels, '#' last)`, { key });
    if (rule.codec === 'sparkplug') {
      // One state for every Sparkplug rule: a node's births and data may come through either.
      sparkplug ??= sparkplugCodec(new SparkplugState(sparkplugObserver));
      rules.push({ filter: rule.topic, codec: sparkplug });
      return;
    }
    const prefix = jsonRulePrefix(rule.topic);
    if (prefix === undefined) throw new ConfigError(`${key}.topic '${rule.topic}' must be '<prefix>/+/+' for codec ${rule.codec} (the levels are tenant and device)`, { key });
    rules.push({ filter: rule.topic, codec: rule.codec === 'json' ? jsonCodec(prefix) : loadProtobuf(rule, prefix, key) });
  });
  rules.push({ filter: `${mqtt.topicPrefix}/+/+`, codec: jsonCodec(mqtt.topicPrefix) });
  return new CodecRouter(rules);
}

/** The Sparkplug state of a router, when it has a Sparkplug rule (the host side reads its summary). */
export function sparkplugStateOf(router: CodecRouter): SparkplugState | undefined {
  for (const rule of router.rules) if ('state' in rule.codec) return (rule.codec as { state: SparkplugState }).state;
  return undefined;
}

function loadProtobuf(rule: Extract<CodecRuleConfig, { codec: 'protobuf' }>, prefix: string, key: string): PayloadCodec {
  let type: protobuf.Type;
  try {
    // Field names as the .proto spells them (protobufjs would camel-case them): they are the metric names.
    const root = new protobuf.Root().loadSync(resolve(rule.protoFile), { keepCase: true });
    root.resolveAll();
    type = root.lookupType(rule.messageType);
  } catch (error) {
    throw new ConfigError(`${key}: cannot load message type '${rule.messageType}' from ${rule.protoFile}: ${errorMessage(error)}`, { key, file: rule.protoFile });
  }
  return protobufCodec(prefix, type, {
    readings: rule.readingsField,
    device: rule.deviceField,
    id: rule.idField,
    time: rule.timeField,
    metrics: rule.metricsField,
    metricFields: rule.metricFields,
  });
}
