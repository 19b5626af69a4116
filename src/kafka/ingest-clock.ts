import type { KafkaConfig } from '../config/schema.ts';
import { PipelineError } from '../core/errors.ts';
import type { Logger } from '../util/log.ts';
import { withRetry, type RetryPolicy } from '../util/retry.ts';
import { INGEST_CLOCK_TOPIC_CONFIG } from './admin.ts';
import { describeTopicConfig } from './topic-configs.ts';
import { brokerList, type KafkaConnection } from './connection.ts';

/**
 * The aggregator's start-up check of its ingest clock (decision 0012). With `kafka.ingestClock:
 * broker` a reading's ingest time is its record's Kafka timestamp, which is the broker's only when
 * the readings topic has message.timestamp.type=LogAppendTime; on a CreateTime topic it would be
 * each bridge's clock again, silently. So a topic without it stops the aggregator with the fix in
 * the message, rather than running on clocks nobody checked.
 */
const TIMESTAMP_TYPE = 'message.timestamp.type';
const WANTED = INGEST_CLOCK_TOPIC_CONFIG[TIMESTAMP_TYPE]!;

/** Broker not answering yet (a start during a restart), or a topic just being created. */
const DESCRIBE_RETRY: RetryPolicy = { maxAttempts: Number.POSITIVE_INFINITY, initialDelayMs: 500, maxDelayMs: 5000, maxElapsedMs: 60_000 };

export class IngestClockError extends PipelineError {
  constructor(message: string, context: Record<string, string>) {
    super('INGEST_CLOCK_NOT_BROKER', message, { retriable: false, context });
    this.name = 'IngestClockError';
  }
}

/** The fix, as a command an operator can paste. */
export function ingestClockFix(connection: KafkaConnection, topic: string): string {
  // A secured cluster: the tool logs in too, as a principal allowed to alter topic configurations (not this service's).
  const login = connection.security.protocol === 'plaintext' ? '' : ' --command-config <client.properties of an admin principal>';
  return `kafka-configs.sh --bootstrap-server ${brokerList(connection)}${login} --alter --entity-type topics --entity-name ${topic} --add-config ${TIMESTAMP_TYPE}=${WANTED}`;
}

/**
 * Resolves when the configured ingest clock can be trusted; rejects with an IngestClockError when
 * the readings topic would make the bridges' clocks the ingest clock against the configuration.
 */
export async function checkIngestClock(kafka: KafkaConfig, logger: Logger, policy: RetryPolicy = DESCRIBE_RETRY): Promise<void> {
  const topic = kafka.readingsTopic;
  if (kafka.ingestClock === 'bridge') {
    logger.warn(
      { topic, ingestClock: 'bridge' },
      "ingest time is each bridge host's clock (kafka.ingestClock: bridge): a host clock that is off moves watermarks, late decisions and latency",
    );
    return;
  }
  const configs = await withRetry(() => describeTopicConfig(kafka, topic, [TIMESTAMP_TYPE]), {
    policy,
    operation: `reading ${TIMESTAMP_TYPE} of topic ${topic}`,
    onRetry: (error, attempt, delayMs) => logger.warn({ err: error, attempt, delayMs, topic }, 'topic configuration not readable yet; retrying'),
  });
  const actual = configs.get(TIMESTAMP_TYPE) ?? 'unknown';
  if (actual !== WANTED) {
    throw new IngestClockError(
      `topic ${topic} has ${TIMESTAMP_TYPE}=${actual}, so its record timestamps are the bridges' clocks, not the broker's ` +
        `(kafka.ingestClock: broker). Set it (existing records keep their timestamps): ${ingestClockFix(kafka, topic)} ` +
        `— or run 'stack up' / deploy's topics.sh, which set it; or set kafka.ingestClock: bridge to trust every bridge host's clock.`,
      { topic, [TIMESTAMP_TYPE]: actual, fix: ingestClockFix(kafka, topic) },
    );
  }
  logger.info({ topic, [TIMESTAMP_TYPE]: actual }, "ingest time is the broker's append time");
}
