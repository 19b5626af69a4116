import { Registry, collectDefaultMetrics } from 'prom-client';
import { createEdgeMetrics } from '../../edge/metrics.ts';
import { createAggregatorMetrics } from '../../src/aggregator/metrics.ts';

/**
 * docs/reference/metrics.md, generated from the registries the services serve at /metrics, so that
 * a metric added, renamed or re-described in code shows up as a stale page in the unit tests.
 */
export const METRICS_PAGE = 'docs/reference/metrics.md';

export interface MetricEntry {
  readonly name: string;
  readonly type: string;
  readonly labels: readonly string[];
  readonly help: string;
}

interface Service {
  readonly title: string;
  readonly where: string;
  readonly defaultsPrefix: string;
  readonly registry: () => Registry;
}

const SERVICES: readonly Service[] = [
  { title: 'Bridge (`tp_edge_`)', where: '`GET /metrics` on `edge.httpHost:edge.httpPort`', defaultsPrefix: 'tp_edge_', registry: () => createEdgeMetrics(() => 0).registry },
  { title: 'Aggregator (`tp_agg_`)', where: '`GET /metrics` on `aggregator.metricsHost:aggregator.metricsPort`', defaultsPrefix: 'tp_agg_process_', registry: () => createAggregatorMetrics().registry },
];

/** Metrics a service registers itself, without prom-client's default process metrics. */
export function serviceMetrics(service: Service): MetricEntry[] {
  const registry = service.registry();
  const defaults = defaultMetricNames(service.defaultsPrefix);
  const entries = registry
    .getMetricsAsArray()
    .map((metric) => metric as unknown as { name: string; help: string; type?: string; labelNames?: readonly string[] })
    .filter((metric) => !defaults.has(metric.name))
    .map((metric) => ({ name: metric.name, type: String(metric.type ?? 'untyped'), labels: [...(metric.labelNames ?? [])], help: metric.help }));
  registry.clear();
  return entries;
}

/** Every metric name the services register, their own and the default ones. */
export function registeredMetricNames(): string[] {
  return SERVICES.flatMap((service) => {
    const registry = service.registry();
    const names = registry.getMetricsAsArray().map((metric) => (metric as unknown as { name: string }).name);
    registry.clear();
    return names;
  });
}

function defaultMetricNames(prefix: string): Set<string> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix });
  const names = new Set(registry.getMetricsAsArray().map((metric) => (metric as unknown as { name: string }).name));
  registry.clear();
  return names;
}

export function metricsReferencePage(): string {
  const lines = [
    '# Metrics reference',
    '',
    '<!-- Generated from edge/metrics.ts and src/aggregator/metrics.ts by docs/tools/metrics.ts (node --import tsx docs/render.ts); do not edit by hand. -->',
    '',
    'Every process serves Prometheus text at `GET /metrics`. Aggregator metrics carry the labels',
    '`pipeline` and `tier`, so that several pipelines in one deployment show apart. Alerts and recording',
    'rules built on them: [alerts](../operations/alerts.md).',
  ];
  for (const service of SERVICES) {
    lines.push('', `## ${service.title}`, '', `Served at ${service.where}.`, '', '| metric | type | labels | meaning |', '| --- | --- | --- | --- |');
    for (const metric of serviceMetrics(service)) {
      const labels = metric.labels.length > 0 ? metric.labels.map((label) => `\`${label}\``).join(', ') : '—';
      lines.push(`| \`${metric.name}\` | ${metric.type} | ${labels} | ${metric.help.replace(/\|/g, '\\|').replace(/</g, '&lt;')} |`);
    }
    lines.push(
      '',
      `Plus prom-client's default process metrics, prefixed \`${service.defaultsPrefix}\` (CPU, resident memory, open file descriptors, event-loop lag, heap spaces, GC durations).`,
    );
  }
  return `${lines.join('\n')}\n`;
}
