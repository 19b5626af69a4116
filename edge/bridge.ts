import { hostname } from 'node:os';
import type { Config } from '../src/config/schema.ts';
import { PipelineError, errorMessage } from '../src/core/errors.ts';
import { KafkaProducer } from '../src/kafka/producer.ts';
import type { Logger } from '../src/util/log.ts';
import { FlowControl } from './flow.ts';
import { HttpIntake } from './http-intake.ts';
import type { Readiness } from '../src/metrics/ops-endpoints.ts';
import { CLOCK_PROBE_INTERVAL_MS, createClockWatch } from './clock-watch.ts';
import { INTAKE_STATES, createEdgeMetrics, type EdgeMetrics } from './metrics.ts';
import { MqttIntake } from './mqtt-intake.ts';
import { MqttServer } from './mqtt-server/server.ts';
import { ReadingPublisher } from './publisher.ts';
import { PartitionTicker } from './ticker.ts';
import { brokerTls, createTlsMetrics, listenerTls } from './tls.ts';

/**
 * The edge bridge: MQTT and HTTP intake → validation → Kafka (readings, dead letters, ticks),
 * acknowledging upstream only after Kafka did. Built from the configuration; `start()` and
 * `stop()` are the whole lifecycle.
 */
export interface Bridge {
  readonly id: string;
  readonly metrics: EdgeMetrics;
  start(): Promise<void>;
  /** Stops intake, flushes, acknowledges what Kafka acknowledged, disconnects. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * One bridge instance: its MQTT client id (stable across restarts, so that the broker's session
 * is resumed) and the source of its ticks. Two bridges on one host need different prefixes.
 */
export function bridgeId(config: Config): string {
  return mqttClientId(config.mqtt.clientIdPrefix);
}

export function mqttClientId(clientIdPrefix: string): string {
  return `${clientIdPrefix}-${hostname()}`;
}

export function createBridge(config: Config, logger: Logger): Bridge {
  const id = bridgeId(config);
  const { edge, kafka } = config;
  const flow = new FlowControl(edge.maxInFlightReadings);
  const metrics = createEdgeMetrics(() => flow.recordsInFlight);

  flow.onChange((state, previous, reason) => {
    for (const candidate of INTAKE_STATES) metrics.state.labels(candidate).set(candidate === state ? 1 : 0);
    const level = state === 'accepting' ? 'info' : 'warn';
    logger[level]({ state, previous, reason, inFlight: flow.recordsInFlight }, `intake ${state}`);
  });

  const clockSample = createClockWatch(edge.clockOffsetWarnMs, metrics, logger.child({ component: 'clock' }));
  const producer = new KafkaProducer({
    connection: kafka,
    clientId: `${kafka.clientId}-${id}`,
    deliveryTimeoutMs: edge.deliveryTimeoutMs,
    acks: edge.producer.acks,
    idempotence: edge.producer.idempotence,
    lingerMs: edge.producer.lingerMs,
    compression: edge.producer.compression,
    // librdkafka's queue holds the in-flight readings plus their dead letters and ticks.
    maxQueuedMessages: Math.max(100_000, edge.maxInFlightReadings * 2),
    clockProbeIntervalMs: CLOCK_PROBE_INTERVAL_MS,
    logger: logger.child({ component: 'producer' }),
    observer: {
      kafkaError: (code) => metrics.kafkaErrors.labels(code).inc(),
      recreated: (reason) => metrics.producerRecreations.labels(reason).inc(),
      availabilityChanged: (available, reason) => flow.setKafkaAvailable(available, reason),
      queueFullRetry: () => metrics.queueFullRetries.inc(),
      connectRetry: () => metrics.kafkaConnectRetries.inc(),
      clockSample,
    },
  });

  const publisher = new ReadingPublisher({
    sink: producer,
    readingsTopic: kafka.readingsTopic,
    deadLetterTopic: kafka.deadLetterTopic,
    flow,
    metrics,
  });

  // edge.tls: HTTPS and MQTTS listeners unless 'plaintext' says otherwise (edge/tls.ts refuses contradictions).
  const listener = listenerTls(edge.tls);
  const tlsMetrics = createTlsMetrics(metrics.registry, listener !== undefined);
  const tls = listener === undefined ? undefined : { listener, metrics: tlsMetrics };

  const mqttOptions = { validation: edge.validation, ackMode: edge.ackMode, publisher, flow, metrics, logger: logger.child({ component: 'mqtt' }) };
  const mqttIntake = !edge.mqttEnabled
    ? undefined
    : config.mqtt.mode === 'direct'
      ? new MqttServer({ mqtt: config.mqtt, ...mqttOptions, tls })
      : new MqttIntake({
        mqtt: config.mqtt,
        validation: edge.validation,
        ackMode: edge.ackMode,
        clientId: id,
        tls: brokerTls(edge.tls, config.mqtt),
        publisher,
        flow,
        metrics,
        logger: logger.child({ component: 'mqtt' }),
      });

  const readiness = (): Readiness => {
    const mqttReady = mqttIntake === undefined || mqttIntake.connected;
    const kafkaReady = producer.isAvailable();
    return {
      ready: mqttReady && kafkaReady && flow.state === 'accepting',
      detail: {
        mqtt: mqttIntake === undefined ? 'disabled' : mqttReady ? 'connected' : 'disconnected',
        kafka: kafkaReady ? 'ready' : producer.state,
        state: flow.state,
        inFlight: flow.recordsInFlight,
      },
    };
  };

  // The HTTP server also serves /metrics and the probes, so it runs even when HTTP intake is off.
  const httpIntake = new HttpIntake({
    edge,
    intakeEnabled: edge.httpEnabled,
    tls,
    ackMode: edge.ackMode,
    publisher,
    flow,
    metrics,
    logger: logger.child({ component: 'http' }),
    readiness,
  });

  const ticker = new PartitionTicker({
    producer,
    topic: kafka.readingsTopic,
    source: id,
    intervalMs: edge.tickIntervalMs,
    metrics,
    logger: logger.child({ component: 'ticker' }),
  });

  let stopped: Promise<void> | undefined;

  return {
    id,
    metrics,
    async start() {
      await httpIntake.listen();
      await producer.connect();
      for (const topic of [kafka.readingsTopic, kafka.deadLetterTopic]) {
        await producer.partitionCount(topic).catch((error: unknown) => {
          throw new PipelineError('TOPIC_MISSING', `topic ${topic} is not usable: ${errorMessage(error)}; create it first (ensureTopics)`, {
            context: { topic },
            cause: error,
          });
        });
      }
      ticker.start();
      if (mqttIntake) await mqttIntake.start();
      logger.info({ bridge: id, mqtt: edge.mqttEnabled ? config.mqtt.mode : false, http: edge.httpEnabled, tls: edge.tls.mode, ackMode: edge.ackMode, acks: edge.producer.acks }, 'bridge started');
    },
    stop(timeoutMs = 10_000) {
      stopped ??= (async () => {
        const started = Date.now();
        logger.info({ inFlight: flow.recordsInFlight }, 'bridge stopping: intake stopped, flushing');
        mqttIntake?.stopIntake();
        httpIntake.stopIntake();
        ticker.stop();
        await producer.flush(timeoutMs).catch((error: unknown) => logger.warn({ err: errorMessage(error) }, 'flush incomplete'));
        const left = Math.max(1000, timeoutMs - (Date.now() - started));
        await mqttIntake?.close(Math.min(left, 5000));
        await httpIntake.close();
        await producer.close(1000);
        logger.info({ ms: Date.now() - started }, 'bridge stopped');
      })();
      return stopped;
    },
  };
}
