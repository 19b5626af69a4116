import { backoffDelayMs, type RetryPolicy } from '../util/retry.ts';
import { KafkaProduceError, deliver, type Receiver } from './produce-error.ts';

/** A record waiting for room in librdkafka's queue, with its own copy of the value. */
export interface Backlogged {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Buffer;
  readonly partition: number | null;
  readonly receiver: Receiver;
  readonly since: number;
}

/** What handing one record to librdkafka came to: taken (or refused and already failed), or no room. */
export type HandOver = 'taken' | 'full';

const QUEUE_FULL_POLICY: RetryPolicy = { maxAttempts: Number.POSITIVE_INFINITY, initialDelayMs: 2, maxDelayMs: 100, maxElapsedMs: 0 };

/**
 * Records that met "queue full" in librdkafka wait here, in order, and are handed over again on a
 * backoff timer; once records wait, later ones wait behind them (the caller checks `length`).
 */
export class ProduceBacklog {
  private readonly records: Backlogged[] = [];
  private timer: NodeJS.Timeout | undefined;
  private attempt = 0;

  constructor(
    private readonly options: {
      readonly limit: number;
      readonly deliveryTimeoutMs: number;
      /** Called when the timer fires: the owner drains (it knows whether it may). */
      readonly onTimer: () => void;
      readonly onRetry?: () => void;
    },
  ) {}

  get length(): number {
    return this.records.length;
  }

  add(record: Backlogged): void {
    const { limit } = this.options;
    if (this.records.length >= limit) {
      const error = new KafkaProduceError('KAFKA_QUEUE_FULL', `librdkafka's queue and the local backlog (${limit}) are full`, {
        retriable: true,
        context: { topic: record.topic, backlog: this.records.length },
      });
      queueMicrotask(() => deliver(record.receiver, error));
      return;
    }
    this.records.push(record);
    this.options.onRetry?.();
    this.schedule();
  }

  /** Hands waiting records over in order until librdkafka is full again; old ones time out. */
  drain(handOver: (record: Backlogged) => HandOver, reschedule: boolean): void {
    const now = Date.now();
    let handed = 0;
    while (handed < this.records.length) {
      const record = this.records[handed]!;
      if (now - record.since > this.options.deliveryTimeoutMs) {
        handed++;
        const error = new KafkaProduceError('KAFKA_QUEUE_FULL', `no room in librdkafka's queue for ${this.options.deliveryTimeoutMs} ms`, {
          retriable: true,
          context: { topic: record.topic },
        });
        queueMicrotask(() => deliver(record.receiver, error));
        continue;
      }
      if (handOver(record) === 'full') break;
      handed++;
    }
    this.records.splice(0, handed);
    // Progress means librdkafka is draining: come back soon; no progress: back off further.
    if (handed > 0) this.attempt = 0;
    if (this.records.length > 0) {
      this.options.onRetry?.();
      if (reschedule) this.schedule();
    }
  }

  /** Empties the backlog without delivering anything; returns the receivers it held, in order. */
  clear(): Receiver[] {
    const receivers = this.records.map((record) => record.receiver);
    this.records.length = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.attempt = 0;
    return receivers;
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    const delay = backoffDelayMs(QUEUE_FULL_POLICY, ++this.attempt);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.options.onTimer();
    }, delay);
  }
}

/**
 * A value kept past send() is copied: the caller may reuse its buffer once send() returns (and a
 * view of the shared scratch buffer is overwritten by the next record). Only the backlog keeps one.
 */
export function ownCopy(value: Buffer): Buffer {
  return Buffer.from(value);
}
