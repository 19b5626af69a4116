import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { REPO_ROOT } from '../../deploy/render.ts';
import {
  DASHBOARD_FILE,
  RULES_FILE,
  STAGE_ROWS,
  checkCommittedFiles,
  checkDashboardStructure,
  checkExpressions,
  dashboardExpressions,
  exposedSeries,
  references,
  ruleExpressions,
  type Dashboard,
} from '../../deploy/validate/observability.ts';

/** The dashboard JSON as loosely typed as a test that edits it needs. */
type EditableDashboard = Omit<Dashboard, 'panels'> & { panels: Record<string, any>[] };
const dashboard = (): EditableDashboard => JSON.parse(readFileSync(join(REPO_ROOT, DASHBOARD_FILE), 'utf8')) as EditableDashboard;
const rules = () => ruleExpressions(parseYaml(readFileSync(join(REPO_ROOT, RULES_FILE), 'utf8')));

test('the committed dashboard and rules name only metrics and labels the services register', () => {
  const { problems, checked } = checkCommittedFiles(REPO_ROOT);
  assert.deepEqual(problems, []);
  assert.equal(checked.length, 3, checked.join("\n"));
});

test('the dashboard imports into current Grafana: schema 39+, datasource variable, unique ids, grid positions', () => {
  const board = dashboard();
  assert.deepEqual(checkDashboardStructure(board as Dashboard), []);
  assert.ok((board.schemaVersion as number) >= 39);
  const ids = board.panels.map((panel) => panel['id']);
  assert.equal(new Set(ids).size, ids.length);
});

test('each stage has a row with panels under it, in the order the data flows', () => {
  const board = dashboard();
  const rowIndexes = STAGE_ROWS.map((title) => board.panels.findIndex((panel) => panel['type'] === 'row' && panel['title'] === title));
  assert.ok(rowIndexes.every((index) => index >= 0), `rows: ${JSON.stringify(rowIndexes)}`);
  assert.deepEqual([...rowIndexes].sort((a, b) => a - b), rowIndexes);
  rowIndexes.forEach((index, position) => {
    const next = rowIndexes[position + 1] ?? board.panels.length;
    assert.ok(next - index > 1, `row ${STAGE_ROWS[position]} has no panel`);
  });
});

test('the SLA row draws the 10 s threshold on the end-to-end P95', () => {
  const sla = dashboard().panels.find((panel) => String(panel['title']).startsWith('End-to-end latency P95'));
  assert.ok(sla);
  assert.match(sla['targets'][0].expr, /histogram_quantile\(0\.95, .*tp_agg_e2e_latency_seconds_bucket/);
  assert.deepEqual(sla['fieldConfig'].defaults.thresholds.steps.at(-1), { color: 'red', value: 10 });
});

test('the checker catches an unknown metric, a wrong label, a repeated id and a missing grid position', () => {
  const board = dashboard();
  const [first, second] = board.panels.filter((panel) => panel['type'] !== 'row');
  assert.ok(first && second);
  first['targets'][0].expr = 'sum(rate(tp_edge_readings_recieved_total[5m]))';
  second['targets'][0].expr = 'sum by (pipline) (tp_agg_consumer_lag{partiton="0"})';
  second['id'] = first['id'];
  delete first['gridPos'];
  const series = exposedSeries();
  const problems = [
    ...checkDashboardStructure(board as Dashboard),
    ...checkExpressions(dashboardExpressions(board as Dashboard), series, rules().recordingRules),
  ].join('\n');
  assert.match(problems, /metric tp_edge_readings_recieved_total is not registered/);
  assert.match(problems, /tp_agg_consumer_lag has no label 'partiton'/);
  assert.match(problems, /groups by 'pipline'/);
  assert.match(problems, /id repeats/);
  assert.match(problems, /gridPos needs h, w, x and y/);
});

test('a rule that names a recording rule nobody defines is caught', () => {
  const { recordingRules } = rules();
  const problems = checkExpressions([{ where: 'rule X', expr: 'pipeline_tier:tp_agg_consumer_lag:avg > 1' }], exposedSeries(), recordingRules);
  assert.deepEqual(problems, [`rule X: recording rule pipeline_tier:tp_agg_consumer_lag:avg is not defined in ${RULES_FILE}`]);
});

test('histograms are known by their series (_bucket with le, _sum, _count), functions and strings are not metrics', () => {
  const found = references('histogram_quantile(0.95, sum by (le) (rate(tp_edge_ack_latency_seconds_bucket{source="mqtt"}[$__rate_interval])))');
  assert.deepEqual([...found.metrics], ['tp_edge_ack_latency_seconds_bucket']);
  assert.deepEqual(found.grouping, ['le']);
  assert.deepEqual(checkExpressions([{ where: 'q', expr: 'sum by (le) (rate(tp_edge_ack_latency_seconds_bucket{source="mqtt"}[5m]))' }], exposedSeries(), new Set()), []);
});
