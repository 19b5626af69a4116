import { encodeTick } from '../src/core/wire/tick.ts';
import { errorMessage } from '../src/core/errors.ts';
import type { KafkaProducer } from '../src/kafka/producer.ts';
import type { Logger } from '../src/util/log.ts';
import type { EdgeMetrics } from './metrics.ts';

/**
 * Every interval, one tick record to EVERY partition of the readings topic (explicit partition),
 * carrying the bridge's ingest clock. The aggregator advances the watermark of partitions that
 * receive no readings with them. A round is skipped while the previous one is still in flight
 * (Kafka slow or away), so that ticks never pile up.
 */
const PARTITION_REFRESH_MS = 30_000;

export class PartitionTicker {
  private readonly producer: KafkaProducer;
  private readonly topic: string;
  private readonly source: string;
  private readonly intervalMs: number;
  private readonly metrics: EdgeMetrics;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private partitions = 0;
  private partitionsReadAt = 0;
  private inFlight = 0;
  private lastFailure = '';

  constructor(options: { producer: KafkaProducer; topic: string; source: string; intervalMs: number; metrics: EdgeMetrics; logger: Logger }) {
    this.producer = options.producer;
    this.topic = options.topic;
    this.source = options.source;
    this.intervalMs = options.intervalMs;
    this.metrics = options.metrics;
    this.log = options.logger;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async tick(): Promise<void> {
    if (this.inFlight > 0 || this.producer.state !== 'ready') return;
    const now = Date.now();
    try {
      if (this.partitions === 0 || now - this.partitionsReadAt > PARTITION_REFRESH_MS) {
        this.partitions = await this.producer.partitionCount(this.topic);
        this.partitionsReadAt = now;
      }
    } catch (error) {
      this.report(error);
      return;
    }
    const value = Buffer.from(encodeTick(Date.now(), this.source));
    this.inFlight += this.partitions;
    for (let partition = 0; partition < this.partitions; partition++) {
      this.producer.send(this.topic, null, value, partition, (error) => {
        this.inFlight--;
        if (error === undefined) {
          this.metrics.ticksPublished.inc();
          this.lastFailure = '';
        } else {
          this.report(error);
        }
      });
    }
  }

  /** Once per distinct failure, not once per partition and second. */
  private report(error: unknown): void {
    const message = errorMessage(error);
    if (message === this.lastFailure) return;
    this.lastFailure = message;
    this.log.warn({ topic: this.topic, err: message }, 'ticks not published');
  }
}
