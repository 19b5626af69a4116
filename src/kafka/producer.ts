import KafkaLib from '@confluentinc/kafka-javascript';
import type { DeliveryReport, LibrdKafkaError, Metadata, ProducerGlobalConfig } from '@confluentinc/kafka-javascript';
import { PipelineError, errorMessage } from '../core/errors.ts';
import { backoffDelayMs, withRetry, type RetryPolicy } from '../util/retry.ts';
import { ScratchBuffer } from '../util/scratch-buffer.ts';
import type { Logger } from '../util/log.ts';

/**
 * A Kafka producer over librdkafka's raw API: `produce()` hands a record to librdkafka and the
 * record's `'delivery-report'` (correlated through the opaque argument) settles it. Nothing is
 * awaited per record, so throughput is librdkafka's (batching, lz4), not one round trip per send.
 *
 * Guarantees: idempotent (acks=all, no duplicates from librdkafka's own retries, order kept per
 * partition). A record is reported delivered only after the broker acknowledged it. When the
 * outcome is INDEFINITE (a message timeout, a fatal error) the librdkafka instance is not
 * trusted any further: it is replaced by a new one, and every record still in flight on the old
 * one is failed with `indefinite: true`, so that the caller does not acknowledge it upstream
 * (the source redelivers; a copy may exist in Kafka, which the reading's id makes recognisable).
 *
 * General on purpose: no knowledge of readings, MQTT or HTTP. Polling runs on librdkafka's
 * background thread (`setPollInBackground`): measured here at 138k deliveries/s against 43k/s
 * with a 5 ms `setPollInterval`, whose timer hands over at most 100 reports per tick.
 */

const { Producer: RdKafkaProducer, CODES } = KafkaLib;
const ERR = CODES.ERRORS;

export type DeliveryCallback = (error: KafkaProduceError | undefined) => void;

/**
 * The same as a DeliveryCallback, as an object: on a hot path one object per message can receive
 * the reports of all of its records, where closures would be allocated per message.
 */
export interface DeliveryReceiver {
  delivered(error: KafkaProduceError | undefined): void;
}

type Receiver = DeliveryCallback | DeliveryReceiver;

function deliver(receiver: Receiver, error: KafkaProduceError | undefined): void {
  if (typeof receiver === 'function') receiver(error);
  else receiver.delivered(error);
}

export type ProducerState = 'created' | 'connecting' | 'ready' | 'recreating' | 'closing' | 'closed';

/** The lifecycle as a table: an event in a state that does not allow it is a bug, not a shrug. */
const TRANSITIONS: Readonly<Record<ProducerState, readonly ProducerState[]>> = {
  created: ['connecting', 'closing'],
  connecting: ['ready', 'closing'],
  ready: ['recreating', 'closing'],
  recreating: ['ready', 'closing'],
  closing: ['closed'],
  closed: [],
};

export interface ProducerObserver {
  /** Every error librdkafka reports (event or delivery), by its librdkafka code name. */
  kafkaError?(code: string, fatal: boolean): void;
  /** The librdkafka instance was replaced; `failed` records in flight were failed as indefinite. */
  recreated?(reason: string, failed: number): void;
  /** Kafka became reachable (a delivery, a connect) or unreachable (all brokers down, re-creating). */
  availabilityChanged?(available: boolean, reason: string): void;
  /** A record waited for room in librdkafka's queue and is retried locally. */
  queueFullRetry?(): void;
  /** A (re)connect attempt failed and will be retried. */
  connectRetry?(attempt: number, delayMs: number, error: unknown): void;
  /**
   * A sampled record (see clockProbeIntervalMs): handed over at local `sentAt`, reported at local
   * `deliveredAt`, with the timestamp the broker gave it (its append time on a LogAppendTime topic).
   */
  clockSample?(sentAt: number, deliveredAt: number, brokerTime: number): void;
}

export interface ProducerOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** librdkafka `message.timeout.ms`: past it a record's outcome is indefinite. */
  readonly deliveryTimeoutMs: number;
  readonly logger: Logger;
  readonly observer?: ProducerObserver;
  /** librdkafka `linger.ms`: a little latency buys batches. */
  readonly lingerMs?: number;
  readonly compression?: 'lz4' | 'zstd' | 'snappy' | 'gzip' | 'none';
  /** librdkafka's own queue (`queue.buffering.max.messages`); past it produce() meets "queue full". */
  readonly maxQueuedMessages?: number;
  /** Records waiting locally for room in librdkafka's queue; past it a send fails at once. */
  readonly maxBacklog?: number;
  readonly connectTimeoutMs?: number;
  /** How (re)connecting is retried; by default without end until close(). */
  readonly connectPolicy?: RetryPolicy;
  /** librdkafka `acks` (default 'all'); anything else gives up durability on a leader change. */
  readonly acks?: 'all' | '1' | '0';
  /** librdkafka `enable.idempotence` (default true; needs acks 'all'). */
  readonly idempotence?: boolean;
  /** Extra librdkafka properties (for example `transactional.id`); they override the defaults. */
  readonly librdkafka?: Readonly<Record<string, string | number | boolean>>;
  /** How often one record is timed for observer.clockSample (0 or absent: never). */
  readonly clockProbeIntervalMs?: number;
}

export type ProduceErrorCode =
  | 'KAFKA_DELIVERY_FAILED'
  | 'KAFKA_DELIVERY_INDEFINITE'
  | 'KAFKA_QUEUE_FULL'
  | 'KAFKA_NOT_READY'
  | 'KAFKA_PRODUCER_CLOSED'
  | 'KAFKA_FLUSH_TIMEOUT'
  | 'KAFKA_METADATA'
  | 'KAFKA_PRODUCER_STATE';

export class KafkaProduceError extends PipelineError {
  /** True when the record may or may not have been written (timeout, fatal error, shutdown). */
  readonly indefinite: boolean;
  constructor(
    code: ProduceErrorCode,
    message: string,
    options: { retriable: boolean; indefinite?: boolean; context?: Record<string, string | number | boolean | null>; cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'KafkaProduceError';
    this.indefinite = options.indefinite ?? false;
  }
}

interface Backlogged {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Buffer;
  readonly partition: number | null;
  readonly receiver: Receiver;
  readonly since: number;
}

const DEFAULT_CONNECT_POLICY: RetryPolicy = {
  maxAttempts: Number.POSITIVE_INFINITY,
  initialDelayMs: 250,
  maxDelayMs: 5000,
  maxElapsedMs: Number.POSITIVE_INFINITY,
};
const SCRATCH_BYTES = 256 * 1024;
const QUEUE_FULL_POLICY: RetryPolicy = { maxAttempts: Number.POSITIVE_INFINITY, initialDelayMs: 2, maxDelayMs: 100, maxElapsedMs: 0 };

export class KafkaProducer {
  private readonly options: ProducerOptions;
  private readonly log: Logger;
  private client: InstanceType<typeof RdKafkaProducer> | undefined;
  private currentState: ProducerState = 'created';
  private readonly pending = new Map<number, Receiver>();
  private nextOpaque = 1;
  private readonly backlog: Backlogged[] = [];
  private backlogTimer: NodeJS.Timeout | undefined;
  private backlogAttempt = 0;
  private available = false;
  private readonly closing = new AbortController();
  /** Where encode() writes a string value, so that it allocates nothing. */
  private readonly scratch = new ScratchBuffer(SCRATCH_BYTES);
  /**
   * Clock probes: a timer asks for one, the next record produced is timed, and its delivery report
   * closes it. A flag check per record and an integer compare per report is all the hot path pays.
   */
  private probeWanted = false;
  private probeOpaque = 0;
  private probeSentAt = 0;
  private probeTimer: NodeJS.Timeout | undefined;

  constructor(options: ProducerOptions) {
    if (options.brokers.length === 0) throw new PipelineError('CONFIG_INVALID', 'a producer needs at least one broker');
    if ((options.idempotence ?? true) && (options.acks ?? 'all') !== 'all') {
      throw new PipelineError('CONFIG_INVALID', `an idempotent producer needs acks 'all', not '${options.acks}'`);
    }
    this.options = options;
    this.log = options.logger;
  }

  get state(): ProducerState {
    return this.currentState;
  }

  /** Ready to take records and Kafka not known to be unreachable. */
  isAvailable(): boolean {
    return this.currentState === 'ready' && this.available;
  }

  /** Records handed over and not yet settled (librdkafka's queue plus the local backlog). */
  inFlight(): number {
    return this.pending.size + this.backlog.length;
  }

  /** Connects, retrying with backoff until it succeeds or close() is called. */
  async connect(): Promise<void> {
    this.transition('connecting');
    await this.connectWithRetry();
    this.transition('ready');
    const interval = this.options.clockProbeIntervalMs ?? 0;
    if (interval > 0 && this.options.observer?.clockSample !== undefined) {
      this.probeWanted = true;
      this.probeTimer = setInterval(() => {
        if (this.probeOpaque === 0) this.probeWanted = true;
      }, interval).unref();
    }
  }

  /** Resolves on the broker's acknowledgement; rejects with a KafkaProduceError. */
  produce(topic: string, key: string | null, value: string | Buffer, partition?: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.send(topic, key, value, partition ?? null, (error) => (error ? reject(error) : resolve()));
    });
  }

  /**
   * The callback form of produce() for hot paths (no promise per record). The receiver is told
   * exactly once, never synchronously inside send(). `value` (a string or a Buffer) may be reused
   * once send() returns: librdkafka copies it inside produce(), the backlog keeps its own copy.
   */
  send(topic: string, key: string | null, value: string | Buffer, partition: number | null, receiver: DeliveryCallback | DeliveryReceiver): void {
    const buffer = typeof value === 'string' ? this.encode(value) : value;
    if (this.currentState !== 'ready' || this.client === undefined) {
      const closed = this.currentState === 'closing' || this.currentState === 'closed';
      const error = new KafkaProduceError(
        closed ? 'KAFKA_PRODUCER_CLOSED' : 'KAFKA_NOT_READY',
        `producer is ${this.currentState}; record for ${topic} not sent`,
        { retriable: !closed, context: { topic, state: this.currentState } },
      );
      queueMicrotask(() => deliver(receiver, error));
      return;
    }
    if (this.backlog.length > 0) {
      // Keep the order: once records wait, later ones wait behind them.
      this.enqueueBacklog({ topic, key, value: ownCopy(buffer), partition, receiver, since: Date.now() });
      return;
    }
    this.produceNow(topic, key, buffer, partition, receiver);
  }

  /** Number of partitions of `topic`, from the cluster's metadata. */
  async partitionCount(topic: string, timeoutMs = 5000): Promise<number> {
    const client = this.client;
    if (this.currentState !== 'ready' || client === undefined) {
      throw new KafkaProduceError('KAFKA_NOT_READY', `producer is ${this.currentState}; no metadata for ${topic}`, {
        retriable: true,
        context: { topic },
      });
    }
    const metadata = await new Promise<Metadata>((resolve, reject) =>
      client.getMetadata({ topic, timeout: timeoutMs }, (error, data) => (error ? reject(error) : resolve(data))),
    ).catch((error: unknown) => {
      throw new KafkaProduceError('KAFKA_METADATA', `metadata for ${topic} failed: ${errorMessage(error)}`, {
        retriable: true,
        context: { topic },
        cause: error,
      });
    });
    const partitions = metadata.topics.find((candidate) => candidate.name === topic)?.partitions.length ?? 0;
    if (partitions === 0) {
      throw new KafkaProduceError('KAFKA_METADATA', `topic ${topic} does not exist (auto creation is off)`, {
        retriable: true,
        context: { topic },
      });
    }
    return partitions;
  }

  /** Waits until every record handed over so far is settled, or fails after `timeoutMs`. */
  async flush(timeoutMs: number = this.options.deliveryTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const client = this.client;
    if (client !== undefined && this.currentState === 'ready') {
      await new Promise<void>((resolve) => client.flush(Math.max(1, Math.min(timeoutMs, 1000)), () => resolve()));
    }
    while (this.inFlight() > 0 && Date.now() < deadline) await sleep(5);
    if (this.inFlight() > 0) {
      throw new KafkaProduceError('KAFKA_FLUSH_TIMEOUT', `${this.inFlight()} record(s) still in flight after ${timeoutMs} ms`, {
        retriable: true,
        context: { inFlight: this.inFlight(), timeoutMs },
      });
    }
  }

  /**
   * Flushes for up to `timeoutMs`, fails what is still in flight as indefinite, and disconnects.
   * Safe to call more than once.
   */
  async close(timeoutMs: number = 5000): Promise<void> {
    if (this.currentState === 'closing' || this.currentState === 'closed') return;
    const wasReady = this.currentState === 'ready';
    this.transition('closing');
    if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
    this.probeWanted = false;
    this.closing.abort(new KafkaProduceError('KAFKA_PRODUCER_CLOSED', 'producer closed', { retriable: false }));
    if (wasReady) {
      // Let the backlog drain into librdkafka one last time, then wait for the reports.
      const deadline = Date.now() + timeoutMs;
      while (this.backlog.length > 0 && Date.now() < deadline) {
        this.drainBacklog(true);
        if (this.backlog.length > 0) await sleep(5);
      }
      while (this.pending.size > 0 && Date.now() < deadline) await sleep(5);
    }
    const failed = this.failAll(
      new KafkaProduceError('KAFKA_PRODUCER_CLOSED', 'producer closed before the delivery report', { retriable: true, indefinite: true }),
    );
    if (failed > 0) this.log.warn({ failed }, 'producer closed with records in flight; they were failed as indefinite');
    const client = this.client;
    this.client = undefined;
    if (client !== undefined) await disconnect(client, 0);
    this.transition('closed');
  }

  // -------------------------------------------------------------------------------------------

  /**
   * A string value is encoded into one reused buffer, not a new one per record: librdkafka copies
   * the bytes inside produce() (RK_MSG_COPY), so the buffer is free again when produce() returns.
   * Only a record that has to wait (backlog) gets its own copy.
   */
  private encode(value: string): Buffer {
    if (value.length * 3 > this.scratch.bytes.length) return Buffer.from(value);
    return this.scratch.view(this.scratch.bytes.write(value, 0));
  }

  private produceNow(topic: string, key: string | null, value: Buffer, partition: number | null, receiver: Receiver): void {
    const client = this.client!;
    const opaque = this.nextOpaque++;
    this.pending.set(opaque, receiver);
    if (this.probeWanted) {
      this.probeWanted = false;
      this.probeOpaque = opaque;
      this.probeSentAt = Date.now();
    }
    try {
      client.produce(topic, partition, value, key, null, opaque);
    } catch (error) {
      this.pending.delete(opaque);
      if (this.probeOpaque === opaque) this.probeOpaque = 0; // no report will close it
      if ((error as LibrdKafkaError).code === ERR.ERR__QUEUE_FULL) {
        this.enqueueBacklog({ topic, key, value: ownCopy(value), partition, receiver, since: Date.now() });
        return;
      }
      const code = codeName((error as LibrdKafkaError).code);
      this.options.observer?.kafkaError?.(code, false);
      const failure = new KafkaProduceError('KAFKA_DELIVERY_FAILED', `produce to ${topic} refused: ${errorMessage(error)}`, {
        retriable: false,
        context: { topic, code },
        cause: error,
      });
      queueMicrotask(() => deliver(receiver, failure));
    }
  }

  private enqueueBacklog(record: Backlogged): void {
    const limit = this.options.maxBacklog ?? 100_000;
    if (this.backlog.length >= limit) {
      const error = new KafkaProduceError('KAFKA_QUEUE_FULL', `librdkafka's queue and the local backlog (${limit}) are full`, {
        retriable: true,
        context: { topic: record.topic, backlog: this.backlog.length },
      });
      queueMicrotask(() => deliver(record.receiver, error));
      return;
    }
    this.backlog.push(record);
    this.options.observer?.queueFullRetry?.();
    this.scheduleBacklog();
  }

  private scheduleBacklog(): void {
    if (this.backlogTimer !== undefined) return;
    const delay = backoffDelayMs(QUEUE_FULL_POLICY, ++this.backlogAttempt);
    this.backlogTimer = setTimeout(() => {
      this.backlogTimer = undefined;
      this.drainBacklog(false);
    }, delay);
  }

  /** Hands waiting records to librdkafka in order until it is full again; old ones time out. */
  private drainBacklog(closing: boolean): void {
    if ((this.currentState !== 'ready' && !closing) || this.client === undefined) return;
    const now = Date.now();
    let handed = 0;
    while (handed < this.backlog.length) {
      const record = this.backlog[handed]!;
      if (now - record.since > this.options.deliveryTimeoutMs) {
        handed++;
        const error = new KafkaProduceError('KAFKA_QUEUE_FULL', `no room in librdkafka's queue for ${this.options.deliveryTimeoutMs} ms`, {
          retriable: true,
          context: { topic: record.topic },
        });
        queueMicrotask(() => deliver(record.receiver, error));
        continue;
      }
      const opaque = this.nextOpaque++;
      this.pending.set(opaque, record.receiver);
      try {
        this.client.produce(record.topic, record.partition, record.value, record.key, null, opaque);
        handed++;
      } catch (error) {
        this.pending.delete(opaque);
        if ((error as LibrdKafkaError).code !== ERR.ERR__QUEUE_FULL) {
          handed++;
          const failure = new KafkaProduceError('KAFKA_DELIVERY_FAILED', `produce to ${record.topic} refused: ${errorMessage(error)}`, {
            retriable: false,
            context: { topic: record.topic },
            cause: error,
          });
          queueMicrotask(() => deliver(record.receiver, failure));
          continue;
        }
        break;
      }
    }
    this.backlog.splice(0, handed);
    // Progress means librdkafka is draining: come back soon; no progress: back off further.
    if (handed > 0) this.backlogAttempt = 0;
    if (this.backlog.length > 0) {
      this.options.observer?.queueFullRetry?.();
      if (!closing) this.scheduleBacklog();
    }
  }

  private readonly onDeliveryReport = (error: LibrdKafkaError | null, report: DeliveryReport): void => {
    const opaque = report.opaque as number;
    if (opaque === this.probeOpaque) this.closeProbe(error, report);
    const receiver = this.pending.get(opaque);
    if (receiver === undefined) return; // already failed by a re-creation or close
    this.pending.delete(opaque);
    if (!error) {
      if (!this.available) this.setAvailable(true, 'delivery report');
      deliver(receiver, undefined);
      return;
    }
    const code = codeName(error.code);
    const indefinite = error.code === ERR.ERR__MSG_TIMED_OUT || error.code === ERR.ERR__FATAL || error.isFatal === true;
    this.options.observer?.kafkaError?.(code, error.isFatal === true);
    deliver(
      receiver,
      new KafkaProduceError(
        indefinite ? 'KAFKA_DELIVERY_INDEFINITE' : 'KAFKA_DELIVERY_FAILED',
        `delivery to ${report.topic} failed: ${code} ${error.message}`,
        { retriable: indefinite || error.isRetriable === true, indefinite, context: { topic: report.topic, partition: report.partition, code } },
      ),
    );
    if (indefinite) this.recreate(`delivery report ${code}`);
  };

  private closeProbe(error: LibrdKafkaError | null, report: DeliveryReport): void {
    this.probeOpaque = 0;
    if (error || typeof report.timestamp !== 'number') return;
    this.options.observer?.clockSample?.(this.probeSentAt, Date.now(), report.timestamp);
  }

  private onEventError(client: InstanceType<typeof RdKafkaProducer>, error: LibrdKafkaError): void {
    if (client !== this.client) return; // a replaced instance
    const code = eventErrorCode(error);
    const fatal = error.isFatal === true || code === 'ERR__FATAL';
    this.options.observer?.kafkaError?.(code, fatal);
    if (fatal) {
      this.log.error({ code, err: error.message }, 'fatal producer error');
      this.recreate(`fatal error ${code}`);
    } else if (code === 'ERR__ALL_BROKERS_DOWN') {
      this.setAvailable(false, 'all brokers down');
    } else {
      this.log.debug({ code, err: error.message }, 'producer error (librdkafka retries)');
    }
  }

  /** Replaces an instance whose outcome can no longer be trusted. */
  private recreate(reason: string): void {
    if (this.currentState !== 'ready') return;
    this.transition('recreating');
    const old = this.client;
    this.client = undefined;
    const failed = this.failAll(
      new KafkaProduceError('KAFKA_DELIVERY_INDEFINITE', `producer re-created (${reason}) before the delivery report`, {
        retriable: true,
        indefinite: true,
        context: { reason },
      }),
    );
    this.log.warn({ reason, failed }, 'producer re-created; records in flight failed as indefinite');
    this.options.observer?.recreated?.(reason, failed);
    this.setAvailable(false, 're-creating the producer');
    if (old !== undefined) {
      old.removeAllListeners('delivery-report');
      void disconnect(old, 0);
    }
    this.connectWithRetry().then(
      () => {
        if (this.currentState === 'recreating') this.transition('ready');
      },
      (error: unknown) => {
        if (this.currentState !== 'closing' && this.currentState !== 'closed') {
          this.log.error({ err: errorMessage(error) }, 'producer could not be re-created');
        }
      },
    );
  }

  private failAll(error: KafkaProduceError): number {
    const receivers = [...this.pending.values(), ...this.backlog.map((record) => record.receiver)];
    this.pending.clear();
    this.backlog.length = 0;
    this.probeOpaque = 0; // its report will not come: the next tick asks for another probe
    if (this.backlogTimer !== undefined) clearTimeout(this.backlogTimer);
    this.backlogTimer = undefined;
    this.backlogAttempt = 0;
    for (const receiver of receivers) deliver(receiver, error);
    return receivers.length;
  }

  private async connectWithRetry(): Promise<void> {
    await withRetry(() => this.connectInstance(), {
      policy: this.options.connectPolicy ?? DEFAULT_CONNECT_POLICY,
      operation: `connect producer to ${this.options.brokers.join(',')}`,
      signal: this.closing.signal,
      shouldRetry: () => !this.closing.signal.aborted,
      onRetry: (error, attempt, delayMs) => {
        this.log.warn({ attempt, delayMs, err: errorMessage(error) }, 'producer connect failed; retrying');
        this.options.observer?.connectRetry?.(attempt, delayMs, error);
      },
    });
  }

  private async connectInstance(): Promise<void> {
    const client = new RdKafkaProducer(this.librdkafkaConfig());
    client.on('event.error', (error: LibrdKafkaError) => this.onEventError(client, error));
    client.on('delivery-report', this.onDeliveryReport);
    try {
      await new Promise<void>((resolve, reject) =>
        client.connect({ timeout: this.options.connectTimeoutMs ?? 5000 }, (error) => (error ? reject(error) : resolve())),
      );
    } catch (error) {
      client.removeAllListeners();
      throw new KafkaProduceError('KAFKA_NOT_READY', `producer could not connect: ${errorMessage(error)}`, { retriable: true, cause: error });
    }
    if (this.closing.signal.aborted) {
      await disconnect(client, 0);
      throw this.closing.signal.reason;
    }
    client.setPollInBackground(true);
    this.client = client;
    this.setAvailable(true, 'connected');
    this.log.info({ brokers: this.options.brokers }, 'producer connected');
  }

  private librdkafkaConfig(): ProducerGlobalConfig {
    const { options } = this;
    return {
      'metadata.broker.list': options.brokers.join(','),
      'client.id': options.clientId,
      dr_cb: true,
      'enable.idempotence': options.idempotence ?? true,
      acks: options.acks ?? 'all',
      'compression.type': options.compression ?? 'lz4',
      'linger.ms': options.lingerMs ?? 5,
      'batch.size': 1_000_000,
      'batch.num.messages': 10_000,
      'queue.buffering.max.messages': options.maxQueuedMessages ?? 500_000,
      'queue.buffering.max.kbytes': 1_048_576,
      'message.timeout.ms': options.deliveryTimeoutMs,
      'request.timeout.ms': Math.min(30_000, Math.max(1000, Math.floor(options.deliveryTimeoutMs / 2))),
      'socket.keepalive.enable': true,
      // Same key → same partition as the Java client, so that other producers agree on placement.
      partitioner: 'murmur2_random',
      ...(options.librdkafka as Partial<ProducerGlobalConfig> | undefined),
    } as ProducerGlobalConfig;
  }

  private setAvailable(available: boolean, reason: string): void {
    if (this.available === available) return;
    this.available = available;
    this.options.observer?.availabilityChanged?.(available, reason);
  }

  private transition(to: ProducerState): void {
    if (!TRANSITIONS[this.currentState].includes(to)) {
      throw new KafkaProduceError('KAFKA_PRODUCER_STATE', `producer cannot go from ${this.currentState} to ${to}`, {
        retriable: false,
        context: { from: this.currentState, to },
      });
    }
    this.currentState = to;
  }
}

function disconnect(client: InstanceType<typeof RdKafkaProducer>, flushTimeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    try {
      client.disconnect(flushTimeoutMs, () => resolve());
    } catch {
      resolve(); // never connected: nothing to release
    }
  });
}

const CODE_NAMES = new Map<number, string>(Object.entries(ERR).map(([name, code]) => [code as number, name]));

/**
 * The binding hands error EVENTS over as a bare message (librdkafka's err2str text, no code and
 * no fatal flag; src/callbacks.cc), so the codes that matter here are recognised by that text.
 */
const EVENT_ERROR_TEXTS: ReadonlyArray<readonly [text: string, code: string]> = [
  ['all broker connections are down', 'ERR__ALL_BROKERS_DOWN'],
  ['fatal error', 'ERR__FATAL'],
  ['broker transport failure', 'ERR__TRANSPORT'],
  ['host resolution failure', 'ERR__RESOLVE'],
  ['authentication failure', 'ERR__AUTHENTICATION'],
  ['ssl transport failure', 'ERR__SSL'],
];

function eventErrorCode(error: LibrdKafkaError): string {
  if (typeof error.code === 'number' && error.code !== -1 && CODE_NAMES.has(error.code)) return codeName(error.code);
  const text = (error.message ?? '').toLowerCase();
  return EVENT_ERROR_TEXTS.find(([known]) => text.startsWith(known))?.[1] ?? 'ERR_UNKNOWN';
}

export function codeName(code: number | undefined): string {
  return (code !== undefined && CODE_NAMES.get(code)) || `CODE_${code}`;
}

/**
 * A value kept past send() is copied: the caller may reuse its buffer once send() returns (and a
 * view of the shared scratch buffer is overwritten by the next record). Only the backlog keeps one.
 */
function ownCopy(value: Buffer): Buffer {
  return Buffer.from(value);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
