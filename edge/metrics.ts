import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { REJECTION_REASONS } from '../src/core/readings.ts';
import type { IntakeState } from './flow.ts';

/**
 * The bridge's metrics, all prefixed `tp_edge_`, on their own registry (served at GET /metrics).
 * Hot paths use pre-bound children (`.labels()` resolved once), so a count is an addition.
 */
export type Source = 'mqtt' | 'http';
export const INTAKE_STATES: readonly IntakeState[] = ['accepting', 'saturated', 'kafka-unavailable'];

export interface EdgeMetrics {
  readonly registry: Registry;
  readonly messagesReceived: Counter<'source'>;
  readonly readingsReceived: Counter<'source'>;
  readonly readingsPublished: Counter<'source'>;
  readonly rejected: Counter<'source' | 'reason'>;
  readonly deadLettersPublished: Counter<'source'>;
  readonly readingsInFlight: Gauge;
  readonly ackLatency: Histogram<'source'>;
  readonly publishFailures: Counter<'source'>;
  readonly kafkaErrors: Counter<'code'>;
  readonly producerRecreations: Counter<'reason'>;
  readonly kafkaConnectRetries: Counter;
  readonly queueFullRetries: Counter;
  readonly state: Gauge<'state'>;
  readonly mqttConnected: Gauge;
  readonly mqttReconnects: Counter<'cause'>;
  readonly httpResponses: Counter<'status'>;
  readonly ticksPublished: Counter;
}

export function createEdgeMetrics(readInFlight: () => number): EdgeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tp_edge_' });
  const registers = [registry];
  const metrics: EdgeMetrics = {
    registry,
    messagesReceived: new Counter({
      name: 'tp_edge_messages_received_total',
      help: 'MQTT messages and HTTP requests with a body received',
      labelNames: ['source'],
      registers,
    }),
    readingsReceived: new Counter({
      name: 'tp_edge_readings_received_total',
      help: 'Readings received (valid or not), by source',
      labelNames: ['source'],
      registers,
    }),
    readingsPublished: new Counter({
      name: 'tp_edge_readings_published_total',
      help: 'Readings acknowledged by Kafka on the readings topic',
      labelNames: ['source'],
      registers,
    }),
    rejected: new Counter({
      name: 'tp_edge_rejected_total',
      help: 'Readings or whole messages refused, by reason',
      labelNames: ['source', 'reason'],
      registers,
    }),
    deadLettersPublished: new Counter({
      name: 'tp_edge_dead_letters_published_total',
      help: 'Dead-letter records acknowledged by Kafka',
      labelNames: ['source'],
      registers,
    }),
    readingsInFlight: new Gauge({
      name: 'tp_edge_records_in_flight',
      help: 'Records (readings and dead letters) handed to Kafka and not yet acknowledged',
      registers,
      collect() {
        this.set(readInFlight());
      },
    }),
    ackLatency: new Histogram({
      name: 'tp_edge_ack_latency_seconds',
      help: "From a message's receipt to Kafka's delivery report for all of its records",
      labelNames: ['source'],
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    publishFailures: new Counter({
      name: 'tp_edge_publish_failures_total',
      help: 'Messages or requests not acknowledged because Kafka did not take all of their records',
      labelNames: ['source'],
      registers,
    }),
    kafkaErrors: new Counter({
      name: 'tp_edge_kafka_errors_total',
      help: 'Errors reported by librdkafka, by code',
      labelNames: ['code'],
      registers,
    }),
    producerRecreations: new Counter({
      name: 'tp_edge_producer_recreations_total',
      help: 'Producer instances replaced after an indefinite outcome',
      labelNames: ['reason'],
      registers,
    }),
    kafkaConnectRetries: new Counter({
      name: 'tp_edge_kafka_connect_retries_total',
      help: 'Failed producer (re)connect attempts that were retried',
      registers,
    }),
    queueFullRetries: new Counter({
      name: 'tp_edge_queue_full_retries_total',
      help: "Records that waited for room in librdkafka's queue",
      registers,
    }),
    state: new Gauge({
      name: 'tp_edge_state',
      help: 'Intake state: 1 for the current one (accepting, saturated, kafka-unavailable)',
      labelNames: ['state'],
      registers,
    }),
    mqttConnected: new Gauge({ name: 'tp_edge_mqtt_connected', help: '1 while connected to the MQTT broker', registers }),
    mqttReconnects: new Counter({
      name: 'tp_edge_mqtt_reconnects_total',
      help: 'MQTT reconnections, by cause (a lost connection, or one forced so that the broker redelivers)',
      labelNames: ['cause'],
      registers,
    }),
    httpResponses: new Counter({
      name: 'tp_edge_http_responses_total',
      help: 'Responses to POST /v1/readings, by status',
      labelNames: ['status'],
      registers,
    }),
    ticksPublished: new Counter({
      name: 'tp_edge_ticks_published_total',
      help: 'Idle-partition ticks acknowledged by Kafka',
      registers,
    }),
  };
  // Zero series exist from the start, so that rates and alerts see them before the first event.
  for (const source of ['mqtt', 'http'] as const) {
    metrics.messagesReceived.labels(source);
    metrics.readingsReceived.labels(source);
    metrics.readingsPublished.labels(source);
    metrics.deadLettersPublished.labels(source);
    metrics.publishFailures.labels(source);
    for (const reason of REJECTION_REASONS) metrics.rejected.labels(source, reason);
  }
  for (const state of INTAKE_STATES) metrics.state.labels(state).set(state === 'kafka-unavailable' ? 1 : 0);
  return metrics;
}
