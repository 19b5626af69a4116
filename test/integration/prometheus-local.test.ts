import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAggregatorMetrics } from '../../src/aggregator/metrics.ts';
import { loadStackConfig } from '../../src/stack/config.ts';
import { startOpsServer } from '../../src/metrics/ops-server.ts';
import { eventually } from '../../src/stack/services.ts';
import { createEdgeMetrics } from '../../edge/metrics.ts';
import { prometheusProcess, startPrometheus, stopPrometheus } from '../../deploy/prometheus/local.ts';
import { runningPid, portIsFree } from '../../src/stack/processes.ts';
import { freePort } from './edge-harness.ts';

/**
 * deploy/prometheus/local.ts against a real Prometheus (Debian's binary): it scrapes the bridge
 * and aggregator jobs of deploy/prometheus/prometheus.yml at the targets given, loads the rules,
 * takes new targets on a second start (reload, same process) and stops by its pid file.
 * The two targets are real operations servers with the services' own metric registries.
 */
const dataDir = mkdtempSync(join(tmpdir(), 'tp-prometheus-test-'));
const stack = loadStackConfig({ env: {}, overrides: { stack: { dataDir } } }).stack;
const servers: Server[] = [];

after(async () => {
  await stopPrometheus(stack);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  rmSync(dataDir, { recursive: true, force: true });
});

async function metricsServer(registry: Parameters<typeof startOpsServer>[0]['registry']): Promise<string> {
  const port = await freePort();
  servers.push(await startOpsServer({ host: '127.0.0.1', port, registry, readiness: () => ({ ready: true, detail: {} }) }));
  return `127.0.0.1:${port}`;
}

interface TargetsAnswer {
  data: { activeTargets: { labels: { job: string; instance: string }; health: string }[] };
}

test('Prometheus for the local stack scrapes the bridge and aggregator jobs, reloads new targets, and stops', { timeout: 120_000 }, async () => {
  const bridge = await metricsServer(createEdgeMetrics(() => 0).registry);
  const aggregator = await metricsServer(createAggregatorMetrics().registry);
  const port = await freePort();
  const options = { port, scrapeIntervalSeconds: 1 };

  const first = await startPrometheus(stack, { bridges: [bridge], aggregators: [aggregator] }, options);
  assert.equal(first.started, true);
  const pid = runningPid(prometheusProcess(stack));
  assert.ok(pid !== null, 'a pid file names the running Prometheus');

  const targets = async (): Promise<TargetsAnswer['data']['activeTargets']> =>
    ((await (await fetch(`${first.url}/api/v1/targets`)).json()) as TargetsAnswer).data.activeTargets;
  const up = await eventually('both targets up', async () => {
    const active = await targets();
    return active.length === 2 && active.every((target) => target.health === 'up') ? active : undefined;
  }, 30_000, 500);
  assert.deepEqual(up.map((target) => [target.labels.job, target.labels.instance]).sort(), [
    ['telemetry-aggregator', aggregator],
    ['telemetry-bridge', bridge],
  ]);
  const query = async (expression: string) =>
    ((await (await fetch(`${first.url}/api/v1/query?query=${encodeURIComponent(expression)}`)).json()) as { data: { result: { value: [number, string] }[] } }).data.result;
  const edgeSeries = await eventually('bridge metrics stored', async () => ((await query('tp_edge_mqtt_connected')).length === 1 ? true : undefined), 30_000, 500);
  assert.equal(edgeSeries, true);
  const rules = (await (await fetch(`${first.url}/api/v1/rules`)).json()) as { data: { groups: unknown[] } };
  assert.ok(rules.data.groups.length > 0, 'the rules of deploy/prometheus/rules.yml are loaded');

  // A second start with other targets: the same process reloads its configuration.
  const secondAggregator = await metricsServer(createAggregatorMetrics().registry);
  const second = await startPrometheus(stack, { bridges: [bridge], aggregators: [aggregator, secondAggregator] }, options);
  assert.equal(second.started, false);
  assert.equal(runningPid(prometheusProcess(stack)), pid);
  await eventually('three targets after the reload', async () => ((await targets()).length === 3 ? true : undefined), 30_000, 500);

  assert.equal(await stopPrometheus(stack), true);
  assert.equal(runningPid(prometheusProcess(stack)), null);
  assert.equal(await portIsFree('127.0.0.1', port), true);
});
