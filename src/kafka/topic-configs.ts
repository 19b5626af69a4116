import { Socket } from 'node:net';
import { errorMessage } from '../core/errors.ts';
import { KafkaAdminError } from './admin.ts';

/**
 * Reading and setting a topic's configuration (DescribeConfigs v1, IncrementalAlterConfigs v0)
 * over the Kafka protocol itself: the librdkafka binding in use exposes neither call. Plaintext
 * only, like every other Kafka client of this pipeline; one short-lived connection per call, to
 * the first bootstrap broker that answers (any broker serves topic configurations; in KRaft an
 * alteration is forwarded to the controller).
 */
const API_DESCRIBE_CONFIGS = 32;
const API_INCREMENTAL_ALTER_CONFIGS = 44;
const RESOURCE_TOPIC = 2;
const OP_SET = 0;
const CLIENT_ID = 'telemetry-pipeline-admin';
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
export async function describeTopicConfig(brokers: readonly string[], topic: string, names?: readonly string[], timeoutMs = 10_000): Promise<Map<string, string | null>> {
  const body = new Writer()
    .int32(1)
    .int8(RESOURCE_TOPIC)
    .string(topic)
    .stringArray(names ?? null)
    .int8(0); // include_synonyms
  const response = await request(brokers, API_DESCRIBE_CONFIGS, 1, body.bytes(), timeoutMs, `describing the configuration of topic ${topic}`);
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
export async function setTopicConfig(brokers: readonly string[], topic: string, values: Readonly<Record<string, string>>, timeoutMs = 10_000): Promise<void> {
  const entries = Object.entries(values);
  const body = new Writer().int32(1).int8(RESOURCE_TOPIC).string(topic).int32(entries.length);
  for (const [name, value] of entries) body.string(name).int8(OP_SET).string(value);
  body.int8(0); // validate_only
  const response = await request(brokers, API_INCREMENTAL_ALTER_CONFIGS, 0, body.bytes(), timeoutMs, `altering the configuration of topic ${topic}`);
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

/** Sends one request to the first broker that answers; resolves with the response body (after the correlation id). */
async function request(brokers: readonly string[], apiKey: number, version: number, body: Buffer, timeoutMs: number, operation: string): Promise<Buffer> {
  let lastError: unknown;
  for (const broker of brokers) {
    try {
      return await requestOne(broker, apiKey, version, body, timeoutMs);
    } catch (error) {
      lastError = error;
    }
  }
  throw new KafkaAdminError(`${operation} failed: no broker of ${brokers.join(',')} answered (${errorMessage(lastError)})`, { brokers: brokers.join(',') }, lastError);
}

function requestOne(broker: string, apiKey: number, version: number, body: Buffer, timeoutMs: number): Promise<Buffer> {
  const colon = broker.lastIndexOf(':');
  const host = broker.slice(0, colon);
  const port = Number(broker.slice(colon + 1));
  const correlationId = 1;
  const header = new Writer().int16(apiKey).int16(version).int32(correlationId).string(CLIENT_ID).bytes();
  const frame = Buffer.concat([Buffer.alloc(4), header, body]);
  frame.writeInt32BE(frame.length - 4, 0);
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let received = Buffer.alloc(0);
    const done = (error: Error | null, result?: Buffer): void => {
      socket.destroy();
      if (error) reject(error);
      else resolve(result!);
    };
    socket.setTimeout(timeoutMs, () => done(new Error(`no answer from ${broker} within ${timeoutMs} ms`)));
    socket.once('error', (error) => done(error));
    socket.once('close', () => done(new Error(`${broker} closed the connection (an unsupported request version is answered that way)`)));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const size = received.readInt32BE(0);
      if (received.length < 4 + size) return;
      if (received.readInt32BE(4) !== correlationId) {
        done(new Error(`${broker} answered another request`));
        return;
      }
      done(null, received.subarray(8, 4 + size));
    });
    socket.connect(port, host, () => socket.write(frame));
  });
}

class Writer {
  private readonly parts: Buffer[] = [];
  int8(value: number): this {
    const b = Buffer.alloc(1);
    b.writeInt8(value);
    this.parts.push(b);
    return this;
  }
  int16(value: number): this {
    const b = Buffer.alloc(2);
    b.writeInt16BE(value);
    this.parts.push(b);
    return this;
  }
  int32(value: number): this {
    const b = Buffer.alloc(4);
    b.writeInt32BE(value);
    this.parts.push(b);
    return this;
  }
  string(value: string): this {
    const bytes = Buffer.from(value, 'utf8');
    this.int16(bytes.length);
    this.parts.push(bytes);
    return this;
  }
  stringArray(values: readonly string[] | null): this {
    if (values === null) return this.int32(-1);
    this.int32(values.length);
    for (const value of values) this.string(value);
    return this;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

class Reader {
  private at = 0;
  constructor(private readonly buffer: Buffer) {}
  int8(): number {
    return this.buffer.readInt8(this.advance(1));
  }
  int16(): number {
    return this.buffer.readInt16BE(this.advance(2));
  }
  int32(): number {
    return this.buffer.readInt32BE(this.advance(4));
  }
  nullableString(): string | null {
    const length = this.int16();
    if (length < 0) return null;
    const start = this.advance(length);
    return this.buffer.toString('utf8', start, start + length);
  }
  private advance(bytes: number): number {
    const start = this.at;
    if (start + bytes > this.buffer.length) throw new RangeError(`Kafka response truncated at byte ${start}`);
    this.at += bytes;
    return start;
  }
}
