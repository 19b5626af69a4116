import kafkaJs from '@confluentinc/kafka-javascript';

/**
 * A connected raw librdkafka producer (the callback API), for tests and benchmarks that write
 * records straight to Kafka: `settings` are librdkafka's, beside the broker list.
 */
export async function connectRawProducer(brokers: readonly string[], settings: Record<string, unknown>): Promise<kafkaJs.Producer> {
  const producer = new kafkaJs.Producer({ 'metadata.broker.list': brokers.join(','), ...settings } as never);
  await new Promise<void>((resolve, reject) => {
    producer.once('ready', () => resolve());
    producer.once('event.error', reject);
    producer.connect();
  });
  return producer;
}
