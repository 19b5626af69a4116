import { decodeRecord } from '../../src/core/wire/decode.ts';
import { readWholeTopic } from '../support/read-topic.ts';
import type { KafkaConnection } from '../../src/kafka/connection.ts';

/**
 * What reached Kafka: the audit of every check that makes a refused attempt carry reading ids.
 * The run's topics have one partition, so a reading the bridge acknowledged after an attempt was
 * produced after it too: once the acknowledged control reading is in the topic, a wrongly written
 * attempt would be there as well. No waiting on time anywhere.
 */

/** `tenant/device/id` of every reading in `topic` now (up to the high watermarks). */
export async function readingKeys(connection: KafkaConnection, topic: string): Promise<Set<string>> {
  const keys = new Set<string>();
  for (const value of await topicValues(connection, topic)) {
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
export async function topicValues(connection: KafkaConnection, topic: string): Promise<Buffer[]> {
  const values: Buffer[] = [];
  const complete = await readWholeTopic(connection, topic, (message) => {
    if (message.value) values.push(message.value);
  }, { groupPrefix: 'security-audit', timeoutMs: 60_000 });
  if (!complete) throw new Error(`reading ${topic} did not reach its high watermarks within 60 s`);
  return values;
}
