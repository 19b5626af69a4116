import KafkaLib from '@confluentinc/kafka-javascript';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { withRetry } from '../../src/util/retry.ts';

/**
 * The MQTT leg's own audit: which acknowledged readings are not in the readings topic at all.
 * Independent of the aggregators (readings_raw is theirs), so that a loss before Kafka is told
 * apart from a loss after it.
 */
export interface KafkaAudit {
  readonly recordsRead: number;
  /** `device/id` of every acknowledged reading of the tenant absent from the topic. */
  readonly missing: string[];
}

export async function acknowledgedMissingFromTopic(brokers: readonly string[], topic: string, tenant: string, acked: ReadonlyMap<string, readonly string[]>): Promise<KafkaAudit> {
  const found = new Set<string>();
  let recordsRead = 0;
  await readWholeTopic(brokers, topic, (value) => {
    recordsRead++;
    const decoded = decodeRecord(value);
    if (!decoded.ok) return;
    for (const reading of decoded.readings) if (reading.tenant === tenant) found.add(`${reading.device}/${reading.id}`);
  });
  const missing: string[] = [];
  for (const [device, ids] of acked) for (const id of ids) if (!found.has(`${device}/${id}`)) missing.push(`${device}/${id}`);
  return { recordsRead, missing };
}

/** Every record present now (up to each partition's high watermark), handed to `onValue`. */
async function readWholeTopic(brokers: readonly string[], topic: string, onValue: (value: Buffer) => void): Promise<void> {
  const consumer = new KafkaLib.KafkaConsumer(
    { 'metadata.broker.list': brokers.join(','), 'group.id': `chaos-audit-${process.pid}-${Date.now()}`, 'enable.auto.commit': false, 'fetch.wait.max.ms': 50 },
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
    if (highs.size === 0) return;
    // Without this, consume(n) waits for n records as long as any keep coming (ticks always do).
    (consumer as unknown as { setDefaultIsTimeoutOnlyForFirstMessage(only: boolean): void }).setDefaultIsTimeoutOnlyForFirstMessage(true);
    consumer.setDefaultConsumeTimeout(1000);
    consumer.assign([...highs.keys()].map((partition) => ({ topic, partition, offset: 0 })));
    const reached = new Set<number>();
    const deadline = Date.now() + 120_000;
    while (reached.size < highs.size && Date.now() < deadline) {
      const batch = await new Promise<KafkaLib.Message[]>((resolve, reject) => consumer.consume(5000, (error, messages) => (error ? reject(error) : resolve(messages))));
      for (const message of batch) {
        if (message.value) onValue(message.value);
        if (message.offset + 1 >= highs.get(message.partition)!) reached.add(message.partition);
      }
    }
  } finally {
    await new Promise<void>((resolve) => consumer.disconnect(() => resolve()));
  }
}
