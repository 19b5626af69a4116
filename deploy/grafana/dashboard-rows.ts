/**
 * The rows and panels of the pipeline's Grafana dashboard (deploy/grafana/dashboard.ts lays them
 * out and renders them), one row per stage in the order the data flows.
 */
export const SLA_SECONDS = 10;
export const SLA_BUDGET = 0.05;

export const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' } as const;
const PIPELINE = 'pipeline=~"$pipeline"';
const RATE = '$__rate_interval';

export interface Query {
  readonly expr: string;
  readonly legend: string;
}

export interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly queries: readonly Query[];
  readonly unit?: string;
  readonly type?: 'timeseries' | 'stat' | 'state-timeline';
  /** A red threshold line (timeseries) or colour step (stat). */
  readonly threshold?: number;
  readonly width?: number;
}

export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

export interface DashboardOptions {
  /** edge.maxInFlightReadings, drawn as the limit of the in-flight panel. */
  readonly maxInFlightReadings: number;
}

const q = (expr: string, legend: string): Query => ({ expr, legend });

export function rows(options: DashboardOptions): RowSpec[] {
  return [
    {
      title: 'Devices / MQTT',
      panels: [
        {
          title: 'Messages received by source',
          description: 'MQTT messages and HTTP requests with a body that reached the bridges.',
          unit: 'reqps',
          queries: [q(`sum by (source) (rate(tp_edge_messages_received_total[${RATE}]))`, '{{source}}')],
        },
        {
          title: 'Bridges connected to the broker',
          description: 'Bridges holding an MQTT session, out of the bridges scraped.',
          queries: [q('sum(tp_edge_mqtt_connected)', 'connected'), q('count(tp_edge_mqtt_connected)', 'bridges')],
        },
        {
          title: 'MQTT reconnections by cause',
          description: 'A lost connection, or one forced so that the broker redelivers unacknowledged messages.',
          queries: [q(`sum by (cause) (increase(tp_edge_mqtt_reconnects_total[${RATE}]))`, '{{cause}}')],
        },
        {
          title: 'HTTP responses by status',
          description: 'Answers to POST /v1/readings; 503 means the bridge is saturated or without Kafka.',
          unit: 'reqps',
          queries: [q(`sum by (status) (rate(tp_edge_http_responses_total[${RATE}]))`, '{{status}}')],
        },
      ],
    },
    {
      title: 'Edge bridge',
      panels: [
        {
          title: 'Readings received and acknowledged by Kafka',
          description: 'Received (valid or not) against what Kafka acknowledged: readings on the readings topic, refusals on the dead-letter topic.',
          unit: 'ops',
          queries: [
            q(`sum(rate(tp_edge_readings_received_total[${RATE}]))`, 'received'),
            q(`sum(rate(tp_edge_readings_published_total[${RATE}]))`, 'published'),
            q(`sum(rate(tp_edge_dead_letters_published_total[${RATE}]))`, 'dead letters'),
          ],
        },
        {
          title: 'Refused readings by reason',
          description: 'Readings or whole messages sent to the dead-letter topic.',
          unit: 'ops',
          queries: [q(`sum by (reason) (rate(tp_edge_rejected_total[${RATE}]))`, '{{reason}}')],
        },
        {
          title: 'Records in flight per bridge',
          description: `Records handed to Kafka and not yet acknowledged; at edge.maxInFlightReadings (${options.maxInFlightReadings}) intake pauses.`,
          threshold: options.maxInFlightReadings,
          queries: [q('max by (instance) (tp_edge_records_in_flight)', '{{instance}}')],
        },
        {
          title: 'Acknowledgement latency',
          description: "From a message's receipt to Kafka's delivery report for all of its records.",
          unit: 's',
          queries: [0.5, 0.95, 0.99].map((quantile) =>
            q(`histogram_quantile(${quantile}, sum by (le) (rate(tp_edge_ack_latency_seconds_bucket[${RATE}])))`, `p${quantile * 100}`),
          ),
        },
        {
          title: 'Intake state',
          description: 'accepting, saturated (producer queue full: MQTT paused, HTTP 503) or kafka-unavailable.',
          type: 'state-timeline',
          queries: [q('max by (instance, state) (tp_edge_state) == 1', '{{instance}} {{state}}')],
        },
        {
          title: 'Publish failures and event-loop lag',
          description: 'Messages not acknowledged because Kafka refused some of their records; the p99 event-loop delay of the bridges.',
          queries: [
            q(`sum by (source) (rate(tp_edge_publish_failures_total[${RATE}]))`, 'failures {{source}}'),
            q('max by (instance) (tp_edge_nodejs_eventloop_lag_p99_seconds)', 'loop lag p99 {{instance}}'),
          ],
        },
      ],
    },
    {
      title: 'Kafka',
      panels: [
        {
          title: 'Producer errors by code',
          description: 'Errors librdkafka reported to the bridges.',
          queries: [q(`sum by (code) (rate(tp_edge_kafka_errors_total[${RATE}]))`, '{{code}}')],
        },
        {
          title: 'Producer recoveries',
          description: 'Producers re-created after an indefinite outcome, reconnect attempts, and records that waited for room in the queue.',
          queries: [
            q(`sum by (reason) (increase(tp_edge_producer_recreations_total[${RATE}]))`, 'recreated ({{reason}})'),
            q(`sum(increase(tp_edge_kafka_connect_retries_total[${RATE}]))`, 'connect retries'),
            q(`sum(rate(tp_edge_queue_full_retries_total[${RATE}]))`, 'queue full'),
          ],
        },
        {
          title: 'Consumer lag by pipeline',
          description: 'Records behind the high watermark, summed over partitions.',
          queries: [q(`sum by (pipeline) (tp_agg_consumer_lag{${PIPELINE}})`, '{{pipeline}}')],
        },
        {
          title: 'Consumer lag by partition',
          description: 'A single lagging partition points at a hot device key or a slow instance.',
          queries: [q(`max by (pipeline, partition) (tp_agg_consumer_lag{${PIPELINE}})`, '{{pipeline}} p{{partition}}')],
        },
        {
          title: 'Assigned partitions per instance',
          description: 'Partitions each aggregator owns and has restored.',
          queries: [q(`sum by (pipeline, instance) (tp_agg_assigned_partitions{${PIPELINE}})`, '{{pipeline}} {{instance}}')],
        },
        {
          title: 'Commits and late-topic writes',
          description: 'Checkpoints with offset commits, refused commits (fenced zombies), and late readings written to the late topic.',
          queries: [
            q(`sum by (pipeline) (rate(tp_agg_checkpoints_total{${PIPELINE}}[${RATE}]))`, 'checkpoints {{pipeline}}'),
            q(`sum by (pipeline) (increase(tp_agg_commit_errors_total{${PIPELINE}}[${RATE}]))`, 'refused commits {{pipeline}}'),
            q(`sum by (pipeline) (rate(tp_agg_late_topic_records_total{${PIPELINE}}[${RATE}]))`, 'late topic {{pipeline}}'),
          ],
        },
      ],
    },
    {
      title: 'Aggregator',
      panels: [
        {
          title: 'Readings processed',
          description: 'Readings consumed and applied to windows, by pipeline.',
          unit: 'ops',
          queries: [q(`sum by (pipeline) (rate(tp_agg_readings_total{${PIPELINE}}[${RATE}]))`, '{{pipeline}}')],
        },
        {
          title: 'Watermark lag',
          description: 'Wall clock minus the watermark: how late windows close.',
          unit: 's',
          queries: [q(`max by (pipeline) (tp_agg_watermark_lag_seconds{${PIPELINE}})`, '{{pipeline}}')],
        },
        {
          title: 'Watermark delay',
          description: 'The delay the watermark keeps behind event time (adaptive: the arrival-delay quantile plus margin).',
          unit: 'ms',
          queries: [q(`max by (pipeline) (tp_agg_watermark_delay_ms{${PIPELINE}})`, '{{pipeline}}')],
        },
        {
          title: 'Open and retained windows',
          description: 'Windows still accumulating, and emitted windows kept for late corrections.',
          queries: [
            q(`sum by (pipeline) (tp_agg_open_windows{${PIPELINE}})`, 'open {{pipeline}}'),
            q(`sum by (pipeline) (tp_agg_retained_windows{${PIPELINE}})`, 'retained {{pipeline}}'),
          ],
        },
        {
          title: 'Late, duplicate and undecodable values',
          description: 'Late values by outcome, values of a reading a window had already absorbed, records that could not be decoded.',
          unit: 'ops',
          queries: [
            q(`sum by (pipeline, outcome) (rate(tp_agg_late_values_total{${PIPELINE}}[${RATE}]))`, 'late {{outcome}} {{pipeline}}'),
            q(`sum by (pipeline) (rate(tp_agg_duplicate_values_total{${PIPELINE}}[${RATE}]))`, 'duplicates {{pipeline}}'),
            q(`sum by (pipeline, reason) (rate(tp_agg_decode_errors_total{${PIPELINE}}[${RATE}]))`, 'undecodable {{reason}}'),
          ],
        },
        {
          title: 'State and checkpoint size',
          description: 'Estimated window state and the size of the last checkpoint.',
          unit: 'bytes',
          queries: [
            q(`sum by (pipeline) (tp_agg_state_bytes{${PIPELINE}})`, 'state {{pipeline}}'),
            q(`sum by (pipeline) (tp_agg_checkpoint_bytes{${PIPELINE}})`, 'checkpoint {{pipeline}}'),
          ],
        },
        {
          title: 'Checkpoint duration (p95)',
          description: 'Time to flush, checkpoint and commit.',
          unit: 's',
          queries: [
            q(`histogram_quantile(0.95, sum by (pipeline, le) (rate(tp_agg_checkpoint_duration_seconds_bucket{${PIPELINE}}[${RATE}])))`, '{{pipeline}}'),
          ],
        },
        {
          title: 'Aggregator CPU',
          description: 'CPU seconds per second of each aggregator process.',
          unit: 'percentunit',
          queries: [q(`sum by (instance) (rate(tp_agg_process_process_cpu_seconds_total[${RATE}]))`, '{{instance}}')],
        },
      ],
    },
    {
      title: 'ClickHouse sink',
      panels: [
        {
          title: 'Rows emitted and inserted',
          description: 'Aggregate rows emitted (first emissions and corrections) against rows ClickHouse confirmed.',
          unit: 'ops',
          queries: [
            q(`sum by (pipeline) (rate(tp_agg_rows_emitted_total{${PIPELINE}}[${RATE}]))`, 'emitted {{pipeline}}'),
            q(`sum by (pipeline) (rate(tp_agg_rows_inserted_total{${PIPELINE}}[${RATE}]))`, 'inserted {{pipeline}}'),
          ],
        },
        {
          title: 'Insert duration',
          description: 'Time to insert one flush, retries included.',
          unit: 's',
          queries: [0.5, 0.95].map((quantile) =>
            q(`histogram_quantile(${quantile}, sum by (le) (rate(tp_agg_insert_duration_seconds_bucket{${PIPELINE}}[${RATE}])))`, `p${quantile * 100}`),
          ),
        },
        {
          title: 'Insert retries and failures',
          description: 'Attempts that failed and were retried, and flushes that failed for good (the aggregator then stops).',
          queries: [
            q(`sum by (pipeline) (rate(tp_agg_insert_retries_total{${PIPELINE}}[${RATE}]))`, 'retries {{pipeline}}'),
            q(`sum by (pipeline) (increase(tp_agg_insert_errors_total{${PIPELINE}}[${RATE}]))`, 'failures {{pipeline}}'),
          ],
        },
      ],
    },
    {
      title: 'SLA',
      panels: [
        {
          title: `End-to-end latency P95 (SLA ${SLA_SECONDS} s)`,
          description: "From the latest bridge ingest of a window's readings to its row being inserted.",
          unit: 's',
          threshold: SLA_SECONDS,
          width: 12,
          queries: [
            q(`histogram_quantile(0.95, sum by (pipeline, le) (rate(tp_agg_e2e_latency_seconds_bucket{${PIPELINE}}[5m])))`, '{{pipeline}}'),
          ],
        },
        {
          title: `Windows slower than ${SLA_SECONDS} s (budget ${SLA_BUDGET * 100} %)`,
          description: 'The fraction of windows over the SLA, over 5 minutes and over 1 hour: the two windows of the burn-rate alerts.',
          unit: 'percentunit',
          threshold: SLA_BUDGET,
          width: 12,
          queries: ['5m', '1h'].map((window) =>
            q(
              `1 - (sum by (pipeline) (rate(tp_agg_e2e_latency_seconds_bucket{${PIPELINE}, le="${SLA_SECONDS}"}[${window}])) / sum by (pipeline) (rate(tp_agg_e2e_latency_seconds_count{${PIPELINE}}[${window}])))`,
              `{{pipeline}} ${window}`,
            ),
          ),
        },
        {
          title: 'Error-budget burn rate (1 h)',
          description: 'How many times faster than sustainable the 5 % budget burns: 14.4 pages, 6 opens a ticket.',
          type: 'stat',
          threshold: 6,
          width: 12,
          queries: [
            q(
              `(1 - (sum by (pipeline) (rate(tp_agg_e2e_latency_seconds_bucket{${PIPELINE}, le="${SLA_SECONDS}"}[1h])) / sum by (pipeline) (rate(tp_agg_e2e_latency_seconds_count{${PIPELINE}}[1h])))) / ${SLA_BUDGET}`,
              '{{pipeline}}',
            ),
          ],
        },
        {
          title: 'Services up',
          description: 'Bridges and aggregators answering /metrics.',
          type: 'stat',
          width: 12,
          queries: [q('sum by (job) (up{job=~"telemetry-bridge|telemetry-aggregator"})', '{{job}}')],
        },
      ],
    },
  ];
}

