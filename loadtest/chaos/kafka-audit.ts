import { decodeRecord } from '../../src/core/wire/decode.ts';
import { readWholeTopic } from '../support/read-topic.ts';
import type { KafkaConnection } from '../../src/kafka/connection.ts';

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

export async function acknowledgedMissingFromTopic(connection: KafkaConnection, topic: string, tenant: string, acked: ReadonlyMap<string, readonly string[]>): Promise<KafkaAudit> {
  const found = new Set<string>();
  let recordsRead = 0;
  // Falling short of the high watermarks is not an error here: the ids not read count as missing.
  await readWholeTopic(connection, topic, (message) => {
    if (message.value === null) return;
    recordsRead++;
    const decoded = decodeRecord(message.value);
    if (!decoded.ok) return;
    for (const reading of decoded.readings) if (reading.tenant === tenant) found.add(`${reading.device}/${reading.id}`);
  }, { groupPrefix: 'chaos-audit', timeoutMs: 120_000 });
  const missing: string[] = [];
  for (const [device, ids] of acked) for (const id of ids) if (!found.has(`${device}/${id}`)) missing.push(`${device}/${id}`);
  return { recordsRead, missing };
}
