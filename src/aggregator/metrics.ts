import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * The aggregator's metrics, labelled by pipeline and tier so that one deployment running several
 * pipelines (monitoring, analytics, billing) shows each on its own. Prefix: tp_agg_.
 */
export function createAggregatorMetrics(registry = new Registry()) {
  collectDefaultMetrics({ register: registry, prefix: 'tp_agg_process_' });
  const labels = ['pipeline', 'tier'] as const;
  return {
    registry,
    readings: new Counter({ name: 'tp_agg_readings_total', help: 'Readings consumed and processed', labelNames: labels, registers: [registry] }),
    duplicates: new Counter({ name: 'tp_agg_duplicate_values_total', help: 'Metric values of a reading id a window had already absorbed (counted once)', labelNames: labels, registers: [registry] }),
    late: new Counter({ name: 'tp_agg_late_values_total', help: 'Late metric values by outcome (dropped, late_topic, absorbed)', labelNames: [...labels, 'outcome'], registers: [registry] }),
    decodeErrors: new Counter({ name: 'tp_agg_decode_errors_total', help: 'Records of the readings topic that could not be decoded (skipped)', labelNames: [...labels, 'reason'], registers: [registry] }),
    rowsEmitted: new Counter({ name: 'tp_agg_rows_emitted_total', help: 'Aggregate rows emitted (first emission and corrections)', labelNames: labels, registers: [registry] }),
    rowsInserted: new Counter({ name: 'tp_agg_rows_inserted_total', help: 'Aggregate rows confirmed by ClickHouse', labelNames: labels, registers: [registry] }),
    insertSeconds: new Histogram({ name: 'tp_agg_insert_duration_seconds', help: 'Time to insert one flush into ClickHouse (with retries)', labelNames: labels, buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] }),
    insertRetries: new Counter({ name: 'tp_agg_insert_retries_total', help: 'ClickHouse insert attempts that failed and were retried', labelNames: labels, registers: [registry] }),
    insertErrors: new Counter({ name: 'tp_agg_insert_errors_total', help: 'ClickHouse flushes that failed for good (the service stops)', labelNames: labels, registers: [registry] }),
    e2eSeconds: new Histogram({ name: 'tp_agg_e2e_latency_seconds', help: 'From the latest bridge ingest of a window\'s readings to its row being inserted', labelNames: labels, buckets: [0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 60, 120], registers: [registry] }),
    checkpoints: new Counter({ name: 'tp_agg_checkpoints_total', help: 'Checkpoints written and offsets committed', labelNames: labels, registers: [registry] }),
    checkpointSeconds: new Histogram({ name: 'tp_agg_checkpoint_duration_seconds', help: 'Time to flush, checkpoint and commit', labelNames: labels, buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    checkpointBytes: new Gauge({ name: 'tp_agg_checkpoint_bytes', help: 'Size of the last checkpoint of all assigned partitions', labelNames: labels, registers: [registry] }),
    commitErrors: new Counter({ name: 'tp_agg_commit_errors_total', help: 'Offset commits refused (for example a fenced zombie)', labelNames: labels, registers: [registry] }),
    restoreRetries: new Counter({ name: 'tp_agg_restore_retries_total', help: 'Attempts to restore assigned partitions (checkpoint load, seeks) that failed and were retried', labelNames: labels, registers: [registry] }),
    consumerLag: new Gauge({ name: 'tp_agg_consumer_lag', help: 'Records behind the partition high watermark', labelNames: [...labels, 'partition'], registers: [registry] }),
    watermark: new Gauge({ name: 'tp_agg_watermark_ms', help: 'Instance watermark: minimum over non-idle partitions (epoch ms)', labelNames: labels, registers: [registry] }),
    watermarkLag: new Gauge({ name: 'tp_agg_watermark_lag_seconds', help: 'Wall clock minus the instance watermark', labelNames: labels, registers: [registry] }),
    watermarkDelay: new Gauge({ name: 'tp_agg_watermark_delay_ms', help: 'Current watermark delay (adaptive: the arrival-delay quantile plus margin), largest over partitions', labelNames: labels, registers: [registry] }),
    openWindows: new Gauge({ name: 'tp_agg_open_windows', help: 'Open windows over assigned partitions', labelNames: labels, registers: [registry] }),
    retainedWindows: new Gauge({ name: 'tp_agg_retained_windows', help: 'Emitted windows kept for late corrections', labelNames: labels, registers: [registry] }),
    stateBytes: new Gauge({ name: 'tp_agg_state_bytes', help: 'Estimated window state size', labelNames: labels, registers: [registry] }),
    assignedPartitions: new Gauge({ name: 'tp_agg_assigned_partitions', help: 'Partitions this instance owns and has restored', labelNames: labels, registers: [registry] }),
    clockShiftedDevices: new Gauge({ name: 'tp_agg_clock_shifted_devices', help: 'Devices whose clock is off, learned from the log: windows closing later by the offset (state=behind), earlier by it (state=ahead), or not shifted because the offset exceeds maxDeviceClockOffsetMs (state=beyond_ceiling)', labelNames: [...labels, 'state'], registers: [registry] }),
    lateTopicWrites: new Counter({ name: 'tp_agg_late_topic_records_total', help: 'Late readings written to the late topic', labelNames: labels, registers: [registry] }),
    maintenance: createMaintenanceMetrics(registry),
  };
}

export type AggregatorMetrics = ReturnType<typeof createAggregatorMetrics>;

/**
 * The supervising process's own metrics (aggregator.instances > 1), served with its workers'
 * metrics, which it labels `worker`.
 */
export function createSupervisorMetrics(registry = new Registry()) {
  return {
    registry,
    workers: new Gauge({ name: 'tp_agg_workers', help: 'Aggregator worker processes this service runs (aggregator.instances)', registers: [registry] }),
    workerReady: new Gauge({ name: 'tp_agg_worker_ready', help: 'Whether the aggregator worker answers /readyz with 200 (1) or not (0)', labelNames: ['worker'], registers: [registry] }),
    workerRestarts: new Counter({ name: 'tp_agg_worker_restarts_total', help: 'Aggregator workers that exited on their own and were restarted by the service', labelNames: ['worker'], registers: [registry] }),
    maintenance: createMaintenanceMetrics(registry),
  };
}

/**
 * The scheduled rollup refresh and retention (src/aggregator/maintenance.ts), in whichever process
 * runs them: the single-process service, or the parent of a multi-worker one (never its workers).
 * Every series is labelled, so a process that does not run them exposes none.
 */
export function createMaintenanceMetrics(registry: Registry) {
  return {
    refreshRuns: new Counter({ name: 'tp_agg_rollup_refresh_total', help: "Scheduled rollup refreshes of a pipeline by outcome (success, failure: retries exhausted; the next interval tries again)", labelNames: ['pipeline', 'outcome'], registers: [registry] }),
    refreshRetries: new Counter({ name: 'tp_agg_rollup_refresh_retries_total', help: 'Attempts of a scheduled rollup refresh that failed and were retried', labelNames: ['pipeline'], registers: [registry] }),
    refreshSeconds: new Histogram({ name: 'tp_agg_rollup_refresh_duration_seconds', help: "Time of one scheduled rollup refresh of a pipeline's rollup tables (with retries)", labelNames: ['pipeline'], buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers: [registry] }),
    refreshLastSuccess: new Gauge({ name: 'tp_agg_rollup_refresh_last_success_timestamp_seconds', help: "When a scheduled refresh last brought the pipeline's rollup tables up to date (Unix seconds)", labelNames: ['pipeline'], registers: [registry] }),
    refreshHours: new Counter({ name: 'tp_agg_rollup_refresh_hours_total', help: 'Changed hours a scheduled refresh rebuilt, by rollup level', labelNames: ['pipeline', 'level'], registers: [registry] }),
    retentionRuns: new Counter({ name: 'tp_agg_retention_runs_total', help: 'Scheduled retention runs by outcome (success, failure: retries exhausted; the next interval tries again)', labelNames: ['outcome'], registers: [registry] }),
    retentionActions: new Counter({ name: 'tp_agg_retention_actions_total', help: 'Changes a scheduled retention run made: ttl (a table TTL set) or drop_partition (an expired partition dropped, 18.16)', labelNames: ['kind'], registers: [registry] }),
    retentionLastSuccess: new Gauge({ name: 'tp_agg_retention_last_success_timestamp_seconds', help: 'When scheduled retention last ran to completion (Unix seconds), by mechanism (ttl, partition_drop)', labelNames: ['mechanism'], registers: [registry] }),
  };
}

export type MaintenanceMetrics = ReturnType<typeof createMaintenanceMetrics>;
