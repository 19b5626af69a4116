import KafkaLib from '@confluentinc/kafka-javascript';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { withRetry } from '../../src/util/retry.ts';

/**
 * What reached Kafka: the audit of every check that makes a refused attempt carry reading ids.
 * The run's topics have one partition, so a reading the bridge acknowledged after an attempt was
 * produced after it too: once the acknowledged control reading is in the topic, a wrongly written
 * attempt would be there as well. No waiting on time anywhere.
 */

/** `tenant/device/id` of every reading in `topic` now (up to the high watermarks). */
export async function readingKeys(brokers: readonly string[], topic: string): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const value of await topicValues(brokers, topic)) {
    const decoded = decodeRecord(value);
    if (!decoded.ok) continue;
    for (const reading of decoded.readings) keys.add(readingKey(reading.tenant, reading.device, reading.id));
  }
  return keys;
}

export function readingKey(tenant: string, device: string, id: string): string {
  return `${tenant}/${device}/${id}`;
}

/** Every record value present in `topic` now (up to each partition's high watermark). */
export async function topicValues(brokers: readonly string[], topic: string): Promise<Buffer[]> {
  const consumer = new KafkaLib.KafkaConsumer(
    { 'metadata.broker.list': brokers.join(','), 'group.id': `security-audit-${process.pid}-${Date.now()}`, 'enable.auto.commit': false, 'fetch.wait.max.ms': 50 },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise<void>((resolve, reject) => consumer.connect({ timeout: 10_000 }, (error) => (error ? reject(error) : resolve())));
  try {
    const metadata = await new Promise<KafkaLib.Metadata>((resolve, reject) => consumer.getMetadata({ topic, timeout: 10_000 }, (error, data) => (error ? reject(error) : resolve(data))));
    const partitions = metadata.topics.find((candidate) => candidate.name === topic)?.partitions.map((partition) => partition.id) ?? [];
    const highs = new Map<number, number>();
    for (const partition of partitions) {
      const offsets = await withRetry(
        () => new Promise<KafkaLib.WatermarkOffsets>((resolve, reject) => consumer.queryWatermarkOffsets(topic, partition, 10_000, (error, data) => (error ? reject(error) : resolve(data)))),
        { policy: { maxAttempts: 30, initialDelayMs: 250, maxDelayMs: 2000, maxElapsedMs: 60_000 }, operation: `high watermark of ${topic}/${partition}`, shouldRetry: () => true },
      );
      if (offsets.highOffset > offsets.lowOffset) highs.set(partition, offsets.highOffset);
    }
    if (highs.size === 0) return [];
    // Without this, consume(n) waits for n records as long as any keep coming (ticks always do).
    (consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(only: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    consumer.setDefaultConsumeTimeout(1000);
    consumer.assign([...highs.keys()].map((partition) => ({ topic, partition, offset: 0 })));
    const values: Buffer[] = [];
    const reached = new Set<number>();
    const deadline = Date.now() + 60_000;
    while (reached.size < highs.size && Date.now() < deadline) {
      const batch = await new Promise<KafkaLib.Message[]>((resolve, reject) => consumer.consume(5000, (error, messages) => (error ? reject(error) : resolve(messages))));
      for (const message of batch) {
        if (message.value) values.push(message.value);
        if (message.offset + 1 >= highs.get(message.partition)!) reached.add(message.partition);
      }
    }
    if (reached.size < highs.size) throw new Error(`reading ${topic} did not reach its high watermarks within 60 s`);
    return values;
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}
