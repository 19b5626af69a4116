import { KafkaAdminError } from './admin.ts';
import type { KafkaConnection } from './connection.ts';
import { Reader, Writer } from './wire/codec.ts';
import { wireRequest } from './wire/client.ts';

/**
 * Reading and setting a topic's configuration (DescribeConfigs v1, IncrementalAlterConfigs v0)
 * over the Kafka protocol itself: the librdkafka binding in use exposes neither call. One
 * short-lived connection per call (wire/client.ts: TLS and the SASL login of kafka.security), to
 * the first bootstrap broker that answers (any broker serves topic configurations; in KRaft an
 * alteration is forwarded to the controller).
 */
const API_DESCRIBE_CONFIGS = 32;
const API_INCREMENTAL_ALTER_CONFIGS = 44;
const RESOURCE_TOPIC = 2;
const OP_SET = 0;
/** The Kafka error codes an operator meets here, by name. */
const KAFKA_ERRORS: Readonly<Record<number, string>> = {
  3: 'UNKNOWN_TOPIC_OR_PARTITION (the topic does not exist)',
  29: 'TOPIC_AUTHORIZATION_FAILED (this principal may not describe or alter the topic configuration)',
  40: 'INVALID_CONFIG',
  41: 'NOT_CONTROLLER',
  44: 'POLICY_VIOLATION',
};
const kafkaError = (code: number): string => `Kafka error ${code}${KAFKA_ERRORS[code] ? ` ${KAFKA_ERRORS[code]}` : ''}`;

/** A topic's configuration values by name (only the names asked for, when some were). */
export async function describeTopicConfig(connection: KafkaConnection, topic: string, names?: readonly string[], timeoutMs = 10_000): Promise<Map<string, string | null>> {
  const body = new Writer()
    .int32(1)
    .int8(RESOURCE_TOPIC)
    .string(topic)
    .stringArray(names ?? null)
    .int8(0); // include_synonyms
  const response = await wireRequest(connection, { apiKey: API_DESCRIBE_CONFIGS, version: 1, body: body.bytes() }, timeoutMs, `describing the configuration of topic ${topic}`);
  const reader = new Reader(response);
  reader.int32(); // throttle_time_ms
  const results = reader.int32();
  const configs = new Map<string, string | null>();
  for (let r = 0; r < results; r++) {
    const errorCode = reader.int16();
    const errorText = reader.nullableString();
    reader.int8();
    const resource = reader.nullableString();
    if (errorCode !== 0) {
      throw new KafkaAdminError(`describing the configuration of topic ${resource ?? topic} failed: ${kafkaError(errorCode)}${errorText ? ` (${errorText})` : ''}`, { topic, kafkaError: errorCode });
    }
    const count = reader.int32();
    for (let c = 0; c < count; c++) {
      const name = reader.nullableString() ?? '';
      const value = reader.nullableString();
      reader.int8(); // read_only
      reader.int8(); // config_source
      reader.int8(); // is_sensitive
      const synonyms = reader.int32();
      for (let s = 0; s < synonyms; s++) {
        reader.nullableString();
        reader.nullableString();
        reader.int8();
      }
      configs.set(name, value);
    }
  }
  return configs;
}

/** Sets the given configuration values of a topic, leaving its other values as they are. */
export async function setTopicConfig(connection: KafkaConnection, topic: string, values: Readonly<Record<string, string>>, timeoutMs = 10_000): Promise<void> {
  const entries = Object.entries(values);
  const body = new Writer().int32(1).int8(RESOURCE_TOPIC).string(topic).int32(entries.length);
  for (const [name, value] of entries) body.string(name).int8(OP_SET).string(value);
  body.int8(0); // validate_only
  const response = await wireRequest(connection, { apiKey: API_INCREMENTAL_ALTER_CONFIGS, version: 0, body: body.bytes() }, timeoutMs, `altering the configuration of topic ${topic}`);
  const reader = new Reader(response);
  reader.int32(); // throttle_time_ms
  const results = reader.int32();
  for (let r = 0; r < results; r++) {
    const errorCode = reader.int16();
    const errorText = reader.nullableString();
    if (errorCode !== 0) {
      throw new KafkaAdminError(`altering the configuration of topic ${topic} (${entries.map(([n, v]) => `${n}=${v}`).join(', ')}) failed: ${kafkaError(errorCode)}${errorText ? ` (${errorText})` : ''}`, {
        topic,
        kafkaError: errorCode,
      });
    }
    reader.int8();
    reader.nullableString();
  }
}
