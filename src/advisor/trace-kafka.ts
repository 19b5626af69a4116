import kafkaJs from '@confluentinc/kafka-javascript';
import type { ConsumerGlobalConfig, KafkaConsumer, LibrdKafkaError, Message, TopicPartitionOffset } from '@confluentinc/kafka-javascript';
import { PipelineError, errorMessage } from '../core/errors.ts';
import { decodeRecord } from '../core/wire/decode.ts';
import { TraceBuilder, type Trace } from './trace.ts';
import { brokerList, connectionProperties, type KafkaConnection } from '../kafka/connection.ts';

/**
 * Arrival records of the readings topic over a time range, read with librdkafka's raw consumer:
 * no consumer group membership and no commits — `offsetsForTimes` turns [from, to) (Kafka record
 * timestamps, which the bridge's producer sets at ingest) into an offset range per partition, and
 * `assign` reads exactly those ranges. Ticks and undecodable records are skipped (and counted).
 */
export interface TopicRange {
  readonly connection: KafkaConnection;
  readonly topic: string;
  readonly from: number;
  readonly to: number;
  readonly timeoutMs?: number;
  /** 'broker': a reading's ingest time is its record's timestamp, as the aggregator takes it (kafka.ingestClock); absent: the bridge-written one. */
  readonly ingestClock?: 'broker' | 'bridge';
}

export interface TopicTrace {
  readonly trace: Trace;
  readonly partitions: number;
  readonly ticks: number;
  readonly undecodable: number;
}

export class AdvisorKafkaError extends PipelineError {
  constructor(message: string, context: Record<string, string | number>, cause?: unknown) {
    super('ADVISOR_KAFKA', message, { retriable: true, context, cause });
    this.name = 'AdvisorKafkaError';
  }
}

const BATCH = 10_000;

export async function readTraceFromTopic(range: TopicRange): Promise<TopicTrace> {
  if (!(range.to > range.from)) {
    throw new AdvisorKafkaError(`time range [${new Date(range.from).toISOString()}, ${new Date(range.to).toISOString()}) is empty`, { topic: range.topic });
  }
  const timeoutMs = range.timeoutMs ?? 15_000;
  const config: ConsumerGlobalConfig = {
    ...connectionProperties(range.connection),
    // librdkafka wants a group id; nothing joins it (assign) and nothing is committed.
    'group.id': `tp-advisor-${process.pid}-${Date.now().toString(36)}`,
    'client.id': 'tp-advisor',
    'enable.auto.commit': false,
    'enable.auto.offset.store': false,
    'fetch.wait.max.ms': 100,
  };
  const consumer = new kafkaJs.KafkaConsumer(config, { 'auto.offset.reset': 'earliest' });
  const context = { topic: range.topic };
  await call<unknown>((done) => consumer.connect({ timeout: timeoutMs }, done), `cannot reach ${brokerList(range.connection)}`, context);
  try {
    const partitions = await partitionCount(consumer, range.topic, timeoutMs);
    const ids = Array.from({ length: partitions }, (_, partition) => partition);
    const starts = await offsetsAt(consumer, range.topic, ids, range.from, timeoutMs);
    const ends = await offsetsAt(consumer, range.topic, ids, range.to, timeoutMs);
    const remaining = new Map<number, number>();
    for (const partition of ids) {
      const start = starts.get(partition)!;
      const end = ends.get(partition)!;
      if (end > start) remaining.set(partition, end);
    }
    const builder = new TraceBuilder(1 << 16);
    let ticks = 0;
    let undecodable = 0;
    if (remaining.size > 0) {
      consumer.assign([...remaining.keys()].map((partition) => ({ topic: range.topic, partition, offset: starts.get(partition)! })));
      consumer.setDefaultConsumeTimeout(200);
      let lastProgress = Date.now();
      while (remaining.size > 0) {
        const messages = await call<Message[]>((done) => consumer.consume(BATCH, done), 'consume failed', context);
        if (messages.length > 0) lastProgress = Date.now();
        else if (Date.now() - lastProgress > timeoutMs) {
          throw new AdvisorKafkaError(
            `no records for ${timeoutMs} ms while partitions ${[...remaining.keys()].join(',')} had not reached their end offsets`,
            context,
          );
        }
        for (const message of messages) {
          const end = remaining.get(message.partition);
          if (end === undefined || message.offset >= end) continue;
          if (message.offset + 1 >= end) remaining.delete(message.partition);
          if (message.value === null) continue;
          const decoded = decodeRecord(message.value, range.ingestClock === 'broker' ? message.timestamp : undefined);
          if (!decoded.ok) {
            undecodable++;
            continue;
          }
          if (decoded.tick !== null) ticks++;
          for (const reading of decoded.readings) {
            builder.add(reading.eventTime, reading.ingestTime, builder.deviceId(reading.device, reading.tenant), message.partition);
          }
        }
      }
    }
    return { trace: builder.build(), partitions, ticks, undecodable };
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}

async function partitionCount(consumer: KafkaConsumer, topic: string, timeoutMs: number): Promise<number> {
  const metadata = await call<{ topics: { name: string; partitions: unknown[] }[] }>(
    (done) => consumer.getMetadata({ topic, timeout: timeoutMs }, done),
    'metadata request failed',
    { topic },
  );
  const count = metadata.topics.find((candidate) => candidate.name === topic)?.partitions.length ?? 0;
  if (count === 0) throw new AdvisorKafkaError(`topic '${topic}' does not exist or has no partitions`, { topic });
  return count;
}

/** The first offset at or after `time` per partition; the end of the partition when none is. */
async function offsetsAt(consumer: KafkaConsumer, topic: string, partitions: number[], time: number, timeoutMs: number): Promise<Map<number, number>> {
  const found = await call<TopicPartitionOffset[]>(
    (done) => consumer.offsetsForTimes(partitions.map((partition) => ({ topic, partition, offset: time })), timeoutMs, done),
    `offsetsForTimes(${new Date(time).toISOString()}) failed`,
    { topic },
  );
  const out = new Map<number, number>();
  for (const partition of partitions) {
    const offset = found.find((entry) => entry.partition === partition)?.offset ?? -1;
    if (offset >= 0) {
      out.set(partition, offset);
      continue;
    }
    const watermarks = await call<{ highOffset: number }>(
      (done) => consumer.queryWatermarkOffsets(topic, partition, timeoutMs, done),
      `watermark offsets of partition ${partition} unavailable`,
      { topic, partition },
    );
    out.set(partition, watermarks.highOffset);
  }
  return out;
}

function call<T>(start: (done: (error: LibrdKafkaError | null | undefined, value: T) => void) => void, what: string, context: Record<string, string | number>): Promise<T> {
  return new Promise((resolve, reject) => {
    try {
      start((error, value) => (error ? reject(new AdvisorKafkaError(`${what}: ${error.message}`, context, error)) : resolve(value)));
    } catch (error) {
      reject(new AdvisorKafkaError(`${what}: ${errorMessage(error)}`, context, error));
    }
  });
}
