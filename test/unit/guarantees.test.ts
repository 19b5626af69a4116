import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { guaranteeSettings } from '../../src/config/guarantees.ts';
import { ConfigError } from '../../src/core/errors.ts';
import { failureAnalysis, FAILURE_SCENARIOS } from '../../src/core/failure-analysis.ts';

const example = loadConfig({ file: 'config/pipelines.example.yaml', env: {} });
const byName = (name: string) => example.aggregator.pipelines.find((pipeline) => pipeline.name === name)!;
const outcomes = (name: string) => Object.fromEntries(failureAnalysis(guaranteeSettings(example, byName(name))).map((row) => [row.id, row.outcome]));

test('the example configuration has three tiers, each with its own consumer group and table', () => {
  assert.deepEqual(example.aggregator.pipelines.map((p) => [p.name, p.guarantee, p.consumerGroup, p.table]), [
    ['monitoring', 'at-most-once', 'aggregator-monitoring', 'agg_monitoring'],
    ['analytics', 'at-least-once', 'aggregator-analytics', 'agg_analytics'],
    ['billing', 'exactly-once', 'aggregator-billing', 'agg_billing'],
  ]);
});

test('every failure scenario is analysed for every tier', () => {
  for (const name of ['monitoring', 'analytics', 'billing']) assert.deepEqual(Object.keys(outcomes(name)), [...FAILURE_SCENARIOS]);
});

test('exactly-once is exact under every failure', () => {
  for (const [scenario, outcome] of Object.entries(outcomes('billing'))) assert.equal(outcome, 'exact', scenario);
});

test('at-most-once loses the open windows when the aggregator crashes, at-least-once does not', () => {
  assert.equal(outcomes('monitoring')['aggregator-crash-before-insert'], 'lost');
  assert.equal(outcomes('monitoring')['rebalance'], 'lost');
  assert.equal(outcomes('analytics')['aggregator-crash-before-insert'], 'exact');
  assert.notEqual(outcomes('analytics')['aggregator-crash-after-insert-before-commit'], 'lost');
});

test('acknowledging devices on receipt loses readings when a bridge crashes', () => {
  const relaxed = loadConfig({
    env: { TP_EDGE__ACK_MODE: 'on-receipt' },
    overrides: { aggregator: { pipelines: [{ name: 'm', guarantee: 'at-most-once', window: { kind: 'tumbling', sizeMs: 1000 }, watermark: { kind: 'fixed', delayMs: 0 }, latePolicy: { kind: 'drop' } }] } },
  });
  const analysis = failureAnalysis(guaranteeSettings(relaxed, relaxed.aggregator.pipelines[0]!));
  assert.equal(analysis.find((row) => row.id === 'bridge-crash-before-kafka-ack')?.outcome, 'lost');
});

function refusal(env: Record<string, string>, overrides?: Record<string, unknown>): string {
  try {
    loadConfig({ env, overrides });
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.message;
  }
  assert.fail('the configuration must be refused');
}

test('a configuration that contradicts its guarantee is refused, naming the setting', () => {
  assert.match(refusal({ TP_EDGE__PRODUCER__ACKS: '1', TP_EDGE__PRODUCER__IDEMPOTENCE: 'false' }), /config key 'edge\.producer\.acks'.*exactly-once/);
  assert.match(refusal({ TP_EDGE__PRODUCER__ACKS: '1' }), /idempotent producer \(edge\.producer\.idempotence\) needs acks 'all'/);
  assert.match(refusal({ TP_EDGE__ACK_MODE: 'on-receipt' }), /config key 'edge\.ackMode'/);
  assert.match(refusal({ TP_EDGE__PRODUCER__IDEMPOTENCE: 'false' }), /edge\.producer\.idempotence/);
  const autoCommit = {
    aggregator: {
      pipelines: [
        { name: 'billing', guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 1000 }, watermark: { kind: 'fixed', delayMs: 0 }, latePolicy: { kind: 'drop' }, consumer: { autoCommit: true } },
      ],
    },
  };
  assert.match(refusal({}, autoCommit), /config key 'aggregator\.pipelines\.0\.consumer\.autoCommit'.*offsets would be committed before ClickHouse/);
  assert.match(refusal({ TP_KAFKA__REPLICATION_FACTOR: '3', TP_KAFKA__MIN_INSYNC_REPLICAS: '1' }), /kafka\.minInsyncReplicas/);
});
