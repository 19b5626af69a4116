import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { parseConfig } from '../../src/config/load.ts';
import type { ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { Maintenance, maintenanceRetryPolicy } from '../../src/aggregator/maintenance.ts';
import { createMaintenanceMetrics } from '../../src/aggregator/metrics.ts';
import { createLogger } from '../../src/util/log.ts';

/** The schedule's failure handling, without a server (the real runs: test/integration/aggregator-maintenance.test.ts). */

const config = parseConfig({
  aggregator: {
    pipelines: [{ name: 'main', guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 60_000 }, watermark: { kind: 'fixed', delayMs: 1000 }, latePolicy: { kind: 'drop' }, rollups: [{ level: '1h' }] }],
    rollupRefreshIntervalMs: 60_000,
    retentionIntervalMs: 60_000,
  },
});
const quick = () => ({ maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2, maxElapsedMs: 1000 });
const value = async (metric: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, labels: Record<string, string>) =>
  (await metric.get()).values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))?.value ?? 0;

test('a run whose every attempt fails is retried within its bound, counted as a failure and never rejects', async () => {
  const metrics = createMaintenanceMetrics(new Registry());
  let attempts = 0;
  const connection = async (): Promise<ClickHouseConnection> => {
    attempts++;
    throw new Error('connection refused');
  };
  const maintenance = new Maintenance({ config, connection, metrics, logger: createLogger('test', 'silent'), policy: quick });
  await maintenance.refreshOnce();
  await maintenance.retentionOnce();
  assert.equal(attempts, 6, 'three attempts per job');
  assert.equal(await value(metrics.refreshRuns, { pipeline: 'main', outcome: 'failure' }), 1);
  assert.equal(await value(metrics.retentionRuns, { outcome: 'failure' }), 1);
  assert.equal(await value(metrics.refreshRuns, { pipeline: 'main', outcome: 'success' }), 0);
});

test('stop ends a run waiting between retries at once and counts no failure for it', async () => {
  const metrics = createMaintenanceMetrics(new Registry());
  let attempted!: () => void;
  const firstAttempt = new Promise<void>((resolve) => (attempted = resolve));
  const connection = async (): Promise<ClickHouseConnection> => {
    attempted();
    throw new Error('connection refused');
  };
  const slow = () => ({ maxAttempts: 100, initialDelayMs: 60_000, maxDelayMs: 60_000, maxElapsedMs: 3_600_000 });
  const maintenance = new Maintenance({ config, connection, metrics, logger: createLogger('test', 'silent'), policy: slow });
  maintenance.start();
  await firstAttempt;
  const startedStop = Date.now();
  await maintenance.stop();
  assert.ok(Date.now() - startedStop < 5000, 'stop did not wait out the backoff');
  assert.equal(await value(metrics.refreshRuns, { pipeline: 'main', outcome: 'failure' }), 0);
});

test('a run retries for at most half its interval (at least a second, at most five minutes), for every interval', () => {
  for (const intervalMs of [1, 100, 2_000, 60_000, 3_600_000, 86_400_000]) {
    const { maxElapsedMs } = maintenanceRetryPolicy(intervalMs);
    assert.ok(maxElapsedMs >= 1000 && maxElapsedMs <= 300_000 && (maxElapsedMs <= intervalMs / 2 || maxElapsedMs === 1000), `interval ${intervalMs}: budget ${maxElapsedMs}`);
  }
});
