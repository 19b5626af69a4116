import type { PipelineConfig, WindowConfig } from '../config/schema.ts';
import { bucketsOf, histogramQuantile } from './histogram.ts';
import { sumRates, type StatusHistory } from './history.ts';
import type { BridgeView, DeadLetterView, GroupView, PipelineView, StageRate, StatusData } from './model.ts';
import {
  AGG_E2E,
  AGG_READINGS,
  AGG_ROWS_INSERTED,
  EDGE_DEAD_LETTERS,
  EDGE_PUBLISHED,
  EDGE_RECEIVED,
  EDGE_REJECTED,
  counterKey,
  ownedLag,
  type BridgeScrape,
  type Observation,
  type RunnerSnapshot,
} from './observation.ts';
import { hasSeries, sumBy, sumOf, type Sample } from './samples.ts';

/** What the view needs to know about the deployment besides the observation. */
export interface StatusSettings {
  readonly instance: string;
  readonly slaP95Ms: number;
  readonly p95WindowMs: number;
  readonly readingsTopic: string;
  readonly partitions: number;
  /** kafka.security.protocol: how this instance reaches Kafka. */
  readonly kafkaProtocol: 'sasl_ssl' | 'ssl' | 'plaintext';
  /** The Kafka client id prefix: a consumer's client id is `<prefix>-<pipeline>-<instance>`. */
  readonly clientIdPrefix: string;
  readonly pipelines: readonly PipelineConfig[];
}

/** Builds the answer of GET /status/data from the latest observation and the history it was recorded into. */
export function buildStatus(observation: Observation, history: StatusHistory, settings: StatusSettings): StatusData {
  const point = history.latest();
  const rate = (key: string): number | null => (point ? sumRates(point, [key]) : null);
  const bridgeUrls = observation.bridges.map((bridge) => bridge.url);
  const bridgeKeys = (stage: 'received' | 'published') => bridgeUrls.map((url) => counterKey(stage, url));
  const reachable = observation.bridges.filter((bridge) => bridge.samples !== null);
  const bridgeTotal = (name: string): number | null =>
    reachable.length === 0 ? null : reachable.reduce((sum, bridge) => sum + sumOf(bridge.samples!, name), 0);

  const stages: StageRate[] = [
    { stage: 'received', label: 'bridges received', pipeline: null, total: bridgeTotal(EDGE_RECEIVED), perSecond: point ? sumRates(point, bridgeKeys('received')) : null },
    { stage: 'published', label: 'bridges published', pipeline: null, total: bridgeTotal(EDGE_PUBLISHED), perSecond: point ? sumRates(point, bridgeKeys('published')) : null },
  ];
  for (const runner of observation.runners) {
    const match = { pipeline: runner.pipeline };
    stages.push(
      { stage: 'consumed', label: `${runner.pipeline} consumed`, pipeline: runner.pipeline, total: sumOf(observation.aggregator, AGG_READINGS, match), perSecond: rate(counterKey('consumed', runner.pipeline)) },
      { stage: 'inserted', label: `${runner.pipeline} rows inserted`, pipeline: runner.pipeline, total: sumOf(observation.aggregator, AGG_ROWS_INSERTED, match), perSecond: rate(counterKey('inserted', runner.pipeline)) },
    );
  }
  const throughputSeries = new Map<string, string[]>([
    ['bridges received', bridgeKeys('received')],
    ['bridges published', bridgeKeys('published')],
  ]);
  for (const runner of observation.runners) {
    throughputSeries.set(`${runner.pipeline} consumed`, [counterKey('consumed', runner.pipeline)]);
    throughputSeries.set(`${runner.pipeline} rows inserted`, [counterKey('inserted', runner.pipeline)]);
  }

  return {
    generatedAt: observation.at,
    instance: settings.instance,
    slaP95Ms: settings.slaP95Ms,
    p95WindowMs: settings.p95WindowMs,
    topology: {
      readingsTopic: settings.readingsTopic,
      partitions: settings.partitions,
      kafkaProtocol: settings.kafkaProtocol,
      bridges: observation.bridges.map((bridge) => bridgeView(bridge, point ? (key: string) => sumRates(point, [key]) : () => null)),
      groups: observation.runners.map((runner) => groupView(runner, observation, settings)),
      groupsError: observation.groupsError,
    },
    stages,
    pipelines: observation.runners.map((runner) => pipelineView(runner, observation, settings, point?.p95Ms.get(runner.pipeline) ?? null)),
    deadLetters: deadLetterView(observation),
    history: history.view(throughputSeries),
  };
}

function bridgeView(bridge: BridgeScrape, rate: (key: string) => number | null): BridgeView {
  const samples = bridge.samples;
  if (!samples) {
    return { url: bridge.url, up: false, tls: null, error: bridge.error, state: null, mqttConnected: null, inFlight: null, received: null, published: null, receivedPerSecond: null, publishedPerSecond: null, clockOffsetSeconds: null, clockOffsetBoundSeconds: null, sparkplug: null };
  }
  const state = samples.find((sample) => sample.name === 'tp_edge_state' && sample.value === 1)?.labels['state'] ?? null;
  return {
    url: bridge.url,
    up: true,
    tls: hasSeries(samples, 'tp_edge_tls_enabled') ? sumOf(samples, 'tp_edge_tls_enabled') > 0 : null,
    error: null,
    state,
    mqttConnected: hasSeries(samples, 'tp_edge_mqtt_connected') ? sumOf(samples, 'tp_edge_mqtt_connected') === 1 : null,
    inFlight: hasSeries(samples, 'tp_edge_records_in_flight') ? sumOf(samples, 'tp_edge_records_in_flight') : null,
    received: sumOf(samples, EDGE_RECEIVED),
    published: sumOf(samples, EDGE_PUBLISHED),
    receivedPerSecond: rate(counterKey('received', bridge.url)),
    publishedPerSecond: rate(counterKey('published', bridge.url)),
    clockOffsetSeconds: measured(samples, 'tp_edge_clock_offset_seconds'),
    clockOffsetBoundSeconds: measured(samples, 'tp_edge_clock_offset_bound_seconds'),
    sparkplug: hasSeries(samples, 'tp_edge_sparkplug_edge_nodes')
      ? { nodes: byLabel(samples, 'tp_edge_sparkplug_edge_nodes', 'state'), devices: byLabel(samples, 'tp_edge_sparkplug_devices', 'state') }
      : null,
  };
}

/** A gauge's values by one label (e.g. Sparkplug nodes by state). */
function byLabel(samples: readonly Sample[], name: string, label: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const sample of samples) {
    const key = sample.labels[label];
    if (sample.name === name && key !== undefined) values[key] = (values[key] ?? 0) + sample.value;
  }
  return values;
}

/** A gauge's value, or null when the bridge does not export it or has not measured it yet (NaN). */
function measured(samples: readonly Sample[], name: string): number | null {
  const value = samples.find((sample) => sample.name === name)?.value;
  return value === undefined || Number.isNaN(value) ? null : value;
}

function groupView(runner: RunnerSnapshot, observation: Observation, settings: StatusSettings): GroupView {
  const config = settings.pipelines.find((pipeline) => pipeline.name === runner.pipeline);
  const group = config?.consumerGroup ?? '';
  const self = { instance: settings.instance, host: 'this instance', self: true, partitions: [...runner.partitions] };
  const described = observation.groups?.find((entry) => entry.pipeline === runner.pipeline);
  if (!described) return { pipeline: runner.pipeline, tier: runner.tier, group, members: [self] };
  const prefix = `${settings.clientIdPrefix}-${runner.pipeline}-`;
  const members = described.members.map((member) => {
    const instance = member.clientId.startsWith(prefix) ? member.clientId.slice(prefix.length) : member.clientId;
    // This instance reports the partitions it has restored and owns; the group, what it was assigned.
    return instance === settings.instance ? self : { instance, host: member.host, self: false, partitions: [...member.partitions].sort((a, b) => a - b) };
  });
  if (!members.some((member) => member.self)) members.unshift(self);
  return { pipeline: runner.pipeline, tier: runner.tier, group: described.group, members: members.sort((a, b) => a.instance.localeCompare(b.instance)) };
}

function pipelineView(runner: RunnerSnapshot, observation: Observation, settings: StatusSettings, p95Ms: number | null): PipelineView {
  const config = settings.pipelines.find((pipeline) => pipeline.name === runner.pipeline);
  const samples = observation.aggregator;
  const match = { pipeline: runner.pipeline };
  const lag = ownedLag(observation, runner);
  const sinceStart = histogramQuantile(0.95, bucketsOf(samples, AGG_E2E, match));
  const gauge = (name: string): number | null => (samples.some((sample) => sample.name === name && sample.labels['pipeline'] === runner.pipeline) ? sumOf(samples, name, match) : null);
  return {
    name: runner.pipeline,
    tier: runner.tier,
    state: runner.state,
    error: runner.error,
    window: config ? describeWindow(config.window) : '',
    watermarkKind: config?.watermark.kind ?? '',
    partitions: [...runner.partitions],
    lag,
    lagTotal: lag.reduce((sum, entry) => sum + entry.lag, 0),
    watermarkDelayMs: gauge('tp_agg_watermark_delay_ms'),
    watermarkLagSeconds: gauge('tp_agg_watermark_lag_seconds'),
    openWindows: gauge('tp_agg_open_windows'),
    readings: sumOf(samples, AGG_READINGS, match),
    rowsInserted: sumOf(samples, AGG_ROWS_INSERTED, match),
    p95Ms,
    p95SinceStartMs: sinceStart === null ? null : sinceStart * 1000,
    late: Object.fromEntries(sumBy(samples, 'tp_agg_late_values_total', 'outcome', match)),
  };
}

function describeWindow(window: WindowConfig): string {
  switch (window.kind) {
    case 'tumbling':
      return `tumbling ${window.sizeMs} ms`;
    case 'sliding':
      return `sliding ${window.sizeMs} ms every ${window.slideMs} ms`;
    case 'session':
      return `session, gap ${window.gapMs} ms`;
  }
}

function deadLetterView(observation: Observation): DeadLetterView {
  const byReason = new Map<string, number>();
  let published = 0;
  for (const bridge of observation.bridges) {
    if (!bridge.samples) continue;
    for (const [reason, count] of sumBy(bridge.samples, EDGE_REJECTED, 'reason')) byReason.set(reason, (byReason.get(reason) ?? 0) + count);
    published += sumOf(bridge.samples, EDGE_DEAD_LETTERS);
  }
  const decodeErrors = sumBy(observation.aggregator, 'tp_agg_decode_errors_total', 'reason');
  return { byReason: sortedCounts(byReason), published, decodeErrors: sortedCounts(decodeErrors) };
}

/** Non-zero counts, largest first (the bridges pre-create a zero series for every reason). */
function sortedCounts(counts: ReadonlyMap<string, number>): { reason: string; count: number }[] {
  return [...counts].filter(([, count]) => count > 0).map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
}
