import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { labelSample, mergeWorkerMetrics } from '../../src/aggregator/worker-metrics.ts';
import { createAggregatorMetrics, createSupervisorMetrics } from '../../src/aggregator/metrics.ts';
import { parsePrometheusText } from '../../src/status/prom-text.ts';

/** A worker's registry as the aggregator builds it: counters, gauges and a histogram, with and without labels. */
async function workerText(readings: number, lag: number): Promise<string> {
  const registry = new Registry();
  new Counter({ name: 'tp_agg_readings_total', help: 'Readings', labelNames: ['pipeline', 'tier'], registers: [registry] }).inc({ pipeline: 'main', tier: 'exactly-once' }, readings);
  new Gauge({ name: 'tp_agg_consumer_lag', help: 'Lag', labelNames: ['pipeline', 'tier', 'partition'], registers: [registry] }).set({ pipeline: 'main', tier: 'exactly-once', partition: '3' }, lag);
  new Gauge({ name: 'tp_agg_plain', help: 'No labels', registers: [registry] }).set(7);
  new Histogram({ name: 'tp_agg_insert_duration_seconds', help: 'Insert', labelNames: ['pipeline'], buckets: [0.1, 1], registers: [registry] }).observe({ pipeline: 'main' }, 0.5);
  return registry.metrics();
}

test('labelSample adds worker as the first label, with or without other labels', () => {
  assert.equal(labelSample('a_total{x="1"} 5', '2'), 'a_total{worker="2",x="1"} 5');
  assert.equal(labelSample('a_total 5', '2'), 'a_total{worker="2"} 5');
  assert.equal(labelSample('a_total{} 5', '2'), 'a_total{worker="2"} 5');
  assert.equal(labelSample('a_total{x="{ }"} 5', '1'), 'a_total{worker="1",x="{ }"} 5');
});

test('merged /metrics: every sample of every worker once, labelled by worker, one HELP and TYPE per family', async () => {
  const merged = mergeWorkerMetrics([
    { worker: '1', text: await workerText(100, 4) },
    { worker: '2', text: await workerText(250, 9) },
  ]);
  const samples = parsePrometheusText(merged);
  const value = (name: string, worker: string): number | undefined => samples.find((s) => s.name === name && s.labels['worker'] === worker)?.value;
  assert.equal(value('tp_agg_readings_total', '1'), 100);
  assert.equal(value('tp_agg_readings_total', '2'), 250);
  assert.equal(value('tp_agg_consumer_lag', '2'), 9);
  assert.equal(value('tp_agg_plain', '1'), 7);
  assert.equal(samples.filter((s) => s.name === 'tp_agg_insert_duration_seconds_bucket' && s.labels['worker'] === '2').length, 3);
  assert.ok(samples.every((s) => s.labels['worker'] === '1' || s.labels['worker'] === '2'), 'no sample without its worker');
  for (const family of ['tp_agg_readings_total', 'tp_agg_consumer_lag', 'tp_agg_plain', 'tp_agg_insert_duration_seconds']) {
    assert.equal(merged.split('\n').filter((line) => line.startsWith(`# TYPE ${family} `)).length, 1, `one TYPE line for ${family}`);
    assert.equal(merged.split('\n').filter((line) => line.startsWith(`# HELP ${family} `)).length, 1, `one HELP line for ${family}`);
  }
  // A family's samples follow its TYPE line (Prometheus rejects a family split in two).
  const lines = merged.split('\n');
  const typeAt = lines.indexOf('# TYPE tp_agg_readings_total counter');
  const sampleLines = lines.map((line, index) => (line.startsWith('tp_agg_readings_total{') ? index : -1)).filter((index) => index >= 0);
  assert.deepEqual(sampleLines, [typeAt + 1, typeAt + 2]);
});

test('no workers answering: an empty exposition', () => {
  assert.equal(mergeWorkerMetrics([]), '');
});

test("supervised /metrics: a family the parent serves (the maintenance metrics) and the workers only declare is declared once", async () => {
  const parent = createSupervisorMetrics();
  parent.maintenance.refreshRuns.inc({ pipeline: 'main', outcome: 'success' });
  const workers = [1, 2].map((worker) => ({ worker: String(worker), registry: createAggregatorMetrics().registry }));
  const merged = mergeWorkerMetrics(await Promise.all(workers.map(async ({ worker, registry }) => ({ worker, text: await registry.metrics() }))));
  const exposition = `${await parent.registry.metrics()}${merged}`;
  const declared = new Map<string, number>();
  for (const line of exposition.split('\n')) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) declared.set(type[1]!, (declared.get(type[1]!) ?? 0) + 1);
  }
  const twice = [...declared].filter(([, count]) => count > 1).map(([family]) => family);
  assert.deepEqual(twice, [], 'Prometheus rejects a family declared twice in one exposition');
  assert.equal(parsePrometheusText(exposition).find((s) => s.name === 'tp_agg_rollup_refresh_total')?.value, 1);
});
