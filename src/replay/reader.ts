import kafkaJs from '@confluentinc/kafka-javascript';
import type { ConsumerGlobalConfig, KafkaConsumer, Message } from '@confluentinc/kafka-javascript';
import { errorMessage } from '../core/errors.ts';
import { KafkaConsumerError } from '../kafka/consumer.ts';
import { brokerList, connectionProperties, type KafkaConnection } from '../kafka/connection.ts';

/**
 * A reader of chosen partitions from chosen offsets, outside any consumer group's life: partitions
 * are assigned by hand (no subscribe, so no group join and no rebalance of the live group), and
 * nothing is ever committed. librdkafka wants a group id even so; it is the caller's own.
 */
export interface PartitionReaderOptions {
  readonly connection: KafkaConnection;
  readonly topic: string;
  readonly groupId: string;
  readonly clientId: string;
  readonly isolation: 'read_committed' | 'read_uncommitted';
}

/** A partition read to its end: `offset` is the end (the next offset a record would get). */
export interface PartitionEnd {
  readonly partition: number;
  readonly offset: number;
}

const TIMEOUT_MS = 10_000;

export class PartitionReader {
  private readonly consumer: KafkaConsumer;
  private readonly ends: PartitionEnd[] = [];

  constructor(private readonly options: PartitionReaderOptions) {
    const config: ConsumerGlobalConfig = {
      ...connectionProperties(options.connection),
      'group.id': options.groupId,
      'client.id': options.clientId,
      'enable.auto.commit': false,
      'enable.auto.offset.store': false,
      'isolation.level': options.isolation,
      'enable.partition.eof': true,
      'fetch.wait.max.ms': 100,
    };
    this.consumer = new kafkaJs.KafkaConsumer(config, { 'auto.offset.reset': 'earliest' });
    this.consumer.on('partition.eof', (eof: { partition: number; offset: number }) => {
      this.ends.push({ partition: eof.partition, offset: eof.offset });
    });
  }

  connect(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.consumer.connect({ timeout: TIMEOUT_MS }, (error) => {
        if (error) reject(this.error('KAFKA_CONNECT', `replay reader could not reach ${brokerList(this.options.connection)}: ${error.message}`, error));
        else resolve();
      });
    });
  }

  /** The log start and end offsets of a partition. */
  watermarks(partition: number): Promise<{ low: number; high: number }> {
    return new Promise((resolve, reject) => {
      this.consumer.queryWatermarkOffsets(this.options.topic, partition, TIMEOUT_MS, (error, offsets) => {
        if (error) reject(this.error('KAFKA_WATERMARKS', `offsets of partition ${partition} unknown: ${error.message}`, error));
        else resolve({ low: offsets.lowOffset, high: offsets.highOffset });
      });
    });
  }

  /** Per partition, the first offset whose record timestamp is at or after `ms`; null when no record is. */
  offsetsForTime(partitions: readonly number[], ms: number): Promise<Map<number, number | null>> {
    return new Promise((resolve, reject) => {
      const request = partitions.map((partition) => ({ topic: this.options.topic, partition, offset: ms }));
      this.consumer.offsetsForTimes(request, TIMEOUT_MS, (error, offsets) => {
        if (error) {
          reject(this.error('KAFKA_OFFSETS_FOR_TIMES', `offsets for ${new Date(ms).toISOString()} unknown: ${error.message}`, error));
          return;
        }
        resolve(new Map(offsets.map((entry) => [entry.partition, entry.offset >= 0 ? entry.offset : null])));
      });
    });
  }

  assign(starts: ReadonlyMap<number, number>): void {
    this.consumer.assign([...starts].map(([partition, offset]) => ({ topic: this.options.topic, partition, offset })));
    this.consumer.setDefaultConsumeTimeout(200);
  }

  /** Stops fetching a partition that is done. */
  pause(partition: number): void {
    this.consumer.pause([{ topic: this.options.topic, partition }]);
  }

  /** Up to `max` messages, and the partitions that reached their end since the last call. */
  consume(max: number): Promise<{ messages: Message[]; ends: PartitionEnd[] }> {
    return new Promise((resolve, reject) => {
      this.consumer.consume(max, (error, messages) => {
        if (error) {
          reject(this.error('KAFKA_CONSUME', `replay read failed: ${error.message}`, error));
          return;
        }
        resolve({ messages, ends: this.ends.splice(0) });
      });
    });
  }

  disconnect(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.consumer.isConnected()) {
        resolve();
        return;
      }
      this.consumer.disconnect(() => resolve());
    });
  }

  private error(code: string, message: string, cause: unknown): KafkaConsumerError {
    return new KafkaConsumerError(code, message, { topic: this.options.topic, group: this.options.groupId, cause: errorMessage(cause) }, cause);
  }
}
