import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

/**
 * docs/operations/alerts.md, generated from deploy/prometheus/rules.yml: every alert with its
 * severity, delay, meaning and the runbook to follow. An alert without a runbook here fails the
 * unit tests, so a new alert cannot ship without one.
 */
export const ALERTS_PAGE = 'docs/operations/alerts.md';
export const RULES_FILE = 'deploy/prometheus/rules.yml';

/** Runbook of each alert, relative to docs/operations/. */
export const RUNBOOKS: Readonly<Record<string, string>> = {
  TelemetryTargetDown: 'runbooks/restore-from-checkpoint.md',
  TelemetryConsumerLagHigh: 'runbooks/consumer-lag.md',
  TelemetryConsumerLagCritical: 'runbooks/consumer-lag.md',
  TelemetryWatermarkLagHigh: 'runbooks/consumer-lag.md#watermark-lag',
  TelemetryWatermarkStalled: 'runbooks/consumer-lag.md#watermark-lag',
  TelemetryE2ELatencyBudgetBurnFast: 'runbooks/consumer-lag.md',
  TelemetryE2ELatencyBudgetBurnSlow: 'runbooks/consumer-lag.md',
  TelemetryDeadLetterRateHigh: 'runbooks/dead-letter-replay.md',
  TelemetryClickHouseInsertFailed: 'runbooks/clickhouse-down.md',
  TelemetryClickHouseInsertRetrying: 'runbooks/clickhouse-down.md',
  TelemetryAggregatorCommitRefused: 'runbooks/restore-from-checkpoint.md',
  TelemetryBridgeInFlightNearLimit: 'runbooks/kafka-broker-down.md',
  TelemetryBridgeSaturated: 'runbooks/kafka-broker-down.md',
  TelemetryBridgeKafkaUnavailable: 'runbooks/kafka-broker-down.md',
  TelemetryBridgeNotAcknowledging: 'runbooks/kafka-broker-down.md',
  TelemetryBridgeKafkaErrors: 'runbooks/kafka-broker-down.md',
  TelemetryBridgeClockOffset: 'runbooks/bridge-clock-offset.md',
};

export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: { readonly severity?: string };
  readonly annotations?: { readonly summary?: string; readonly description?: string };
}

export function alertRules(root: string): AlertRule[] {
  const rules = parseYaml(readFileSync(join(root, RULES_FILE), 'utf8')) as { groups: Array<{ rules: Array<Partial<AlertRule>> }> };
  return rules.groups.flatMap((group) => group.rules).filter((rule): rule is AlertRule => typeof rule.alert === 'string');
}

/** Prometheus templates as plain words: `{{ $labels.pipeline }}` → *pipeline*, `{{ $value | … }}` → *value*. */
function untemplate(text: string): string {
  return text
    .replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, '*$1*')
    .replace(/\{\{\s*\$value[^}]*\}\}/g, '*value*')
    .replace(/\|/g, '\\|')
    .replace(/</g, '&lt;')
    .replace(/\s+/g, ' ')
    .trim();
}

export function alertsPage(root: string): string {
  const rows = alertRules(root).map((rule) => {
    const runbook = RUNBOOKS[rule.alert];
    const link = runbook ? `[runbook](${runbook})` : '—';
    return `| \`${rule.alert}\` | ${rule.labels?.severity ?? '—'} | ${rule.for ?? '0s'} | ${untemplate(rule.annotations?.description ?? rule.annotations?.summary ?? '')} | ${link} |`;
  });
  return [
    '# Alerts',
    '',
    '<!-- Generated from deploy/prometheus/rules.yml by docs/tools/alerts.ts (node --import tsx docs/render.ts); do not edit by hand. -->',
    '',
    'The alert and recording rules live in [`deploy/prometheus/rules.yml`](../../deploy/prometheus/rules.yml)',
    '(unit-tested with `promtool test rules` by `npm run validate:deploy`); on Kubernetes they are rendered',
    'into a PrometheusRule. The end-to-end SLA is P95 ≤ 10 s per window, so its error budget is 5 % of',
    'windows slower than 10 s; the burn-rate alerts compare a long and a short window against it.',
    'Metric names: [metrics reference](../reference/metrics.md).',
    '',
    '| alert | severity | for | meaning | what to do |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
