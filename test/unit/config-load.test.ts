import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigError } from '../../src/core/errors.ts';

const noEnv = {};

test('defaults alone give a complete configuration with derived names', () => {
  const config = loadConfig({ env: noEnv });
  assert.deepEqual(config.kafka.brokers, ['127.0.0.1:9092']);
  assert.equal(config.aggregator.pipelines[0]?.consumerGroup, 'aggregator-main');
  assert.equal(config.aggregator.pipelines[0]?.table, 'agg_main');
  assert.equal(config.edge.validation.maxFutureSkewMs, 300_000);
});

test('the file is read and environment variables override it, list values comma-separated', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-config-'));
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, 'kafka:\n  partitions: 24\nclickhouse:\n  database: fleet\n');
  const config = loadConfig({ file, env: { TP_KAFKA__BROKERS: 'a:1,b:2', TP_CLICKHOUSE__DATABASE: 'override' } });
  assert.equal(config.kafka.partitions, 24);
  assert.deepEqual(config.kafka.brokers, ['a:1', 'b:2']);
  assert.equal(config.clickhouse.database, 'override');
});

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the configuration to be refused');
}

test('a bad value is refused with the key, the value, what is expected and where it came from', () => {
  const error = errorOf(() => loadConfig({ env: { TP_KAFKA__BROKERS: 'nohostport' } }));
  assert.match(error.message, /kafka\.brokers\.0/);
  assert.match(error.message, /"nohostport"/);
  assert.match(error.message, /host:port/);
  assert.match(error.message, /environment TP_KAFKA__BROKERS/);
});

test('an unknown key in the file is an error naming it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-config-'));
  const file = join(dir, 'pipeline.yaml');
  writeFileSync(file, 'kafka:\n  partitionz: 3\n');
  const error = errorOf(() => loadConfig({ file, env: noEnv }));
  assert.match(error.message, /partitionz/);
});

test('an environment variable that names no key is refused', () => {
  const error = errorOf(() => loadConfig({ env: { TP_KAFKA__PARTITIONZ: '3' } }));
  assert.match(error.message, /TP_KAFKA__PARTITIONZ names no configuration key/);
});

test('contradictory settings are refused naming the key', () => {
  const error = errorOf(() => loadConfig({ env: { TP_KAFKA__MIN_INSYNC_REPLICAS: '2' } }));
  assert.match(error.message, /kafka\.minInsyncReplicas/);
  const sliding = errorOf(() =>
    loadConfig({
      env: noEnv,
      overrides: {
        aggregator: {
          pipelines: [
            { name: 'p', guarantee: 'exactly-once', window: { kind: 'sliding', sizeMs: 1000, slideMs: 300 }, watermark: { kind: 'fixed', delayMs: 0 }, latePolicy: { kind: 'drop' } },
          ],
        },
      },
    }),
  );
  assert.match(sliding.message, /aggregator\.pipelines\.0\.window\.slideMs/);
});

test('a missing file is named', () => {
  const error = errorOf(() => loadConfig({ file: '/nonexistent/pipeline.yaml', env: noEnv }));
  assert.match(error.message, /\/nonexistent\/pipeline\.yaml/);
});
