import kafkaJs from '@confluentinc/kafka-javascript';
import { connectionProperties, type KafkaConnection } from '../../src/kafka/connection.ts';

/**
 * A connected raw librdkafka producer (the callback API), for tests and benchmarks that write
 * records straight to Kafka: `settings` are librdkafka's, beside the connection's properties.
 */
export async function connectRawProducer(connection: KafkaConnection, settings: Record<string, unknown>): Promise<kafkaJs.Producer> {
  const producer = new kafkaJs.Producer({ ...connectionProperties(connection), ...settings } as never);
  await new Promise<void>((resolve, reject) => {
    producer.once('ready', () => resolve());
    producer.once('event.error', reject);
    producer.connect();
  });
  return producer;
}
