import type { LocalStackConfig } from './config-schema.ts';
import { ensureTopics, fetchMetadata, pipelineTopics } from '../kafka/admin.ts';
import {
  LOCAL_CLUSTER,
  allClickhouseProcesses,
  assertClickhouseTopology,
  clickhouseNodes,
  clickhousePing,
  startClickhouse,
  stopClickhouse,
  type ClickhouseNode,
} from './clickhouse.ts';
import { demoCredentialsFile, ensureDemoCredentials } from './device-credentials.ts';
import { withLocalCredentials } from './local-credentials.ts';
import { roleCredentials } from '../clickhouse/roles.ts';
import { withLocalTls } from './tls-config.ts';
import { ensureLocalTls, localTlsFiles } from './tls.ts';
import { adminConnection, bootstrapServers, kafkaRestartNeeded, kafkaStatus, startKafka, stopKafka } from './kafka.ts';
import { grantServiceAccess, pipelineGroups } from './kafka-access.ts';
import { mosquittoProcess, startMosquitto, stopMosquitto } from './mosquitto.ts';
import { stackPaths } from './paths.ts';
import { StackError, portAnswers, runningPid, stopAllRecorded, stopProcess } from './processes.ts';
import { startZookeeper, stopZookeeper, zookeeperPid, zookeeperRuok } from './zookeeper.ts';

/**
 * The local stack as one unit: `up` is idempotent (a second call finds what runs and starts only
 * what is missing), `down` stops everything recorded in the run directory, by pid.
 */
export interface ServiceHealth {
  readonly service: string;
  readonly endpoint: string;
  readonly healthy: boolean;
  readonly detail: string;
}

export interface StackUpResult {
  readonly started: string[];
  readonly alreadyRunning: string[];
  readonly topicsCreated: string[];
}

/** The configuration as the local stack's services will answer it (brokers and ports follow stack.*). */
export function configForLocalStack(config: LocalStackConfig): LocalStackConfig {
  const brokers = bootstrapServers(config.stack);
  const local = structuredClone(config) as { -readonly [K in keyof LocalStackConfig]: LocalStackConfig[K] };
  local.kafka = { ...config.kafka, brokers };
  if (config.stack.kafkaNodes === 3) {
    local.kafka = { ...local.kafka, replicationFactor: 3, minInsyncReplicas: 2 };
  }
  if (!config.stack.useExistingClickhouse) {
    local.clickhouse = { ...config.clickhouse, url: `http://127.0.0.1:${config.stack.clickhouseHttpPort}` };
    if (config.stack.clickhouseReplicas > 1) {
      // The local replicas: replica 1 answers on clickhouse.url, the others fail over.
      const [, ...others] = clickhouseNodes(config.stack);
      local.clickhouse = { ...local.clickhouse, cluster: config.clickhouse.cluster || LOCAL_CLUSTER, replicaUrls: others.map((node) => node.url) };
    }
  }
  if (!config.stack.useExistingMqtt) local.mqtt = { ...config.mqtt, url: `mqtt://127.0.0.1:${config.stack.mosquittoPort}` };
  // The local stack runs the mode its devices get PUBACK after Kafka's ack in, unless told otherwise
  // (stack.mqttMode); mqtt.mode keeps its own default for deployments, which choose it themselves.
  local.mqtt = { ...local.mqtt, mode: config.stack.mqttMode };
  // Direct mode's device accounts: the demo file `stack up` writes, unless one is configured.
  if (local.mqtt.credentialsFile === '') local.mqtt = { ...local.mqtt, credentialsFile: demoCredentialsFile(config.stack) };
  // The schema has no secret defaults: an empty secret gets the local stack's demo credential.
  // TLS on the bridges and to Mosquitto with the local CA, unless edge.tls.mode is 'plaintext'.
  return withLocalTls(withLocalCredentials(local));
}

export async function stackUp(config: LocalStackConfig, log: (line: string) => void = () => undefined): Promise<StackUpResult> {
  const started: string[] = [];
  const alreadyRunning: string[] = [];
  const note = (name: string, wasStarted: boolean): void => {
    (wasStarted ? started : alreadyRunning).push(name);
    log(`${name}: ${wasStarted ? 'started' : 'already running'}`);
  };

  const kafka = await startKafka(config.stack, log);
  for (const id of kafka.started) note(`kafka-${id}`, true);
  for (const id of kafka.running) note(`kafka-${id}`, false);

  if (config.stack.useExistingClickhouse) {
    if (!(await clickhousePing(config.clickhouse.url))) {
      throw new StackError('STACK_CLICKHOUSE_UNREACHABLE', `ClickHouse did not answer on ${config.clickhouse.url}/ping (clickhouse.url, stack.useExistingClickhouse=true)`);
    }
    log(`clickhouse: using ${config.clickhouse.url}`);
  } else {
    assertClickhouseTopology(config.stack);
    if (config.stack.clickhouseReplicas > 1) note('zookeeper', (await startZookeeper(config.stack)).started);
    const clickhouse = await startClickhouse(config.stack, config.clickhouse.cluster);
    for (const node of clickhouse.nodes) note(node.name, node.started);
  }

  // The bridges' and Mosquitto's certificates (made once, kept under stack.dataDir/tls).
  if (ensureLocalTls(config.stack)) log(`tls: made the local CA and server certificate under ${localTlsFiles(config.stack).dir}`);
  if (config.stack.useExistingMqtt) {
    const url = new URL(config.mqtt.url);
    if (!(await portAnswers(url.hostname, Number(url.port || 1883)))) {
      throw new StackError('STACK_MQTT_UNREACHABLE', `the MQTT broker did not answer on ${config.mqtt.url} (mqtt.url, stack.useExistingMqtt=true)`);
    }
    log(`mosquitto: using ${config.mqtt.url}`);
  } else {
    // Written with the persistence the configuration declares, so that `guarantees explain` describes the broker that runs.
    note('mosquitto', (await startMosquitto(config.stack, config.mqtt.brokerPersistence)).started);
  }

  if (ensureDemoCredentials(config.stack)) log(`mqtt: wrote the demo device accounts to ${demoCredentialsFile(config.stack)}`);

  const local = configForLocalStack(config);
  const topicsCreated = await ensureTopics(local.kafka, pipelineTopics(local.kafka), (topic, settings) =>
    log(`kafka: set ${Object.entries(settings).map(([name, value]) => `${name}=${value}`).join(', ')} on existing topic ${topic}`),
  );
  if (topicsCreated.length > 0) log(`kafka: created topics ${topicsCreated.join(', ')}`);
  // The bridges' and aggregators' own principals and their ACLs on the configured topics and groups.
  const access = await grantServiceAccess(config.stack, adminConnection(config.stack), local.kafka, pipelineGroups(local));
  if (access.usersSet.length > 0) log(`kafka: set the SCRAM credentials of ${access.usersSet.join(', ')}`);
  return { started, alreadyRunning, topicsCreated };
}

/** Stops every process the stack recorded (pipeline services first, then the servers). */
export async function stackDown(config: LocalStackConfig, log: (line: string) => void = () => undefined): Promise<string[]> {
  const { runDir } = stackPaths(config.stack);
  const stopped: string[] = [];
  // Pipeline processes (bridges, aggregators, fleets) first, so that nothing writes into a stopping server.
  const services = await stopAllRecorded(`${runDir}/services`, 30_000);
  stopped.push(...services);
  if (await stopMosquitto(config.stack)) stopped.push('mosquitto');
  for (const id of await stopKafka(config.stack)) stopped.push(`kafka-${id}`);
  // Every ClickHouse server the stack may have started (single or replicas), then their ZooKeeper.
  for (const proc of allClickhouseProcesses(config.stack)) if (await stopProcess(proc, 60_000)) stopped.push(proc.name);
  if (await stopZookeeper(config.stack)) stopped.push('zookeeper');
  // Anything else recorded (another node count's Kafka, say).
  stopped.push(...(await stopAllRecorded(runDir, 30_000)));
  for (const name of stopped) log(`${name}: stopped`);
  return stopped;
}

export async function stackHealth(config: LocalStackConfig): Promise<ServiceHealth[]> {
  const local = configForLocalStack(config);
  const health: ServiceHealth[] = [];
  const brokers = local.kafka.brokers.join(',');
  try {
    const metadata = await fetchMetadata(local.kafka, 5000);
    const readings = metadata.topics.get(local.kafka.readingsTopic);
    health.push({
      service: 'kafka',
      endpoint: brokers,
      healthy: metadata.brokers.length >= config.stack.kafkaNodes,
      detail: `${metadata.brokers.length} broker(s) up` + (readings ? `, ${local.kafka.readingsTopic} has ${readings} partitions` : ''),
    });
  } catch (error) {
    const pids = kafkaStatus(config.stack).map((node) => `node ${node.id}: ${node.pid ? `pid ${node.pid}` : 'not running'}`);
    const restart = kafkaRestartNeeded(config.stack);
    health.push({ service: 'kafka', endpoint: brokers, healthy: false, detail: `${(error as Error).message} (${pids.join('; ')})${restart === null ? '' : `. ${restart}`}` });
  }
  if (config.stack.clickhouseReplicas > 1 && !config.stack.useExistingClickhouse) {
    health.push(...(await replicatedClickhouseHealth(config, roleCredentials(local.clickhouse, 'reader'))));
  } else {
    const clickhouseOk = await clickhousePing(local.clickhouse.url);
    health.push({ service: 'clickhouse', endpoint: local.clickhouse.url, healthy: clickhouseOk, detail: clickhouseOk ? 'ping ok' : 'no answer to /ping' });
  }
  const mqttUrl = new URL(local.mqtt.url);
  const mqttOk = await portAnswers(mqttUrl.hostname, Number(mqttUrl.port || 1883));
  const mqttPid = config.stack.useExistingMqtt ? null : runningPid(mosquittoProcess(config.stack));
  health.push({
    service: 'mosquitto',
    endpoint: local.mqtt.url,
    healthy: mqttOk,
    detail: mqttOk ? `listening${mqttPid ? ` (pid ${mqttPid})` : ''}` : 'not listening',
  });
  return health;
}

/** ZooKeeper, then each replica: does it answer, does it reach ZooKeeper, how its Replicated tables fare. */
async function replicatedClickhouseHealth(config: LocalStackConfig, reader: { username: string; password: string }): Promise<ServiceHealth[]> {
  const zkEndpoint = `127.0.0.1:${config.stack.zookeeperPort}`;
  const zkOk = await zookeeperRuok('127.0.0.1', config.stack.zookeeperPort);
  const zkPid = zookeeperPid(config.stack);
  const health: ServiceHealth[] = [
    { service: 'zookeeper', endpoint: zkEndpoint, healthy: zkOk, detail: zkOk ? `imok${zkPid ? ` (pid ${zkPid})` : ''}` : "no answer to 'ruok'" },
  ];
  for (const node of clickhouseNodes(config.stack)) health.push(await replicaHealth(node, reader));
  return health;
}

async function replicaHealth(node: ClickhouseNode, reader: { username: string; password: string }): Promise<ServiceHealth> {
  const service = node.process.name;
  if (!(await clickhousePing(node.url))) return { service, endpoint: node.url, healthy: false, detail: 'no answer to /ping' };
  const sql =
    "SELECT (SELECT count() FROM system.zookeeper WHERE path = '/') AS zookeeper_nodes, count() AS tables, " +
    'sum(is_readonly) AS readonly, sum(queue_size) AS queued, max(absolute_delay) AS delay_s FROM system.replicas FORMAT JSONEachRow';
  try {
    const response = await fetch(`${node.url}/`, { method: 'POST', body: sql, headers: { authorization: `Basic ${Buffer.from(`${reader.username}:${reader.password}`).toString('base64')}` }, signal: AbortSignal.timeout(5000) });
    const text = await response.text();
    if (!response.ok) return { service, endpoint: node.url, healthy: false, detail: `ping ok; replication: ${text.split('\n', 1)[0]}` };
    const row = JSON.parse(text) as { tables: string | number; readonly: string | number; queued: string | number; delay_s: string | number };
    const readonly = Number(row.readonly);
    return {
      service,
      endpoint: node.url,
      healthy: readonly === 0,
      detail: `ping ok, ZooKeeper reachable, ${row.tables} replicated table(s), ${readonly} read-only, ${row.queued} queued, delay ${row.delay_s} s`,
    };
  } catch (error) {
    return { service, endpoint: node.url, healthy: false, detail: `ping ok; replication status failed: ${(error as Error).message}` };
  }
}

export function formatHealth(health: readonly ServiceHealth[]): string {
  const width = Math.max(...health.map((entry) => entry.service.length));
  return health
    .map((entry) => `${entry.healthy ? 'ok  ' : 'FAIL'}  ${entry.service.padEnd(width)}  ${entry.endpoint}  ${entry.detail}`)
    .join('\n');
}
