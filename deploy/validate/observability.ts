import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createEdgeMetrics } from '../../edge/metrics.ts';
import { createAggregatorMetrics } from '../../src/aggregator/metrics.ts';
import { loadConfig } from '../../src/config/load.ts';
import { parseCommandLine } from '../../src/util/args.ts';
import { schemaLayout } from '../../src/clickhouse/migrations.ts';
import { CLICKHOUSE_18_16 } from '../../src/clickhouse/capabilities.ts';
import { AGGREGATES_DASHBOARD_FILE, aggregatesQueries, checkAggregatesDashboard, readAggregatesDashboard } from './aggregates-dashboard.ts';

/**
 * Keeps the dashboard and the Prometheus rules honest against the code: every metric an
 * expression names must be one the bridge or the aggregator registers (taken from their
 * registries, default process metrics included), every label it filters or groups by must be one
 * of that metric's labels, and the dashboard must be importable (schema version, datasource
 * variable, unique panel ids, grid positions).
 *
 *   node --import tsx deploy/validate/observability.ts [--promql-rules FILE]
 *
 * checks the committed files and exits 1 on a problem; with --promql-rules it also writes the
 * dashboard's queries (Grafana variables replaced) as a rule file, for `promtool check rules` to
 * parse them as PromQL.
 */
export const DASHBOARD_FILE = 'deploy/grafana/telemetry-pipeline.json';
export const RULES_FILE = 'deploy/prometheus/rules.yml';
export const STAGE_ROWS = ['Devices / MQTT', 'Edge bridge', 'Kafka', 'Aggregator', 'ClickHouse sink', 'SLA'] as const;

/** Labels every scraped series carries, whatever the metric. */
const TARGET_LABELS = ['job', 'instance'];
/** Series Prometheus itself produces. */
const PROMETHEUS_SERIES: ReadonlyMap<string, readonly string[]> = new Map([['up', TARGET_LABELS]]);

export interface Expression {
  readonly where: string;
  readonly expr: string;
}

/** Series name → label names, as the services expose them (histograms expand to _bucket, _sum, _count). */
export function exposedSeries(): Map<string, readonly string[]> {
  const series = new Map<string, readonly string[]>(PROMETHEUS_SERIES);
  const registries = [createEdgeMetrics(() => 0).registry, createAggregatorMetrics().registry];
  for (const registry of registries) {
    for (const metric of registry.getMetricsAsArray()) {
      const { name, labelNames = [] } = metric as unknown as { name: string; labelNames?: string[] };
      const labels = [...TARGET_LABELS, ...labelNames];
      if (metric.constructor.name === 'Histogram') {
        series.set(`${name}_bucket`, [...labels, 'le']);
        series.set(`${name}_sum`, labels);
        series.set(`${name}_count`, labels);
      } else {
        series.set(name, labels);
      }
    }
    registry.clear();
  }
  return series;
}

const IDENTIFIER = /[A-Za-z_:][A-Za-z0-9_:]*/g;
const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset',
  'rate', 'irate', 'increase', 'delta', 'idelta', 'deriv', 'histogram_quantile', 'abs', 'clamp_min', 'clamp_max',
  'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time', 'last_over_time', 'absent', 'vector', 'scalar',
  'time', 'label_replace', 'round', 'inf', 'nan',
]);

/** Metric names and the label names used with them in one PromQL expression. */
export function references(expr: string): { metrics: Set<string>; matchers: Map<string, string[]>; grouping: string[] } {
  const matchers = new Map<string, string[]>();
  for (const match of expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}/g)) {
    const labels = [...match[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
    matchers.set(match[1]!, [...(matchers.get(match[1]!) ?? []), ...labels]);
  }
  const grouping = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
    m[1]!.split(',').map((label) => label.trim()).filter(Boolean),
  );
  // What is left once strings, selectors, ranges and groupings are gone is metric names, functions and numbers.
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$[A-Za-z_]+/g, ' ')
    .replace(/\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b/gi, ' ');
  const metrics = new Set([...bare.matchAll(IDENTIFIER)].map((m) => m[0]).filter((word) => !PROMQL_WORDS.has(word)));
  for (const name of matchers.keys()) metrics.add(name);
  return { metrics, matchers, grouping };
}

/** Problems with the expressions: unknown metrics, unknown recording rules, labels a metric does not have. */
export function checkExpressions(
  expressions: readonly Expression[],
  series: ReadonlyMap<string, readonly string[]>,
  recordingRules: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const { where, expr } of expressions) {
    const { metrics, matchers, grouping } = references(expr);
    if (metrics.size === 0) problems.push(`${where}: names no metric`);
    const labels = new Set<string>();
    let usesRecordingRule = false;
    for (const metric of metrics) {
      if (metric.includes(':')) {
        usesRecordingRule = true;
        if (!recordingRules.has(metric)) problems.push(`${where}: recording rule ${metric} is not defined in ${RULES_FILE}`);
        continue;
      }
      const known = series.get(metric);
      if (!known) {
        problems.push(`${where}: metric ${metric} is not registered by edge/metrics.ts or src/aggregator/metrics.ts`);
        continue;
      }
      known.forEach((label) => labels.add(label));
      for (const label of matchers.get(metric) ?? []) {
        if (!known.includes(label)) problems.push(`${where}: ${metric} has no label '${label}' (it has ${known.join(', ')})`);
      }
    }
    if (!usesRecordingRule) {
      for (const label of grouping) {
        if (!labels.has(label)) problems.push(`${where}: groups by '${label}', a label none of its metrics has`);
      }
    }
  }
  return problems;
}

interface Panel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  gridPos?: { h?: unknown; w?: unknown; x?: unknown; y?: unknown };
  datasource?: unknown;
  targets?: { expr?: unknown; refId?: unknown }[];
  panels?: Panel[];
}

export interface Dashboard {
  schemaVersion?: unknown;
  uid?: unknown;
  title?: unknown;
  templating?: { list?: { name?: unknown; type?: unknown; query?: unknown }[] };
  panels?: Panel[];
}

function allPanels(dashboard: Dashboard): Panel[] {
  return (dashboard.panels ?? []).flatMap((panel) => [panel, ...(panel.panels ?? [])]);
}

export function dashboardExpressions(dashboard: Dashboard): Expression[] {
  return allPanels(dashboard).flatMap((panel) =>
    (panel.targets ?? []).map((target, index) => ({ where: `panel ${String(panel.id)} "${String(panel.title)}" target ${index}`, expr: String(target.expr ?? '') })),
  );
}

/** Structure Grafana needs to import the dashboard, and the layout this project promises. */
export function checkDashboardStructure(dashboard: Dashboard): string[] {
  const problems: string[] = [];
  if (typeof dashboard.schemaVersion !== 'number' || dashboard.schemaVersion < 39) problems.push(`schemaVersion is ${String(dashboard.schemaVersion)}; current Grafana needs 39 or later`);
  if (typeof dashboard.uid !== 'string' || dashboard.uid === '') problems.push('uid is missing');
  const variables = dashboard.templating?.list ?? [];
  const datasourceVariable = variables.find((variable) => variable.type === 'datasource' && variable.query === 'prometheus');
  if (!datasourceVariable) problems.push('no Prometheus datasource template variable');
  const datasourceRef = `\${${String(datasourceVariable?.name ?? 'DS_PROMETHEUS')}}`;
  const ids = new Set<unknown>();
  for (const panel of allPanels(dashboard)) {
    const what = `panel ${String(panel.id)} "${String(panel.title)}"`;
    if (typeof panel.id !== 'number') problems.push(`${what}: id is not a number`);
    if (ids.has(panel.id)) problems.push(`${what}: id repeats`);
    ids.add(panel.id);
    const grid = panel.gridPos;
    if (!grid || ![grid.h, grid.w, grid.x, grid.y].every((value) => typeof value === 'number')) problems.push(`${what}: gridPos needs h, w, x and y`);
    else if ((grid.x as number) + (grid.w as number) > 24) problems.push(`${what}: reaches past the 24 grid columns`);
    if (panel.type === 'row') continue;
    if (!panel.targets || panel.targets.length === 0) problems.push(`${what}: has no query`);
    const uid = (panel.datasource as { uid?: unknown } | undefined)?.uid;
    if (uid !== datasourceRef) problems.push(`${what}: datasource is ${JSON.stringify(panel.datasource)}, not the ${datasourceRef} variable`);
  }
  const rows = allPanels(dashboard).filter((panel) => panel.type === 'row').map((panel) => panel.title);
  for (const stage of STAGE_ROWS) if (!rows.includes(stage)) problems.push(`no row for the stage '${stage}'`);
  return problems;
}

interface RuleFile {
  groups?: { name?: string; rules?: { record?: string; alert?: string; expr?: string }[] }[];
}

export function ruleExpressions(rules: RuleFile): { expressions: Expression[]; recordingRules: Set<string> } {
  const expressions: Expression[] = [];
  const recordingRules = new Set<string>();
  for (const group of rules.groups ?? []) {
    for (const rule of group.rules ?? []) {
      if (rule.record) recordingRules.add(rule.record);
      expressions.push({ where: `rule ${rule.record ?? rule.alert ?? '?'}`, expr: String(rule.expr ?? '') });
    }
  }
  return { expressions, recordingRules };
}

export function checkCommittedFiles(root: string): { checked: string[]; problems: string[] } {
  const dashboard = JSON.parse(readFileSync(join(root, DASHBOARD_FILE), 'utf8')) as Dashboard;
  const rules = parseYaml(readFileSync(join(root, RULES_FILE), 'utf8')) as RuleFile;
  const series = exposedSeries();
  const { expressions, recordingRules } = ruleExpressions(rules);
  const panelExpressions = dashboardExpressions(dashboard);
  const problems = [
    ...checkDashboardStructure(dashboard).map((problem) => `${DASHBOARD_FILE}: ${problem}`),
    ...checkExpressions(panelExpressions, series, recordingRules).map((problem) => `${DASHBOARD_FILE}: ${problem}`),
    ...checkExpressions(expressions, series, recordingRules).map((problem) => `${RULES_FILE}: ${problem}`),
  ];
  // The aggregates dashboard reads the tables the example configuration's schema has.
  const aggregates = readAggregatesDashboard(root);
  const layout = schemaLayout(loadConfig({ file: join(root, 'deploy/config/pipeline.example.yaml'), env: {} }), CLICKHOUSE_18_16);
  problems.push(...checkAggregatesDashboard(aggregates, layout).map((problem) => `${AGGREGATES_DASHBOARD_FILE}: ${problem}`));
  return {
    checked: [
      `${AGGREGATES_DASHBOARD_FILE}: ${aggregatesQueries(aggregates).length} SQL queries, each reading tables of the schema`,
      `${DASHBOARD_FILE}: ${allPanels(dashboard).length} panels, ${panelExpressions.length} queries against ${series.size} exposed series`,
      `${RULES_FILE}: ${expressions.length} rules against ${series.size} exposed series`,
    ],
    problems,
  };
}

/** The dashboard's queries as recording rules, with Grafana's variables given values PromQL accepts. */
export function dashboardQueriesAsRules(dashboard: Dashboard): string {
  const rules = dashboardExpressions(dashboard).map((expression, index) => ({
    record: `dashboard:query_${index}`,
    expr: expression.expr.replace(/\$__rate_interval/g, '5m').replace(/\$pipeline/g, '.*'),
  }));
  return stringifyYaml({ groups: [{ name: 'dashboard-queries', rules }] });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = join(fileURLToPath(import.meta.url), '../../..');
  const { checked, problems } = checkCommittedFiles(root);
  const rulesOut = parseCommandLine('observability', process.argv.slice(2), { 'promql-rules': { type: 'string' } })['promql-rules'];
  if (rulesOut !== undefined) {
    const dashboard = JSON.parse(readFileSync(join(root, DASHBOARD_FILE), 'utf8')) as Dashboard;
    writeFileSync(rulesOut, dashboardQueriesAsRules(dashboard));
  }
  for (const problem of problems) process.stdout.write(`FAIL  ${problem}\n`);
  if (problems.length === 0) for (const line of checked) process.stdout.write(`ok    ${line}\n`);
  process.exitCode = problems.length > 0 ? 1 : 0;
}
