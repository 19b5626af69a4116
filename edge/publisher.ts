import { READING_SCHEMA_VERSION, type DeadLetterRecord, type Reading } from '../src/core/readings.ts';
import { writeValidatedReading } from '../src/core/wire/reading-bytes.ts';
import type { Rejection, ValidationResult } from '../src/core/validation.ts';
import { encodeValidatedBatches } from '../src/core/wire/batch.ts';
import { encodeValidatedReading } from '../src/core/wire/reading.ts';
import type { DeliveryCallback, DeliveryReceiver, KafkaProduceError } from '../src/kafka/producer.ts';
import { ScratchBuffer } from '../src/util/scratch-buffer.ts';
import type { FlowControl } from './flow.ts';
import type { EdgeMetrics, HotCounts, Source } from './metrics.ts';

/**
 * What the publisher needs from a producer: the callback form of produce(). `value` is the
 * caller's again once send() returns (a Buffer may be overwritten by the next send).
 */
export interface RecordSink {
  send(topic: string, key: string | null, value: string | Buffer, partition: number | null, receiver: DeliveryCallback | DeliveryReceiver): void;
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

/** Told once when a message's records are all settled: a function, or an object (no closure per message). */
export type PublishListener = ((outcome: PublishOutcome) => void) | { published(outcome: PublishOutcome): void };

export interface PublishOutcome {
  /** True only when Kafka acknowledged every record of the message (readings and dead letters). */
  readonly ok: boolean;
  readonly error: KafkaProduceError | undefined;
}

const SCRATCH_BYTES = 64 * 1024;

/** Dead letters carry at most this much of the original bytes, to stay far below Kafka's record limit. */
export const DEAD_LETTER_PAYLOAD_LIMIT = 64 * 1024;

/**
 * Writes one message's validated readings to the readings topic and its rejections to the
 * dead-letter topic, and reports once Kafka settled every one of them. The caller acknowledges
 * upstream (PUBACK, HTTP 202) only on `ok`.
 *
 * Records (format in src/core/wire/), key = device: a message's readings of one device go
 * into one record — a reading record when there is one, a batch record when there are several (an
 * MQTT message names one device; an HTTP body gets one record per device, in order of first
 * appearance). librdkafka's cost is per record, so a batch of 50 costs about what one reading does.
 */
export class ReadingPublisher {
  private readonly sink: RecordSink;
  private readonly readingsTopic: string;
  private readonly deadLetterTopic: string;
  private readonly flow: FlowControl;
  private readonly metrics: EdgeMetrics;
  private readonly now: () => number;
  /**
   * A single reading's record is written here (writeValidatedReading) and sent as a view of it:
   * the sink copies the bytes inside send() (RecordSink's contract), so one buffer serves every record.
   */
  private readonly scratch = new ScratchBuffer(SCRATCH_BYTES);

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
  }

  publish(result: ValidationResult, envelope: Envelope, onSettled: PublishListener): void {
    const { readings, rejections } = result;
    const counters = this.metrics.hot[envelope.source];
    const total = readings.length + rejections.length;
    // A refused batch item counts as one reading received, a refused whole message as one too.
    counters.readings += total;
    if (total === 0) {
      queueMicrotask(() => tell(onSettled, PUBLISHED));
      return;
    }
    // The bound is on readings (memory), whatever number of records carries them.
    this.flow.add(total);
    if (readings.length === 1) {
      const publication = this.sendReading(readings[0]!, 1 + rejections.length, total, envelope.receivedAt, counters, onSettled);
      this.publishRejections(rejections, envelope, publication);
      return;
    }
    const records = readings.length === 0 ? NO_RECORDS : readingRecords(readings);
    const publication = new Publication(records.length + rejections.length, readings.length, total, envelope.receivedAt, counters, this.flow, this.now, onSettled);
    if (records.length === 1) {
      this.sink.send(this.readingsTopic, records[0]!.device, records[0]!.value, null, publication);
    } else {
      for (const record of records) this.sink.send(this.readingsTopic, record.device, record.value, null, new RecordDelivery(publication, record.readings));
    }
    this.publishRejections(rejections, envelope, publication);
  }

  /** One reading as one record; its publication settles after `deliveries` (the record and the dead letters beside it). */
  private sendReading(reading: Reading, deliveries: number, total: number, receivedAt: number, counters: HotCounts, onSettled: PublishListener): Publication {
    const publication = new Publication(deliveries, 1, total, receivedAt, counters, this.flow, this.now, onSettled);
    this.sink.send(this.readingsTopic, reading.device, this.readingValue(reading), null, publication);
    return publication;
  }

  /** The record of a single reading: bytes in the scratch buffer, or a string when the writer declines it. */
  private readingValue(reading: Reading): Buffer | string {
    const length = writeValidatedReading(reading, this.scratch.bytes);
    return length < 0 ? encodeValidatedReading(reading) : this.scratch.view(length);
  }

  /**
   * publish() for a message that is exactly one valid reading (the MQTT fast path): the same
   * record, counts and outcome, without a ValidationResult and an Envelope per message.
   */
  publishReading(reading: Reading, source: Source, receivedAt: number, onSettled: PublishListener): void {
    const counters = this.metrics.hot[source];
    counters.readings++;
    this.flow.add(1);
    this.sendReading(reading, 1, 1, receivedAt, counters, onSettled);
  }

  private publishRejections(rejections: readonly Rejection[], envelope: Envelope, publication: Publication): void {
    if (rejections.length === 0) return;
    const deadLetters = new DeadLetterDeliveries(publication);
    for (const rejection of rejections) {
      this.metrics.rejected.labels(envelope.source, rejection.reason).inc();
      this.sink.send(this.deadLetterTopic, envelope.deadLetterKey, encodeDeadLetter(rejection, envelope), null, deadLetters);
    }
  }
}

/** A record of the readings topic about to be sent: its key, its value, how many readings it carries. */
interface ReadingsRecord {
  readonly device: string;
  readonly value: string;
  readonly readings: number;
}

const NO_RECORDS: readonly ReadingsRecord[] = [];

/**
 * The records of a message's readings: per device (in order of first appearance, each device's
 * readings in message order), one reading record or batch records. Deterministic: the same
 * readings give the same records, byte for byte.
 */
export function readingRecords(readings: readonly Reading[]): ReadingsRecord[] {
  const records: ReadingsRecord[] = [];
  for (const group of byDevice(readings)) {
    const device = group[0]!.device;
    if (group.length === 1) {
      records.push({ device, value: encodeValidatedReading(group[0]!), readings: 1 });
      continue;
    }
    for (const batch of encodeValidatedBatches(group)) records.push({ device, value: batch.value, readings: batch.readings });
  }
  return records;
}

function byDevice(readings: readonly Reading[]): ReadonlyArray<readonly Reading[]> {
  const first = readings[0]?.device;
  let oneDevice = true;
  for (let i = 1; i < readings.length && oneDevice; i++) oneDevice = readings[i]!.device === first;
  if (oneDevice) return [readings];
  const groups = new Map<string, Reading[]>();
  for (const reading of readings) {
    const group = groups.get(reading.device);
    if (group === undefined) groups.set(reading.device, [reading]);
    else group.push(reading);
  }
  return [...groups.values()];
}

/**
 * One message's records on their way to Kafka. It receives their delivery reports (as an object,
 * not a closure per message: the hot path allocates one object) and settles once all are in.
 * Told directly, it is the report of the message's only readings record (all of its readings);
 * with several readings records each has a RecordDelivery. It holds no reference to the payload.
 */
class Publication implements DeliveryReceiver {
  private remaining: number;
  private failure: KafkaProduceError | undefined;
  published = 0;
  deadLettered = 0;

  constructor(
    records: number,
    /** Valid readings of the message: all in the only readings record when told directly. */
    private readonly readings: number,
    /** Readings and dead letters of the message: counted in flight until it settles. */
    private readonly inFlight: number,
    private readonly receivedAt: number,
    private readonly counters: HotCounts,
    private readonly flow: FlowControl,
    private readonly now: () => number,
    private readonly onSettled: PublishListener,
  ) {
    this.remaining = records;
  }

  /** The delivery report of the message's only readings record. */
  delivered(error: KafkaProduceError | undefined): void {
    if (error === undefined) this.published += this.readings;
    this.settleOne(error);
  }

  settleOne(error: KafkaProduceError | undefined): void {
    if (error !== undefined && this.failure === undefined) this.failure = error;
    if (--this.remaining > 0) return;
    const { counters, failure } = this;
    this.flow.remove(this.inFlight);
    counters.published += this.published;
    counters.deadLetters += this.deadLettered;
    if (failure === undefined) counters.ackLatency.observe((this.now() - this.receivedAt) / 1000);
    else counters.failures++;
    tell(this.onSettled, failure === undefined ? PUBLISHED : { ok: false, error: failure });
  }
}

/** The delivery report of one of several readings records of a message. */
class RecordDelivery implements DeliveryReceiver {
  constructor(
    private readonly publication: Publication,
    private readonly readings: number,
  ) {}

  delivered(error: KafkaProduceError | undefined): void {
    if (error === undefined) this.publication.published += this.readings;
    this.publication.settleOne(error);
  }
}

/** The outcome of every message that succeeded: one shared object, not one per message. */
const PUBLISHED: PublishOutcome = Object.freeze({ ok: true, error: undefined });

function tell(listener: PublishListener, outcome: PublishOutcome): void {
  if (typeof listener === 'function') listener(outcome);
  else listener.published(outcome);
}

/** The delivery reports of a message's dead letters, counted apart from its readings. */
class DeadLetterDeliveries implements DeliveryReceiver {
  constructor(private readonly publication: Publication) {}

  delivered(error: KafkaProduceError | undefined): void {
    if (error === undefined) this.publication.deadLettered++;
    this.publication.settleOne(error);
  }
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
