import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { loadConfig } from '../src/config/load.ts';
import { ConfigSchema, type Config } from '../src/config/schema.ts';
import { ConfigError } from '../src/core/errors.ts';
import { holdsSecret, isSecret, secretPaths } from '../src/config/secrets.ts';
import { pipelineTopics } from '../src/kafka/admin.ts';
import type { AclBinding } from '../src/kafka/acls.ts';
import { pipelineGroups, serviceAcls } from '../src/stack/kafka-access.ts';
import { parseCommandLine } from '../src/util/args.ts';
import { renderDashboard } from './grafana/dashboard.ts';
import { renderAggregatesDashboard } from './grafana/aggregates-dashboard.ts';
import { schemaLayout } from '../src/clickhouse/migrations.ts';
import { CLICKHOUSE_18_16 } from '../src/clickhouse/capabilities.ts';

/**
 * Renders every deployment artefact that carries configuration from the one configuration
 * (deploy/config/pipeline.example.yaml, parsed by loadConfig), so that Compose, Kubernetes and the
 * schema cannot drift apart:
 *
 *   node --import tsx deploy/render.ts           writes the files
 *   node --import tsx deploy/render.ts --check   exits 1 naming the files that differ
 *
 * A target says only where the servers are and how the services listen (as TP_ overrides, the
 * same mechanism a container uses); everything else comes from the example configuration.
 */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const EXAMPLE_CONFIG = 'deploy/config/pipeline.example.yaml';
export const RULES_FILE = 'deploy/prometheus/rules.yml';

export interface Target {
  readonly name: string;
  readonly description: string;
  readonly env: Readonly<Record<string, string>>;
  /** The Kafka admin's client.properties where the target's topic (and ACL) scripts run; needed unless kafka.security.protocol is plaintext. */
  readonly kafkaAdminProperties?: string;
}

/** Services inside containers listen on every interface; the defaults (127.0.0.1) suit a laptop. */
const LISTEN_EVERYWHERE = {
  TP_EDGE__HTTP_HOST: '0.0.0.0',
  TP_AGGREGATOR__METRICS_HOST: '0.0.0.0',
};

/**
 * edge.tls.mode 'required' with the files where each target mounts them from Secrets (paths, not
 * contents, so they may sit in the ConfigMap). Kubernetes: the kubernetes.io/tls Secret
 * telemetry-edge-tls (tls.crt, tls.key) and telemetry-edge-ca (ca.crt: the CA that signed the
 * broker's certificate, and the bridge's for Prometheus), see deploy/k8s/base/bridge-deployment.yaml.
 * Compose: the secrets of deploy/compose/compose.yaml, made on the host by deploy/tls/dev-certs.sh.
 * No clientCaFile: in broker mode devices connect to the broker, which checks their certificates.
 */
function edgeTls(files: { readonly cert: string; readonly key: string; readonly brokerCa: string }): Record<string, string> {
  return {
    TP_EDGE__TLS__MODE: 'required',
    TP_EDGE__TLS__CERT_FILE: files.cert,
    TP_EDGE__TLS__KEY_FILE: files.key,
    TP_EDGE__TLS__BROKER_CA_FILE: files.brokerCa,
  };
}
const K8S_TLS = edgeTls({ cert: '/etc/telemetry-tls/server/tls.crt', key: '/etc/telemetry-tls/server/tls.key', brokerCa: '/etc/telemetry-tls/ca/ca.crt' });

/**
 * Kafka in Kubernetes: SASL_SSL (SCRAM-SHA-512) on the cluster's TLS listener (9093 with Strimzi),
 * trusting the CA of the Secret telemetry-kafka-ca. Each workload sets its own principal and
 * password (TP_KAFKA__SECURITY__USERNAME, the telemetry-credentials key of its password: see
 * deploy/k8s/base/bridge-deployment.yaml and aggregator-statefulset.yaml); topics.sh logs in as the
 * topic administrator of telemetry-kafka-topic-admin (decision 0020).
 */
const K8S_KAFKA = {
  TP_KAFKA__BROKERS: 'telemetry-kafka-bootstrap.kafka.svc:9093',
  TP_KAFKA__SECURITY__PROTOCOL: 'sasl_ssl',
  TP_KAFKA__SECURITY__CA_FILE: '/etc/telemetry-kafka/ca/ca.crt',
};
/** Where topics.sh finds its client.properties (mounted from telemetry-kafka-topic-admin). */
const TOPIC_ADMIN_PROPERTIES = '/etc/telemetry-kafka/topic-admin/client.properties';
/**
 * Kafka in Compose: its own three brokers, SASL_SSL (SCRAM-SHA-512) on their INTERNAL listener,
 * certificates from the development CA (the secret kafka-ca). Each service sets its principal and
 * password file in compose.yaml (TP_KAFKA__SECURITY__USERNAME, …_PASSWORD_FILE: Compose secrets);
 * topics.sh and kafka/acls.sh log in as admin with the client.properties that the kafka-init
 * service writes into the kafka-secrets volume (decision 0020).
 */
const COMPOSE_KAFKA = {
  TP_KAFKA__BROKERS: 'kafka-1:19092,kafka-2:19092,kafka-3:19092',
  TP_KAFKA__SECURITY__PROTOCOL: 'sasl_ssl',
  TP_KAFKA__SECURITY__MECHANISM: 'SCRAM-SHA-512',
  TP_KAFKA__SECURITY__CA_FILE: '/run/secrets/kafka-ca',
};
const COMPOSE_ADMIN_PROPERTIES = '/etc/kafka/secrets/admin.properties';
const COMPOSE_TLS = edgeTls({ cert: '/run/secrets/bridge-cert', key: '/run/secrets/bridge-key', brokerCa: '/run/secrets/edge-ca' });

export const TARGETS = {
  compose: {
    name: 'compose',
    description: 'deploy/compose/compose.yaml: three KRaft brokers, ClickHouse, Mosquitto on one host',
    env: {
      ...LISTEN_EVERYWHERE,
      ...COMPOSE_TLS,
      ...COMPOSE_KAFKA,
      TP_KAFKA__REPLICATION_FACTOR: '3',
      TP_KAFKA__MIN_INSYNC_REPLICAS: '2',
      TP_MQTT__URL: 'mqtts://mosquitto:8883',
      TP_CLICKHOUSE__URL: 'http://clickhouse:8123',
    },
    kafkaAdminProperties: COMPOSE_ADMIN_PROPERTIES,
  },
  k8sDev: {
    name: 'k8s-dev',
    description: 'deploy/k8s/base (used as is by overlays/dev): one-broker development cluster',
    env: {
      ...LISTEN_EVERYWHERE,
      ...K8S_TLS,
      ...K8S_KAFKA,
      TP_KAFKA__REPLICATION_FACTOR: '1',
      TP_KAFKA__MIN_INSYNC_REPLICAS: '1',
      TP_MQTT__URL: 'mqtts://mosquitto.mqtt.svc:8883',
      TP_CLICKHOUSE__URL: 'http://clickhouse.clickhouse.svc:8123',
    },
    kafkaAdminProperties: TOPIC_ADMIN_PROPERTIES,
  },
  k8sProd: {
    name: 'k8s-prod',
    description: 'deploy/k8s/overlays/prod: replicated Kafka (RF 3, min ISR 2), more partitions',
    env: {
      ...LISTEN_EVERYWHERE,
      ...K8S_TLS,
      ...K8S_KAFKA,
      TP_KAFKA__PARTITIONS: '24',
      TP_KAFKA__REPLICATION_FACTOR: '3',
      TP_KAFKA__MIN_INSYNC_REPLICAS: '2',
      TP_MQTT__URL: 'mqtts://mosquitto.mqtt.svc:8883',
      TP_CLICKHOUSE__URL: 'http://clickhouse.clickhouse.svc:8123',
    },
    kafkaAdminProperties: TOPIC_ADMIN_PROPERTIES,
  },
} as const satisfies Record<string, Target>;

export interface RenderedFile {
  /** Relative to the repository root. */
  readonly path: string;
  readonly text: string;
}

export function configFor(target: Target, root = REPO_ROOT): Config {
  return loadConfig({ file: join(root, EXAMPLE_CONFIG), env: { ...target.env } });
}

export function renderAll(root = REPO_ROOT): RenderedFile[] {
  return [
    { path: 'deploy/compose/pipeline.env', text: renderEnvFile(TARGETS.compose, root) },
    { path: 'deploy/compose/topics.sh', text: renderTopicsScript(TARGETS.compose, configFor(TARGETS.compose, root)) },
    { path: 'deploy/compose/kafka/acls.sh', text: renderAclScript(TARGETS.compose, configFor(TARGETS.compose, root)) },
    { path: 'deploy/k8s/base/pipeline.yaml', text: renderPipelineYaml(TARGETS.k8sDev, configFor(TARGETS.k8sDev, root)) },
    { path: 'deploy/k8s/base/topics.sh', text: renderTopicsScript(TARGETS.k8sDev, configFor(TARGETS.k8sDev, root)) },
    { path: 'deploy/k8s/overlays/prod/pipeline.yaml', text: renderPipelineYaml(TARGETS.k8sProd, configFor(TARGETS.k8sProd, root)) },
    { path: 'deploy/k8s/overlays/prod/topics.sh', text: renderTopicsScript(TARGETS.k8sProd, configFor(TARGETS.k8sProd, root)) },
    { path: 'deploy/k8s/base/prometheus-rule.yaml', text: renderPrometheusRule(readFileSync(join(root, RULES_FILE), 'utf8')) },
    { path: 'deploy/grafana/telemetry-pipeline.json', text: renderDashboardJson(root) },
    { path: 'deploy/grafana/aggregates.json', text: renderAggregatesDashboardJson(root) },
  ];
}

export function renderDashboardJson(root = REPO_ROOT): string {
  const config = loadConfig({ file: join(root, EXAMPLE_CONFIG), env: {} });
  return `${JSON.stringify(renderDashboard({ maxInFlightReadings: config.edge.maxInFlightReadings }), null, 2)}\n`;
}

/** The table names do not depend on the server's version; 18.16's capabilities stand for any. */
export function renderAggregatesDashboardJson(root = REPO_ROOT): string {
  const config = loadConfig({ file: join(root, EXAMPLE_CONFIG), env: {} });
  return `${JSON.stringify(renderAggregatesDashboard({ layout: schemaLayout(config, CLICKHOUSE_18_16) }), null, 2)}\n`;
}

function header(target: Target): string {
  return [
    `# Rendered by deploy/render.ts from ${EXAMPLE_CONFIG} for target '${target.name}' —`,
    `# ${target.description}. Do not edit: change the example or the target, then re-render.`,
  ].join('\n');
}

/** The Compose environment: the target's placement, applied by loadConfig over the mounted example file. */
export function renderEnvFile(target: Target, root = REPO_ROOT): string {
  configFor(target, root); // a placement that the schema refuses must fail the render, not the container
  const lines = Object.entries(target.env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => `${name}=${value}`);
  return `${header(target)}\n${lines.join('\n')}\n`;
}

/** The ConfigMap's pipeline.yaml: the fully resolved configuration, without secrets. */
export function renderPipelineYaml(target: Target, config: Config): string {
  const body = stringifyYaml(withoutSecrets(config, ConfigSchema), { lineWidth: 0 });
  return (
    `${header(target)}\n` +
    `# Secrets (${secretPaths(ConfigSchema).join(', ')}) are not here: they come from the\n` +
    '# telemetry-credentials Secret (environment or mounted file, TP_<KEY>_FILE); aggregator.instanceId from the pod name.\n' +
    body
  );
}

/**
 * Drops every key the schema marks Secret(), and every list whose items hold one (gatewayKeys);
 * keys come out in the schema's order, the order the data flows.
 */
export function withoutSecrets(value: unknown, schema: TSchema | undefined): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const properties = (schema?.['properties'] ?? {}) as Record<string, TSchema>;
  const record = value as Record<string, unknown>;
  const keys = [...Object.keys(properties).filter((key) => key in record), ...Object.keys(record).filter((key) => !(key in properties))];
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const childSchema = properties[key];
    if (isSecret(childSchema)) continue;
    const items = childSchema?.['items'] as TSchema | undefined;
    if (items && holdsSecret(items)) continue;
    out[key] = withoutSecrets(record[key], childSchema);
  }
  return out;
}

/** kafka-topics.sh calls for the topics the pipeline needs (brokers here never create topics on their own). */
export function renderTopicsScript(target: Target, config: Config): string {
  const creates = pipelineTopics(config.kafka).map((spec) => {
    const settings = Object.entries(spec.config ?? {}).map(([name, value]) => ` --config ${name}=${value}`);
    return `create ${spec.topic} --partitions ${spec.partitions} --replication-factor ${spec.replicationFactor}${settings.join('')}`;
  });
  // A topic created by an older version keeps its old settings: the declared ones are set again
  // (the readings topic's LogAppendTime is what makes the broker the pipeline's ingest clock).
  const settles = pipelineTopics(config.kafka)
    .filter((spec) => Object.keys(spec.config ?? {}).length > 0)
    .map((spec) => `settle ${spec.topic} ${Object.entries(spec.config ?? {}).map(([name, value]) => `${name}=${value}`).join(',')}`);
  const secured = config.kafka.security.protocol !== 'plaintext';
  const login = secured ? ' --command-config "$COMMAND_CONFIG"' : '';
  return [
    '#!/bin/sh',
    header(target),
    '# Creates the pipeline topics that are missing and sets the declared settings of existing ones.',
    'set -eu',
    `BOOTSTRAP="\${BOOTSTRAP:-${config.kafka.brokers.join(',')}}"`,
    'KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"',
    'KAFKA_CONFIGS="${KAFKA_CONFIGS:-/opt/kafka/bin/kafka-configs.sh}"',
    // With a login: the topic administrator's client.properties (SASL_SSL, SCRAM, the CA).
    ...(secured ? [`COMMAND_CONFIG="\${COMMAND_CONFIG:-${adminProperties(target)}}"`] : []),
    'create() {',
    '  topic=$1',
    '  shift',
    `  "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP"${login} --create --if-not-exists --topic "$topic" "$@"`,
    '}',
    'settle() {',
    `  "$KAFKA_CONFIGS" --bootstrap-server "$BOOTSTRAP"${login} --alter --entity-type topics --entity-name "$1" --add-config "$2"`,
    '}',
    ...creates,
    ...settles,
    '',
  ].join('\n');
}

function adminProperties(target: Target): string {
  if (target.kafkaAdminProperties === undefined) {
    throw new ConfigError(`deploy/render.ts target '${target.name}' logs in to Kafka (kafka.security.protocol is not plaintext) but names no kafkaAdminProperties for its scripts`, { target: target.name });
  }
  return target.kafkaAdminProperties;
}

const ACL_OPERATION: Readonly<Record<AclBinding['operation'], string>> = {
  read: 'Read',
  write: 'Write',
  describe: 'Describe',
  'describe-configs': 'DescribeConfigs',
  'idempotent-write': 'IdempotentWrite',
};

/**
 * One kafka-acls.sh call per principal, resource type, pattern and set of operations (a JVM start
 * each: fewer calls, a shorter `up`), covering `bindings` exactly.
 */
export function aclCommands(bindings: readonly AclBinding[]): string[] {
  const operations = new Map<string, { binding: AclBinding; operations: string[] }>();
  for (const binding of bindings) {
    const key = [binding.principal, binding.resource, binding.pattern, binding.name].join('\0');
    const entry = operations.get(key) ?? { binding, operations: [] };
    entry.operations.push(ACL_OPERATION[binding.operation]);
    operations.set(key, entry);
  }
  const calls = new Map<string, { binding: AclBinding; operations: string[]; names: string[] }>();
  for (const { binding, operations: ops } of operations.values()) {
    const key = [binding.principal, binding.resource, binding.pattern, ops.join(',')].join('\0');
    const call = calls.get(key) ?? { binding, operations: ops, names: [] };
    call.names.push(binding.name);
    calls.set(key, call);
  }
  return [...calls.values()].map(({ binding, operations: ops, names }) => {
    const resources = binding.resource === 'cluster' ? ['--cluster'] : names.map((name) => `--${binding.resource} ${shellWord(name)}`);
    const pattern = binding.pattern === 'prefixed' ? ['--resource-pattern-type prefixed'] : [];
    return ['grant', binding.principal, ...ops.map((operation) => `--operation ${operation}`), ...resources, ...pattern].join(' ');
  });
}

/** A name as one shell word: as is when it is safe (topic names always are), else single-quoted. */
function shellWord(text: string): string {
  return /^[A-Za-z0-9._:-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * The Compose brokers' ACLs for the service principals: what src/stack/kafka-access.ts grants on
 * the local stack (serviceAcls), for the configured topics and consumer groups, as admin.
 */
export function renderAclScript(target: Target, config: Config): string {
  return [
    '#!/bin/sh',
    header(target),
    "# Grants the bridge and aggregator principals their ACLs (src/stack/kafka-access.ts, decision 0020); adding an ACL that exists changes nothing.",
    'set -eu',
    `BOOTSTRAP="\${BOOTSTRAP:-${config.kafka.brokers.join(',')}}"`,
    'KAFKA_ACLS="${KAFKA_ACLS:-/opt/kafka/bin/kafka-acls.sh}"',
    `COMMAND_CONFIG="\${COMMAND_CONFIG:-${adminProperties(target)}}"`,
    'grant() {',
    '  principal=$1',
    '  shift',
    '  "$KAFKA_ACLS" --bootstrap-server "$BOOTSTRAP" --command-config "$COMMAND_CONFIG" --add --allow-principal "$principal" "$@" > /dev/null',
    '  echo "acls: $principal $*"',
    '}',
    ...aclCommands(serviceAcls(config.kafka, pipelineGroups(config))),
    '',
  ].join('\n');
}

/** The alert and recording rules of deploy/prometheus/rules.yml as a prometheus-operator PrometheusRule. */
export function renderPrometheusRule(rulesText: string): string {
  const rules = parseYaml(rulesText) as { groups: unknown[] };
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'telemetry-pipeline', labels: { 'app.kubernetes.io/name': 'telemetry-pipeline' } },
    spec: { groups: rules.groups },
  };
  return `# Rendered by deploy/render.ts from ${RULES_FILE}. Do not edit: change the rules, then re-render.\n${stringifyYaml(resource, { lineWidth: 0 })}`;
}

function main(): void {
  const check = parseCommandLine('render', process.argv.slice(2), { check: { type: 'boolean', default: false } }).check;
  const files = renderAll();
  const stale: string[] = [];
  for (const file of files) {
    const path = join(REPO_ROOT, file.path);
    let current: string | undefined;
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === file.text) continue;
    stale.push(file.path);
    if (!check) writeFileSync(path, file.text);
  }
  const verb = check ? 'out of date' : 'rendered';
  for (const path of stale) process.stdout.write(`${verb}: ${path}\n`);
  if (stale.length === 0) process.stdout.write(`up to date: ${files.length} files (from ${relative(process.cwd(), join(REPO_ROOT, EXAMPLE_CONFIG))})\n`);
  if (check && stale.length > 0) {
    process.stderr.write('run `node --import tsx deploy/render.ts` and commit the result\n');
    process.exitCode = 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
