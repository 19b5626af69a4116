import { READING_SCHEMA_VERSION, type DeadLetterRecord } from '../src/core/readings.ts';
import { encodeValidatedReading, type Rejection, type ValidationResult } from '../src/core/validation.ts';
import type { DeliveryCallback, KafkaProduceError } from '../src/kafka/producer.ts';
import type { FlowControl } from './flow.ts';
import type { EdgeMetrics, Source } from './metrics.ts';

/** What the publisher needs from a producer: the callback form of produce(). */
export interface RecordSink {
  send(topic: string, key: string | null, value: string | Buffer, partition: number | null, callback: DeliveryCallback): void;
}

export interface Envelope {
  readonly source: Source;
  /** The MQTT topic or the HTTP gateway name. */
  readonly origin: string;
  /** Kafka key of the message's dead letters: the device, or the origin when there is none. */
  readonly deadLetterKey: string;
  readonly payload: Uint8Array;
  readonly receivedAt: number;
}

export interface PublishOutcome {
  /** True only when Kafka acknowledged every record of the message (readings and dead letters). */
  readonly ok: boolean;
  readonly error: KafkaProduceError | undefined;
}

/** Dead letters carry at most this much of the original bytes, to stay far below Kafka's record limit. */
export const DEAD_LETTER_PAYLOAD_LIMIT = 64 * 1024;

/**
 * Writes one message's validated readings to the readings topic (key = device) and its
 * rejections to the dead-letter topic, and reports once Kafka settled every one of them.
 * The caller acknowledges upstream (PUBACK, HTTP 202) only on `ok`.
 */
export class ReadingPublisher {
  private readonly sink: RecordSink;
  private readonly readingsTopic: string;
  private readonly deadLetterTopic: string;
  private readonly flow: FlowControl;
  private readonly metrics: EdgeMetrics;
  private readonly now: () => number;
  private readonly counters: Record<Source, SourceCounters>;

  constructor(options: {
    sink: RecordSink;
    readingsTopic: string;
    deadLetterTopic: string;
    flow: FlowControl;
    metrics: EdgeMetrics;
    now?: () => number;
  }) {
    this.sink = options.sink;
    this.readingsTopic = options.readingsTopic;
    this.deadLetterTopic = options.deadLetterTopic;
    this.flow = options.flow;
    this.metrics = options.metrics;
    this.now = options.now ?? Date.now;
    this.counters = { mqtt: bindCounters(options.metrics, 'mqtt'), http: bindCounters(options.metrics, 'http') };
  }

  publish(result: ValidationResult, envelope: Envelope, onSettled: (outcome: PublishOutcome) => void): void {
    const { readings, rejections } = result;
    const counters = this.counters[envelope.source];
    const total = readings.length + rejections.length;
    // A refused batch item counts as one reading received, a refused whole message as one too.
    counters.readingsReceived.inc(total);
    if (total === 0) {
      queueMicrotask(() => onSettled({ ok: true, error: undefined }));
      return;
    }
    this.flow.add(total);
    let remaining = total;
    let failure: KafkaProduceError | undefined;
    let published = 0;
    let deadLettered = 0;
    const settleOne = (error: KafkaProduceError | undefined): void => {
      this.flow.remove(1);
      if (error !== undefined && failure === undefined) failure = error;
      if (--remaining > 0) return;
      if (published > 0) counters.readingsPublished.inc(published);
      if (deadLettered > 0) counters.deadLettersPublished.inc(deadLettered);
      if (failure === undefined) counters.ackLatency.observe((this.now() - envelope.receivedAt) / 1000);
      else counters.publishFailures.inc();
      onSettled({ ok: failure === undefined, error: failure });
    };
    const onReading: DeliveryCallback = (error) => {
      if (error === undefined) published++;
      settleOne(error);
    };
    const onDeadLetter: DeliveryCallback = (error) => {
      if (error === undefined) deadLettered++;
      settleOne(error);
    };
    for (let i = 0; i < readings.length; i++) {
      const reading = readings[i]!;
      this.sink.send(this.readingsTopic, reading.device, encodeValidatedReading(reading), null, onReading);
    }
    for (const rejection of rejections) {
      this.metrics.rejected.labels(envelope.source, rejection.reason).inc();
      this.sink.send(this.deadLetterTopic, envelope.deadLetterKey, encodeDeadLetter(rejection, envelope), null, onDeadLetter);
    }
  }
}

interface SourceCounters {
  readonly readingsReceived: { inc(value?: number): void };
  readonly readingsPublished: { inc(value?: number): void };
  readonly deadLettersPublished: { inc(value?: number): void };
  readonly publishFailures: { inc(value?: number): void };
  readonly ackLatency: { observe(value: number): void };
}

function bindCounters(metrics: EdgeMetrics, source: Source): SourceCounters {
  return {
    readingsReceived: metrics.readingsReceived.labels(source),
    readingsPublished: metrics.readingsPublished.labels(source),
    deadLettersPublished: metrics.deadLettersPublished.labels(source),
    publishFailures: metrics.publishFailures.labels(source),
    ackLatency: metrics.ackLatency.labels(source),
  };
}

/**
 * The evidence of a refusal: the original bytes for a whole-message refusal, the refused item's
 * JSON for one reading of a batch; cut to DEAD_LETTER_PAYLOAD_LIMIT (the detail says so).
 */
export function encodeDeadLetter(rejection: Rejection, envelope: Envelope): string {
  const evidence = rejection.item === null ? envelope.payload : Buffer.from(rejection.item);
  const cut = evidence.length > DEAD_LETTER_PAYLOAD_LIMIT;
  const bytes = cut ? evidence.subarray(0, DEAD_LETTER_PAYLOAD_LIMIT) : evidence;
  const record: DeadLetterRecord = {
    v: READING_SCHEMA_VERSION,
    reason: rejection.reason,
    detail: cut ? `${rejection.detail} (payload cut to ${DEAD_LETTER_PAYLOAD_LIMIT} of ${evidence.length} bytes)` : rejection.detail,
    source: envelope.source,
    origin: envelope.origin,
    receivedAt: envelope.receivedAt,
    index: rejection.index,
    payloadBase64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64'),
  };
  return JSON.stringify(record);
}
