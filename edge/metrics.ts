import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { REJECTION_REASONS } from '../src/core/readings.ts';
import type { IntakeState } from './flow.ts';
import { Histogram, type LatencySeries } from './latency-histogram.ts';

/**
 * The bridge's metrics, all prefixed `tp_edge_`, on their own registry (served at GET /metrics).
 * Per-message counts are plain additions to `hot[source]` (prom-client hashes labels on every
 * inc(), about a microsecond per message); the counters take them over when scraped.
 */
export type Source = 'mqtt' | 'http';
export const SOURCES: readonly Source[] = ['mqtt', 'http'];
export const INTAKE_STATES: readonly IntakeState[] = ['accepting', 'saturated', 'kafka-unavailable'];

/** Counts of one source, added to on the hot path. */
export interface HotCounts {
  messages: number;
  readings: number;
  published: number;
  deadLetters: number;
  failures: number;
  readonly ackLatency: LatencySeries;
}

export interface EdgeMetrics {
  readonly registry: Registry;
  readonly hot: Readonly<Record<Source, HotCounts>>;
  readonly messagesReceived: Counter<'source'>;
  readonly readingsReceived: Counter<'source'>;
  readonly readingsPublished: Counter<'source'>;
  readonly rejected: Counter<'source' | 'reason'>;
  readonly deadLettersPublished: Counter<'source'>;
  readonly readingsInFlight: Gauge;
  readonly ackLatency: Histogram;
  readonly publishFailures: Counter<'source'>;
  readonly kafkaErrors: Counter<'code'>;
  readonly producerRecreations: Counter<'reason'>;
  readonly kafkaConnectRetries: Counter;
  readonly queueFullRetries: Counter;
  readonly state: Gauge<'state'>;
  readonly mqttConnected: Gauge;
  readonly mqttReconnects: Counter<'cause'>;
  /** PUBACK releases for a packet id the PUBACK hook did not hold (not written; see edge/mqtt-puback-hook.ts). */
  readonly mqttUnmatchedPubacks: Counter;
  readonly httpResponses: Counter<'status'>;
  readonly ticksPublished: Counter;
  readonly clockOffset: Gauge;
  readonly clockOffsetBound: Gauge;
}

/** A counter by source whose value is taken from the hot counts when scraped. */
function hotCounter(
  name: string,
  help: string,
  hot: Record<Source, HotCounts>,
  field: 'messages' | 'readings' | 'published' | 'deadLetters' | 'failures',
  registers: Registry[],
): Counter<'source'> {
  const taken: Record<Source, number> = { mqtt: 0, http: 0 };
  return new Counter({
    name,
    help,
    labelNames: ['source'],
    registers,
    collect() {
      for (const source of SOURCES) {
        const delta = hot[source][field] - taken[source];
        taken[source] += delta;
        this.labels(source).inc(delta);
      }
    },
  });
}

export function createEdgeMetrics(readInFlight: () => number): EdgeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tp_edge_' });
  const registers = [registry];
  const ackLatency = new Histogram({
    name: 'tp_edge_ack_latency_seconds',
    help: "From a message's receipt to Kafka's delivery report for all of its records",
    labelName: 'source',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 2, 5, 10, 30, 60],
  });
  registry.registerMetric(ackLatency.asMetric());
  const hotCounts = (source: Source): HotCounts => ({ messages: 0, readings: 0, published: 0, deadLetters: 0, failures: 0, ackLatency: ackLatency.labels(source) });
  const hot: Record<Source, HotCounts> = { mqtt: hotCounts('mqtt'), http: hotCounts('http') };
  const metrics: EdgeMetrics = {
    registry,
    hot,
    messagesReceived: hotCounter('tp_edge_messages_received_total', 'MQTT messages and HTTP requests with a body received', hot, 'messages', registers),
    readingsReceived: hotCounter('tp_edge_readings_received_total', 'Readings received (valid or not), by source', hot, 'readings', registers),
    readingsPublished: hotCounter('tp_edge_readings_published_total', 'Readings acknowledged by Kafka on the readings topic', hot, 'published', registers),
    rejected: new Counter({
      name: 'tp_edge_rejected_total',
      help: 'Readings or whole messages refused, by reason',
      labelNames: ['source', 'reason'],
      registers,
    }),
    deadLettersPublished: hotCounter('tp_edge_dead_letters_published_total', 'Dead-letter records acknowledged by Kafka', hot, 'deadLetters', registers),
    readingsInFlight: new Gauge({
      name: 'tp_edge_records_in_flight',
      help: 'Readings and dead letters handed to Kafka whose message is not yet settled (several readings may share one record)',
      registers,
      collect() {
        this.set(readInFlight());
      },
    }),
    ackLatency,
    publishFailures: hotCounter(
      'tp_edge_publish_failures_total',
      'Messages or requests not acknowledged because Kafka did not take all of their records',
      hot,
      'failures',
      registers,
    ),
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
    mqttUnmatchedPubacks: new Counter({
      name: 'tp_edge_mqtt_unmatched_pubacks_total',
      help: 'Broker mode: PUBACK releases for a packet id the bridge did not hold (not sent); above 0 means a bookkeeping fault in the bridge',
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
    clockOffset: new Gauge({
      name: 'tp_edge_clock_offset_seconds',
      help: "This host's clock minus the Kafka broker's (negative: behind), from sampled delivery reports; NaN until measured",
      registers,
    }),
    clockOffsetBound: new Gauge({
      name: 'tp_edge_clock_offset_bound_seconds',
      help: 'edge.clockOffsetWarnMs: the offset size above which the bridge warns and TelemetryBridgeClockOffset fires',
      registers,
    }),
  };
  metrics.clockOffset.set(Number.NaN);
  // Zero series exist from the start, so that rates and alerts see them before the first event.
  for (const source of SOURCES) {
    for (const reason of REJECTION_REASONS) metrics.rejected.labels(source, reason);
  }
  for (const state of INTAKE_STATES) metrics.state.labels(state).set(state === 'kafka-unavailable' ? 1 : 0);
  return metrics;
}
