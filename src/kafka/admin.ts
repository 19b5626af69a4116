import kafkaJs from '@confluentinc/kafka-javascript';
import type { ProducerGlobalConfig } from '@confluentinc/kafka-javascript';
import type { KafkaConfig } from '../config/schema.ts';
import { PipelineError, errorMessage } from '../core/errors.ts';
import { describeTopicConfig, setTopicConfig } from './topic-configs.ts';
import { RetriesExhaustedError, withRetry, type RetryPolicy } from '../util/retry.ts';
import { brokerList, connectionProperties, kafkaJsClient, type KafkaConnection } from './connection.ts';
import { readCommittedOffsets } from './consumer.ts';

/**
 * Topic administration. Topics are created explicitly (the local brokers have auto-creation off)
 * with the configured partitions, replication factor and min.insync.replicas, so that a topic is
 * never silently created with the broker's defaults.
 */
export class KafkaAdminError extends PipelineError {
  constructor(message: string, context: Record<string, string | number>, cause?: unknown) {
    super('KAFKA_ADMIN', message, { retriable: true, context, cause });
    this.name = 'KafkaAdminError';
  }
}

export interface TopicSpec {
  readonly topic: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly config?: Readonly<Record<string, string>>;
}

/** What makes a topic's record timestamps the broker's append time rather than a producer's clock. */
export const INGEST_CLOCK_TOPIC_CONFIG: Readonly<Record<string, string>> = { 'message.timestamp.type': 'LogAppendTime' };

export function pipelineTopics(kafka: KafkaConfig): TopicSpec[] {
  const common = { replicationFactor: kafka.replicationFactor, config: { 'min.insync.replicas': String(kafka.minInsyncReplicas) } };
  return [
    // The partition leader stamps every reading: the pipeline's one ingest clock (decision 0012).
    { topic: kafka.readingsTopic, partitions: kafka.partitions, ...common, config: { ...common.config, ...INGEST_CLOCK_TOPIC_CONFIG } },
    { topic: kafka.deadLetterTopic, partitions: Math.min(kafka.partitions, 3), ...common },
    { topic: kafka.lateTopic, partitions: kafka.partitions, ...common },
  ];
}

function newAdmin(connection: KafkaConnection) {
  return kafkaJsClient(connection).admin();
}

/**
 * Creates the topics that are missing; returns the names created. An existing topic keeps its
 * partitions, but a declared setting it lacks is set (`onAltered` is told), since stacks and
 * clusters outlive the version that created their topics.
 */
export async function ensureTopics(
  connection: KafkaConnection,
  specs: readonly TopicSpec[],
  onAltered?: (topic: string, settings: Readonly<Record<string, string>>) => void,
): Promise<string[]> {
  const admin = newAdmin(connection);
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics({ timeout: 10_000 }));
    const missing = specs.filter((spec) => !existing.has(spec.topic));
    for (const spec of specs) {
      if (existing.has(spec.topic) && spec.config !== undefined) await settleTopicConfig(connection, spec.topic, spec.config, onAltered);
    }
    if (missing.length === 0) return [];
    await admin.createTopics({
      timeout: 30_000,
      topics: missing.map((spec) => ({
        topic: spec.topic,
        numPartitions: spec.partitions,
        replicationFactor: spec.replicationFactor,
        configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    await untilUsable(connection, missing);
    return missing.map((spec) => spec.topic);
  } catch (error) {
    throw new KafkaAdminError(`creating topics on ${brokerList(connection)} failed: ${errorMessage(error)}`, {
      brokers: brokerList(connection),
    }, error);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * A freshly started broker answers CreateTopics before its own metadata lists the topic (about a
 * second here), and a client connecting then — a bridge checking its topics at start — is told the
 * topic does not exist. So creation ends when fresh clients see every partition with a leader.
 */
async function untilUsable(connection: KafkaConnection, specs: readonly TopicSpec[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = specs;
  for (;;) {
    const metadata = await fetchMetadata(connection, 5000);
    pending = pending.filter((spec) => (metadata.ledPartitions.get(spec.topic) ?? 0) < spec.partitions);
    if (pending.length === 0) return;
    if (Date.now() >= deadline) {
      throw new KafkaAdminError(`topics created but not usable within ${timeoutMs} ms: ${pending.map((spec) => spec.topic).join(', ')} (no leader for some partitions)`, {
        topics: pending.map((spec) => spec.topic).join(','),
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function settleTopicConfig(
  connection: KafkaConnection,
  topic: string,
  declared: Readonly<Record<string, string>>,
  onAltered?: (topic: string, settings: Readonly<Record<string, string>>) => void,
): Promise<void> {
  const current = await describeTopicConfig(connection, topic, Object.keys(declared));
  const differing = Object.fromEntries(Object.entries(declared).filter(([name, value]) => current.get(name) !== value));
  if (Object.keys(differing).length === 0) return;
  await setTopicConfig(connection, topic, differing);
  onAltered?.(topic, differing);
}

export async function deleteTopics(connection: KafkaConnection, topics: readonly string[]): Promise<void> {
  const admin = newAdmin(connection);
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics({ timeout: 10_000 }));
    const present = topics.filter((topic) => existing.has(topic));
    if (present.length > 0) await admin.deleteTopics({ topics: present, timeout: 30_000 });
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Cluster metadata through a short-lived raw client: brokers and each topic's partition count. */
export function fetchMetadata(
  connection: KafkaConnection,
  timeoutMs = 5000,
): Promise<{ brokers: number[]; topics: Map<string, number>; ledPartitions: Map<string, number> }> {
  const config: ProducerGlobalConfig = { ...connectionProperties(connection), log_level: 0 };
  const client = new kafkaJs.Producer(config);
  // disconnect() flushes, and flush() throws when the client never connected (Kafka down).
  const release = (): void => {
    if (client.isConnected()) client.disconnect();
  };
  return new Promise((resolve, reject) => {
    client.once('event.error', (error: unknown) => {
      release();
      reject(new KafkaAdminError(`Kafka metadata from ${brokerList(connection)} failed: ${errorMessage(error)}`, { brokers: brokerList(connection) }, error));
    });
    client.connect({ timeout: timeoutMs }, (error: unknown, metadata: any) => {
      release();
      if (error) {
        reject(new KafkaAdminError(`Kafka did not answer on ${brokerList(connection)}: ${errorMessage(error)}`, { brokers: brokerList(connection) }, error));
        return;
      }
      const topics = metadata.topics as { name: string; partitions: { leader: number }[] }[];
      resolve({
        brokers: (metadata.brokers as { id: number }[]).map((broker) => broker.id),
        topics: new Map(topics.map((t) => [t.name, t.partitions.length])),
        ledPartitions: new Map(topics.map((t) => [t.name, t.partitions.filter((partition) => partition.leader >= 0).length])),
      });
    });
  });
}

/**
 * How far a consumer group has committed on a topic: the sum over partitions of the committed
 * offsets (a partition never committed counts as 0) and of the end offsets. A group that has
 * processed everything durable shows committed = end.
 */
export async function groupProgress(connection: KafkaConnection, groupId: string, topic: string): Promise<{ committed: number; end: number }> {
  const admin = newAdmin(connection);
  await admin.connect();
  let ends: { partition: number; high: string }[];
  try {
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
  const committed = await committedOffsets(connection, groupId, topic, ends.map((entry) => entry.partition));
  return {
    committed: [...committed.values()].reduce<number>((sum, offset) => sum + (offset ?? 0), 0),
    end: ends.reduce((sum, entry) => sum + Number(entry.high), 0),
  };
}

/**
 * The group's committed offset per partition (null: none), read by a consumer of the group that
 * never subscribes, so it joins nothing. Not the admin API's ListConsumerGroupOffsets: in
 * librdkafka 2.0.2 (Debian's) an admin client answered NOT_COORDINATOR — a fresh cluster still
 * creating __consumer_offsets, a coordinator moving — dereferences a null consumer group and
 * crashes the process (SIGSEGV in rd_kafka_cgrp_op); a consumer has its group and looks the
 * coordinator up again.
 */
async function committedOffsets(connection: KafkaConnection, groupId: string, topic: string, partitions: readonly number[]): Promise<Map<number, number | null>> {
  const consumer = new kafkaJs.KafkaConsumer({ ...connectionProperties(connection), 'group.id': groupId, 'enable.auto.commit': false }, {});
  await new Promise<void>((resolve, reject) => {
    consumer.connect({ timeout: 10_000 }, (error) => (error ? reject(new KafkaAdminError(`connecting to read group ${groupId}'s offsets failed: ${error.message}`, { group: groupId, brokers: brokerList(connection) }, error)) : resolve()));
  });
  try {
    // While the coordinator is elected or loaded (COORDINATOR_LOAD_IN_PROGRESS, _NOT_AVAILABLE, NOT_COORDINATOR) it is asked again.
    return await withRetry(() => readCommittedOffsets(consumer, topic, partitions, 10_000), {
      policy: COORDINATOR_WAIT,
      operation: `reading group ${groupId}'s committed offsets`,
      shouldRetry: (error) => COORDINATOR_MOVING.has((error as { code?: number }).code ?? 0),
    });
  } catch (error) {
    // Out of budget, the message already names the operation and the attempts.
    const message = error instanceof RetriesExhaustedError ? error.message : `reading group ${groupId}'s committed offsets failed: ${errorMessage(error)}`;
    throw new KafkaAdminError(message, { group: groupId, topic }, error);
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}

/** librdkafka's codes for a group coordinator that is loading, unknown or has just moved. */
const COORDINATOR_MOVING = new Set([14, 15, 16]);
const COORDINATOR_WAIT: RetryPolicy = { maxAttempts: 100, initialDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 15_000 };
