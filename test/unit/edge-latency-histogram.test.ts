import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { Histogram } from '../../edge/latency-histogram.ts';

test('buckets are cumulative, with +Inf, sum and count per label value, in Prometheus text', async () => {
  const histogram = new Histogram({ name: 'x_seconds', help: 'h', labelName: 'source', buckets: [0.1, 0.01, 1] });
  const mqtt = histogram.labels('mqtt');
  for (const value of [0.005, 0.01, 0.05, 0.5, 3]) mqtt.observe(value);
  const registry = new Registry();
  registry.registerMetric(histogram.asMetric());
  const lines = (await registry.metrics()).split('\n').filter((line) => line.startsWith('x_seconds'));
  assert.deepEqual(lines, [
    'x_seconds_bucket{le="0.01",source="mqtt"} 2',
    'x_seconds_bucket{le="0.1",source="mqtt"} 3',
    'x_seconds_bucket{le="1",source="mqtt"} 4',
    'x_seconds_bucket{le="+Inf",source="mqtt"} 5',
    'x_seconds_sum{source="mqtt"} 3.565',
    'x_seconds_count{source="mqtt"} 5',
  ]);
  histogram.reset();
  assert.equal(histogram.labels('mqtt').count, 0);
});
