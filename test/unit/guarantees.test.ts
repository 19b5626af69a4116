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

const withMqtt = (mqtt: Record<string, unknown>) => loadConfig({ file: 'config/pipelines.example.yaml', env: {}, overrides: { mqtt } });
const rowsOf = (config: ReturnType<typeof loadConfig>, name: string) => failureAnalysis(guaranteeSettings(config, config.aggregator.pipelines.find((p) => p.name === name)!));
const BROKER_ROWS = new Set(['mqtt-broker-crash', 'mqtt-broker-restart']);

test('exactly-once is exact under every failure in direct mode', () => {
  for (const row of rowsOf(withMqtt({ mode: 'direct' }), 'billing')) assert.equal(row.outcome, 'exact', row.id);
});

test('in broker mode, exactly-once is exact under every failure but the broker\'s own: the broker acknowledges devices on arrival', () => {
  for (const row of rowsOf(withMqtt({ mode: 'broker' }), 'billing')) assert.equal(row.outcome, BROKER_ROWS.has(row.id) ? 'lost' : 'exact', row.id);
});

test('a broker crash loses, in every tier, what the broker acknowledged since its last save; the bound follows its persistence setting', () => {
  const cases = [
    [{ mode: 'off', autosave: 5 }, { kind: 'backlog' }],
    [{ mode: 'autosave-interval', autosave: 5 }, { kind: 'seconds', seconds: 5 }],
    [{ mode: 'autosave-interval', autosave: 30 }, { kind: 'seconds', seconds: 30 }],
    [{ mode: 'autosave-on-changes', autosave: 1 }, { kind: 'messages', messages: 1 }],
  ] as const;
  for (const [brokerPersistence, bound] of cases) {
    const config = withMqtt({ mode: 'broker', brokerPersistence });
    for (const tier of ['monitoring', 'analytics', 'billing']) {
      const crash = rowsOf(config, tier).find((row) => row.id === 'mqtt-broker-crash')!;
      assert.equal(crash.outcome, 'lost', `${tier} ${brokerPersistence.mode}`);
      assert.deepEqual(crash.bound, bound, `${tier} ${brokerPersistence.mode}`);
      const restart = rowsOf(config, tier).find((row) => row.id === 'mqtt-broker-restart')!;
      assert.equal(restart.outcome, 'lost', 'devices take PUBACK 0x10 as delivered');
      assert.match(restart.mechanism, /0x10/);
    }
  }
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
