import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { bucketDelta, bucketsOf, histogramQuantile } from '../../src/status/histogram.ts';
import { StatusHistory } from '../../src/status/history.ts';
import type { Observation } from '../../src/status/observation.ts';
import { MetricsTextError, parsePrometheusText } from '../../src/status/prom-text.ts';
import { samplesFromRegistry, sumBy, sumOf, type Sample } from '../../src/status/samples.ts';

test('the text parser reads what prom-client writes, escapes and special values included', async () => {
  const registry = new Registry();
  const counter = new Counter({ name: 'tp_edge_rejected_total', help: 'h', labelNames: ['source', 'reason'], registers: [registry] });
  counter.inc({ source: 'mqtt', reason: 'schema' }, 3);
  counter.inc({ source: 'http', reason: 'we"ird\\re\nason' }, 2);
  const histogram = new Histogram({ name: 'lat_seconds', help: 'h', buckets: [0.5, 1], registers: [registry] });
  histogram.observe(0.2);
  histogram.observe(3);
  const samples = parsePrometheusText(await registry.metrics());
  assert.deepEqual(Object.fromEntries(sumBy(samples, 'tp_edge_rejected_total', 'reason')), { schema: 3, 'we"ird\\re\nason': 2 });
  assert.deepEqual(bucketsOf(samples, 'lat_seconds'), [
    { le: 0.5, count: 1 },
    { le: 1, count: 1 },
    { le: Number.POSITIVE_INFINITY, count: 2 },
  ]);
  // The registry's own JSON reads the same.
  assert.deepEqual(bucketsOf(samplesFromRegistry(await registry.getMetricsAsJSON()), 'lat_seconds'), bucketsOf(samples, 'lat_seconds'));
  assert.equal(sumOf(parsePrometheusText('x{a="1"} NaN\ny 1e3 1700000000000\n'), 'y'), 1000);
});

test('a malformed line is an error that names the line', () => {
  assert.throws(() => parsePrometheusText('ok 1\nbad{a="1" 2\n'), (error: unknown) => error instanceof MetricsTextError && /line 2/.test(error.message));
  assert.throws(() => parsePrometheusText('x one\n'), MetricsTextError);
});

test('histogram quantiles interpolate inside the bucket, as histogram_quantile does', () => {
  const buckets = [
    { le: 1, count: 50 },
    { le: 2, count: 90 },
    { le: 5, count: 100 },
    { le: Number.POSITIVE_INFINITY, count: 100 },
  ];
  assert.equal(histogramQuantile(0.5, buckets), 1);
  // rank 95 lies halfway through the (2, 5] bucket's 10 observations.
  assert.equal(histogramQuantile(0.95, buckets), 3.5);
  assert.equal(histogramQuantile(0.95, [{ le: 1, count: 0 }, { le: Number.POSITIVE_INFINITY, count: 0 }]), null);
  // In the +Inf bucket: the highest finite bound.
  assert.equal(histogramQuantile(0.95, [{ le: 1, count: 1 }, { le: Number.POSITIVE_INFINITY, count: 10 }]), 1);
  // A restart (counts went down) makes the later reading the delta.
  assert.deepEqual(bucketDelta([{ le: 1, count: 2 }], [{ le: 1, count: 7 }]), [{ le: 1, count: 2 }]);
  assert.deepEqual(bucketDelta([{ le: 1, count: 9 }], [{ le: 1, count: 7 }]), [{ le: 1, count: 2 }]);
});

function observation(at: number, consumed: number, latency: Record<string, number>): Observation {
  const aggregator: Sample[] = [
    { name: 'tp_agg_readings_total', labels: { pipeline: 'main', tier: 'exactly-once' }, value: consumed },
    ...Object.entries(latency).map(([le, count]) => ({ name: 'tp_agg_e2e_latency_seconds_bucket', labels: { pipeline: 'main', tier: 'exactly-once', le }, value: count })),
  ];
  return {
    at,
    aggregator,
    bridges: [{ url: 'http://b', samples: [{ name: 'tp_edge_readings_received_total', labels: { source: 'http' }, value: consumed * 2 }], error: null }],
    runners: [{ pipeline: 'main', tier: 'exactly-once', state: 'running', partitions: [0, 1], error: null }],
    groups: null,
    groupsError: null,
  };
}

test('rates come from deltas between polls; P95 from the bucket deltas over the trailing window', () => {
  const history = new StatusHistory({ maxPoints: 3, p95WindowMs: 10_000 });
  const first = history.record(observation(0, 100, { '1': 0, '10': 0, '+Inf': 0 }));
  assert.equal(first.rates.get('consumed|main'), null, 'no rate before a second poll');
  assert.equal(first.p95Ms.get('main'), null);

  const second = history.record(observation(2000, 300, { '1': 10, '10': 10, '+Inf': 10 }));
  assert.equal(second.rates.get('consumed|main'), 100);
  assert.equal(second.rates.get('received|http://b'), 200);
  assert.equal(second.p95Ms.get('main'), 950);

  // 12 s later: the window [2 s, 14 s] holds only the slow observations made since the second poll.
  const third = history.record(observation(14_000, 300, { '1': 10, '10': 30, '+Inf': 30 }));
  assert.equal(third.rates.get('consumed|main'), 0);
  assert.ok(Math.abs(third.p95Ms.get('main')! - 9550) < 1e-6, `P95 ${third.p95Ms.get('main')}`);

  // A restarted aggregator: its counter starts again, the rate counts the new value.
  const fourth = history.record(observation(15_000, 50, { '1': 0, '10': 0, '+Inf': 0 }));
  assert.equal(fourth.rates.get('consumed|main'), 50);

  const view = history.view(new Map([['main consumed', ['consumed|main']]]));
  assert.deepEqual(view.t, [2000, 14_000, 15_000], 'only maxPoints points are kept');
  assert.deepEqual(view.throughput['main consumed'], [100, 0, 50]);
});
