import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { pipelineTopics } from '../../src/kafka/admin.ts';
import { EXAMPLE_CONFIG, REPO_ROOT, TARGETS, configFor, renderAll, withoutSecrets } from '../../deploy/render.ts';

const read = (path: string): string => readFileSync(join(REPO_ROOT, path), 'utf8');

/** KEY=value lines of an env file, comments and blank lines skipped. */
function envFile(path: string): Record<string, string> {
  const entries = read(path)
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'))
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const);
  return Object.fromEntries(entries);
}

test('the committed deployment files equal a fresh render of the configuration', () => {
  for (const file of renderAll()) {
    assert.equal(read(file.path), file.text, `${file.path} is stale: run \`node --import tsx deploy/render.ts\``);
  }
});

test('the example configuration parses and names the pipelines the deployments run', () => {
  const config = loadConfig({ file: join(REPO_ROOT, EXAMPLE_CONFIG), env: {} });
  assert.deepEqual(
    config.aggregator.pipelines.map((pipeline) => pipeline.name),
    ['main', 'trend'],
  );
});

for (const [target, path] of [
  [TARGETS.k8sDev, 'deploy/k8s/base/pipeline.yaml'],
  [TARGETS.k8sProd, 'deploy/k8s/overlays/prod/pipeline.yaml'],
] as const) {
  test(`the ConfigMap's ${path} is the ${target.name} configuration, loadable, and carries no secret`, () => {
    const body = read(path)
      .split('\n')
      .filter((line) => !line.startsWith('#'))
      .join('\n');
    const fromConfigMap = loadConfig({ file: join(REPO_ROOT, path), env: {} });
    assert.deepEqual(withoutSecrets(fromConfigMap, ConfigSchema), withoutSecrets(configFor(target), ConfigSchema));
    for (const secret of ['password', 'gatewayKeys', 'bridge-secret', 'demo-gateway-key']) {
      assert.equal(body.includes(secret), false, `${path} holds ${secret}`);
    }
    assert.equal(fromConfigMap.edge.httpHost, '0.0.0.0', 'probes and Services reach the bridge only on all interfaces');
    assert.equal(fromConfigMap.aggregator.metricsHost, '0.0.0.0');
  });
}

test('the Compose environment with its credentials loads into the configuration the containers see', () => {
  const env = { ...envFile('deploy/compose/pipeline.env'), ...envFile('deploy/compose/credentials.env') };
  const tpOnly = Object.fromEntries(Object.entries(env).filter(([name]) => name.startsWith('TP_')));
  const config = loadConfig({ file: join(REPO_ROOT, EXAMPLE_CONFIG), env: tpOnly });
  assert.deepEqual(config.kafka.brokers, ['kafka-1:19092', 'kafka-2:19092', 'kafka-3:19092']);
  assert.equal(config.kafka.replicationFactor, 3);
  assert.equal(config.mqtt.password, env['MQTT_BRIDGE_PASSWORD'], 'the bridge logs in with the password Mosquitto was given');
  assert.equal(config.clickhouse.password, env['CLICKHOUSE_PASSWORD'], 'the aggregator logs in with the password ClickHouse was given');
  assert.equal(config.edge.gatewayKeys[0]?.gateway, 'gw-demo');
});

test('the topic scripts create every topic the pipeline needs, with the replication of their target', () => {
  for (const [target, path] of [
    [TARGETS.compose, 'deploy/compose/topics.sh'],
    [TARGETS.k8sDev, 'deploy/k8s/base/topics.sh'],
    [TARGETS.k8sProd, 'deploy/k8s/overlays/prod/topics.sh'],
  ] as const) {
    const script = read(path);
    for (const spec of pipelineTopics(configFor(target).kafka)) {
      assert.match(
        script,
        new RegExp(`^create ${spec.topic.replace('.', '\\.')} --partitions ${spec.partitions} --replication-factor ${spec.replicationFactor} `, 'm'),
        `${path} lacks ${spec.topic}`,
      );
    }
  }
});

test('every secret key the workloads read is in the development Secret', () => {
  const developmentKeys = Object.keys(envFile('deploy/k8s/overlays/dev/credentials.dev.env'));
  const referenced = new Set<string>();
  for (const file of ['deploy/k8s/base/bridge-deployment.yaml', 'deploy/k8s/base/aggregator-statefulset.yaml']) {
    const text = read(file);
    for (const match of text.matchAll(/secretKeyRef:\s*\n\s*name: telemetry-credentials\s*\n\s*key: ([\w-]+)/g)) referenced.add(match[1]!);
    assert.ok(parseAllDocuments(text).every((document) => document.errors.length === 0), `${file} is not valid YAML`);
  }
  assert.deepEqual([...referenced].sort(), ['clickhouse-password', 'gateway-keys', 'mqtt-password']);
  for (const key of referenced) assert.ok(developmentKeys.includes(key), `credentials.dev.env lacks ${key}`);
});

test('the in-flight alert fires at 80 % of edge.maxInFlightReadings', () => {
  const config = loadConfig({ file: join(REPO_ROOT, EXAMPLE_CONFIG), env: {} });
  const rules = parseYaml(read('deploy/prometheus/rules.yml')) as { groups: { rules: { alert?: string; expr: string }[] }[] };
  const alert = rules.groups.flatMap((group) => group.rules).find((rule) => rule.alert === 'TelemetryBridgeInFlightNearLimit');
  const threshold = Number(/>\s*(\d+)/.exec(alert?.expr ?? '')?.[1]);
  assert.equal(threshold, 0.8 * config.edge.maxInFlightReadings);
});

test('a placement the schema refuses fails the render instead of the container', () => {
  assert.throws(
    () => configFor({ name: 'broken', description: 'test', env: { TP_KAFKA__REPLICATION_FACTOR: '1', TP_KAFKA__MIN_INSYNC_REPLICAS: '2' } }),
    /minInsyncReplicas/,
  );
});
