import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type } from '@sinclair/typebox';
import { generatedPages } from '../../docs/render.ts';
import { registeredMetricNames, METRICS_PAGE } from '../../docs/tools/metrics.ts';
import { ALERTS_PAGE, RUNBOOKS, alertRules } from '../../docs/tools/alerts.ts';
import { subcommands } from '../../docs/tools/cli.ts';
import { configKeys, undocumentedKeys } from '../../src/config/reference.ts';
import { loadConfig } from '../../src/config/load.ts';
import { REJECTION_REASONS } from '../../src/core/readings.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const REGENERATE = 'regenerate with `node --import tsx docs/render.ts` and commit the page';

test('every configuration key has a meaning', () => {
  assert.deepEqual(undocumentedKeys(), [], 'add a `description` to these keys in src/config/schema.ts');
});

test('the meaning check finds keys without a description, in lists and in kinds too', () => {
  const schema = Type.Object({
    section: Type.Object({ named: Type.String({ description: 'has one' }), bare: Type.Integer() }),
    list: Type.Array(Type.Object({ item: Type.String() }), { description: 'a list' }),
    hidden: Type.String({ description: 'secret' }),
    choice: Type.Union([
      Type.Object({ kind: Type.Literal('a'), size: Type.Integer({ description: 'size' }) }),
      Type.Object({ kind: Type.Literal('b'), size: Type.Integer() }),
    ]),
  });
  assert.deepEqual(undocumentedKeys(schema), ['section.bare', 'list[].item', 'hidden', 'choice.kind', 'choice.size']);
});

test('the configuration reference lists every key of the pipeline list and of each kind', () => {
  const paths = configKeys().map((key) => key.path);
  for (const path of ['aggregator.pipelines[].name', 'aggregator.pipelines[].window.kind', 'aggregator.pipelines[].window.slideMs', 'aggregator.pipelines[].watermark.quantile', 'aggregator.pipelines[].latePolicy.allowedLatenessMs', 'edge.gatewayKeys[].tenant']) {
    assert.ok(paths.includes(path), `${path} is missing from the reference`);
  }
  const secrets = configKeys().filter((key) => key.meaning.startsWith('Secret:'));
  assert.ok(secrets.length >= 3);
  for (const key of secrets) assert.ok(!key.default.includes('bridge-secret') && !key.default.includes('demo-gateway'), `${key.path} prints its secret default`);
});

test('every generated page equals what its generator writes now', async () => {
  for (const [page, expected] of await generatedPages(ROOT)) {
    assert.equal(read(page), expected, `${page} is out of date: ${REGENERATE}`);
  }
});

test('every metric the services register is on the metrics page', () => {
  const page = read(METRICS_PAGE);
  const ownMetrics = registeredMetricNames().filter((name) => !/_(process|nodejs)_/.test(name) && !/^tp_edge_(process|nodejs)_/.test(name));
  assert.ok(ownMetrics.length > 30);
  for (const name of ownMetrics) assert.ok(page.includes(`\`${name}\``), `${name} is not on ${METRICS_PAGE}: ${REGENERATE}`);
});

test('every alert has a runbook, and every runbook entry names an alert', () => {
  const alerts = alertRules(ROOT).map((rule) => rule.alert);
  assert.deepEqual(alerts.filter((alert) => RUNBOOKS[alert] === undefined), [], `add these alerts to RUNBOOKS in docs/tools/alerts.ts`);
  assert.deepEqual(Object.keys(RUNBOOKS).filter((alert) => !alerts.includes(alert)), []);
  assert.match(read(ALERTS_PAGE), /\[runbook\]\(runbooks\/consumer-lag\.md\)/);
});

test('the CLI page lists sub-commands as commander prints them', () => {
  const help = ['Usage: telemetry [options] [command]', '', 'Commands:', '  stack                the local stack', '  migrate [options]    create or update', '                       continued', '  help [command]       display help', ''].join('\n');
  assert.deepEqual(subcommands(help), ['stack', 'migrate']);
});

test('every path and status code the HTTP servers answer with is in the HTTP API reference', () => {
  const page = read('docs/reference/http-api.md');
  const sources = ['edge/http-intake.ts', 'edge/http-answers.ts', 'src/metrics/ops-endpoints.ts', 'src/metrics/ops-server.ts', 'src/aggregator/service.ts', 'src/status/status-page.ts'].map(read).join('\n');
  // Routes are compared with `path === '/…'` or are keys of the `json` / `html` route tables.
  const paths = new Set([...sources.matchAll(/path === '(\/[^']*)'|'(\/[a-z][a-z0-9/_-]*)'\s*:/g)].map((match) => (match[1] ?? match[2])!));
  const statuses = new Set([...sources.matchAll(/(?:status: |send\()(\d{3})\b/g)].map((match) => match[1]!));
  for (const extra of ['/v1/readings', '/metrics', '/healthz', '/readyz', '/status', '/status/', '/status/data']) assert.ok(paths.has(extra), `no longer found in the code: ${extra}`);
  for (const path of paths) assert.ok(page.includes(`\`GET ${path}\``) || page.includes(`\`POST ${path}\``), `${path} is not in docs/reference/http-api.md`);
  for (const status of statuses) assert.ok(new RegExp(`\\| ${status}\\b|\\b${status} \``).test(page), `status ${status} is not in docs/reference/http-api.md`);
});

test('every rejection reason is explained in the readings reference', () => {
  const page = read('docs/reference/readings.md');
  for (const reason of REJECTION_REASONS) assert.ok(page.includes(`| \`${reason}\` |`), `${reason} is not in docs/reference/readings.md`);
});

test('the example configurations the docs link to load', () => {
  for (const file of ['config/pipelines.example.yaml', 'deploy/config/pipeline.example.yaml']) {
    const config = loadConfig({ file: join(ROOT, file), env: {} });
    assert.ok(config.aggregator.pipelines.length >= 1, file);
  }
});
