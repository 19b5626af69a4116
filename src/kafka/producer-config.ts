import type { ProducerGlobalConfig, ProducerTopicConfig } from '@confluentinc/kafka-javascript';
import type { RetryPolicy } from '../util/retry.ts';
import type { Logger } from '../util/log.ts';
import { connectionProperties, type KafkaConnection } from './connection.ts';

/**
 * librdkafka's producer properties as the library types them. Topic properties (`acks`,
 * `message.timeout.ms`, `partitioner`) given at the top level become the default topic
 * configuration, which is how they are set here.
 */
export type ProducerConfig = ProducerGlobalConfig & ProducerTopicConfig;

export interface ProducerObserver {
  /** Every error librdkafka reports (event or delivery), by its librdkafka code name. */
  kafkaError?(code: string, fatal: boolean): void;
  /** The librdkafka instance was replaced; `failed` records in flight were failed as indefinite. */
  recreated?(reason: string, failed: number): void;
  /** Kafka became reachable (a delivery, a connect) or unreachable (all brokers down, re-creating). */
  availabilityChanged?(available: boolean, reason: string): void;
  /** A record waited for room in librdkafka's queue and is retried locally. */
  queueFullRetry?(): void;
  /** A (re)connect attempt failed and will be retried. */
  connectRetry?(attempt: number, delayMs: number, error: unknown): void;
  /**
   * A sampled record (see clockProbeIntervalMs): handed over at local `sentAt`, reported at local
   * `deliveredAt`, with the timestamp the broker gave it (its append time on a LogAppendTime topic).
   */
  clockSample?(sentAt: number, deliveredAt: number, brokerTime: number): void;
}

export interface ProducerOptions {
  /** Brokers and kafka.security: the one way every client connects. */
  readonly connection: KafkaConnection;
  readonly clientId: string;
  /** librdkafka `message.timeout.ms`: past it a record's outcome is indefinite. */
  readonly deliveryTimeoutMs: number;
  readonly logger: Logger;
  readonly observer?: ProducerObserver;
  /** librdkafka `linger.ms`: a little latency buys batches. */
  readonly lingerMs?: number;
  readonly compression?: 'lz4' | 'zstd' | 'snappy' | 'gzip' | 'none';
  /** librdkafka's own queue (`queue.buffering.max.messages`); past it produce() meets "queue full". */
  readonly maxQueuedMessages?: number;
  /** Records waiting locally for room in librdkafka's queue; past it a send fails at once. */
  readonly maxBacklog?: number;
  readonly connectTimeoutMs?: number;
  /** How (re)connecting is retried; by default without end until close(). */
  readonly connectPolicy?: RetryPolicy;
  /** librdkafka `acks` (default 'all'); anything else gives up durability on a leader change. */
  readonly acks?: 'all' | '1' | '0';
  /** librdkafka `enable.idempotence` (default true; needs acks 'all'). */
  readonly idempotence?: boolean;
  /** Extra librdkafka properties (for example `transactional.id`); they override the defaults. */
  readonly librdkafka?: Readonly<ProducerConfig>;
  /** How often one record is timed for observer.clockSample (0 or absent: never). */
  readonly clockProbeIntervalMs?: number;
}

export const DEFAULT_CONNECT_POLICY: RetryPolicy = {
  maxAttempts: Number.POSITIVE_INFINITY,
  initialDelayMs: 250,
  maxDelayMs: 5000,
  maxElapsedMs: Number.POSITIVE_INFINITY,
};

/** librdkafka's `acks` is a number: -1 is "all" (the in-sync replicas). */
const ACKS: Readonly<Record<NonNullable<ProducerOptions['acks']>, number>> = { all: -1, '1': 1, '0': 0 };

export function librdkafkaConfig(options: ProducerOptions): ProducerConfig {
  return {
    ...connectionProperties(options.connection),
    'client.id': options.clientId,
    dr_cb: true,
    'enable.idempotence': options.idempotence ?? true,
    acks: ACKS[options.acks ?? 'all'],
    'compression.type': options.compression ?? 'lz4',
    'linger.ms': options.lingerMs ?? 5,
    'batch.size': 1_000_000,
    'batch.num.messages': 10_000,
    'queue.buffering.max.messages': options.maxQueuedMessages ?? 500_000,
    'queue.buffering.max.kbytes': 1_048_576,
    'message.timeout.ms': options.deliveryTimeoutMs,
    'request.timeout.ms': Math.min(30_000, Math.max(1000, Math.floor(options.deliveryTimeoutMs / 2))),
    'socket.keepalive.enable': true,
    // Same key → same partition as the Java client, so that other producers agree on placement.
    partitioner: 'murmur2_random',
    ...options.librdkafka,
  };
}
