import { encodeReading } from '../../src/core/wire/reading.ts';
import { encodeTick } from '../../src/core/wire/tick.ts';
import { mulberry32 } from '../../src/util/random.ts';
import { connectRawProducer } from './raw-producer.ts';
import type { KafkaConnection } from '../../src/kafka/connection.ts';

/**
 * Fills a readings topic as a fleet would have: `readings` readings over `devices` devices, each
 * reading once a second, devices spread evenly over the second, log-normal arrival delays around
 * 300 ms with a long tail (so event order differs from arrival order), then one tick per partition
 * far enough ahead to close every window. Same arguments, same records (seeded).
 * Resolves with the number of records written once Kafka acknowledged all of them.
 */
export async function fillReadingsTopic(options: {
  connection: KafkaConnection;
  topic: string;
  partitions: number;
  readings: number;
  devices: number;
  tenant: string;
}): Promise<number> {
  const { readings, devices, tenant } = options;
  const producer = await connectRawProducer(options.connection, {
    'enable.idempotence': true,
    'linger.ms': 20,
    'batch.size': 1_000_000,
    'compression.type': 'lz4',
    'queue.buffering.max.messages': 1_000_000,
    dr_cb: true,
  });
  producer.setPollInBackground(true);
  let delivered = 0;
  let failure: unknown = null;
  producer.on('delivery-report', (error) => {
    if (error) failure ??= error;
    delivered++;
  });
  const random = mulberry32(1);
  const start = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
  let lastIngest = start;
  for (let i = 0; i < readings; i++) {
    const device = `dev-${(i % devices).toString().padStart(5, '0')}`;
    const eventTime = start + Math.floor(i / devices) * 1000 + Math.floor(((i % devices) * 1000) / devices);
    const gaussian = Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
    const ingestTime = eventTime + Math.round(Math.exp(5.7 + 0.8 * gaussian));
    lastIngest = Math.max(lastIngest, ingestTime);
    const value = encodeReading({ tenant, device, id: `${device}:${i}`, eventTime, ingestTime, metrics: { temperature: Math.round(random() * 400) / 4 } });
    await produceWhenQueued(() => producer.produce(options.topic, null, Buffer.from(value), device));
  }
  for (let partition = 0; partition < options.partitions; partition++) {
    await produceWhenQueued(() => producer.produce(options.topic, partition, Buffer.from(encodeTick(lastIngest + 600_000, tenant)), null));
  }
  const total = readings + options.partitions;
  while (delivered < total && failure === null) await new Promise((resolve) => setTimeout(resolve, 50));
  producer.disconnect();
  if (failure !== null) throw new Error(`filling ${options.topic}: Kafka refused a record: ${String(failure)}`);
  return total;
}

/** produce() throws while librdkafka's queue is full: wait for deliveries to make room. */
async function produceWhenQueued(produce: () => void): Promise<void> {
  for (;;) {
    try {
      produce();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
