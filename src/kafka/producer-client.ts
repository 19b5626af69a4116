import KafkaLib from '@confluentinc/kafka-javascript';
import type { DeliveryReport, LibrdKafkaError, Metadata } from '@confluentinc/kafka-javascript';
import { errorMessage } from '../core/errors.ts';
import { KafkaProduceError } from './produce-error.ts';
import type { ProducerConfig } from './producer-config.ts';

/** One librdkafka producer instance (the raw API); KafkaProducer replaces it when it is no longer trusted. */
export type RdProducer = InstanceType<typeof KafkaLib.Producer>;

export interface ClientHandlers {
  /** `client` tells which instance spoke: a replaced one may still report. */
  onEventError(client: RdProducer, error: LibrdKafkaError): void;
  onDeliveryReport(error: LibrdKafkaError | null, report: DeliveryReport): void;
}

/** A connected instance with its handlers attached, or KAFKA_NOT_READY (retriable). */
export async function openClient(config: ProducerConfig, connectTimeoutMs: number, handlers: ClientHandlers): Promise<RdProducer> {
  const client = new KafkaLib.Producer(config);
  client.on('event.error', (error: LibrdKafkaError) => handlers.onEventError(client, error));
  client.on('delivery-report', handlers.onDeliveryReport);
  try {
    await new Promise<void>((resolve, reject) => client.connect({ timeout: connectTimeoutMs }, (error) => (error ? reject(error) : resolve())));
  } catch (error) {
    client.removeAllListeners();
    throw new KafkaProduceError('KAFKA_NOT_READY', `producer could not connect: ${errorMessage(error)}`, { retriable: true, cause: error });
  }
  return client;
}

export function disconnect(client: RdProducer, flushTimeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    try {
      client.disconnect(flushTimeoutMs, () => resolve());
    } catch {
      resolve(); // never connected: nothing to release
    }
  });
}

/**
 * Resolves when a broker answers a metadata request for the topics this client knows (none: the
 * brokers only), issued now; rejects when none answers within `timeoutMs`.
 */
export function answersMetadata(client: RdProducer, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) =>
    client.getMetadata({ allTopics: false, timeout: timeoutMs }, (error) => (error ? reject(error) : resolve())),
  );
}

/** Number of partitions of `topic`, from the cluster's metadata. */
export async function topicPartitionCount(client: RdProducer, topic: string, timeoutMs: number): Promise<number> {
  const metadata = await new Promise<Metadata>((resolve, reject) =>
    client.getMetadata({ topic, timeout: timeoutMs }, (error, data) => (error ? reject(error) : resolve(data))),
  ).catch((error: unknown) => {
    throw new KafkaProduceError('KAFKA_METADATA', `metadata for ${topic} failed: ${errorMessage(error)}`, {
      retriable: true,
      context: { topic },
      cause: error,
    });
  });
  const partitions = metadata.topics.find((candidate) => candidate.name === topic)?.partitions.length ?? 0;
  if (partitions === 0) {
    throw new KafkaProduceError('KAFKA_METADATA', `topic ${topic} does not exist (auto creation is off)`, {
      retriable: true,
      context: { topic },
    });
  }
  return partitions;
}
