import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../support/stack.ts';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { gatewayKeyLine, generateGatewayKey } from '../../src/util/gateway-keys.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { Config, GatewayKey, HttpLimitsConfig, MqttListenConfig } from '../../src/config/schema.ts';
import { deleteTopics, ensureTopics } from '../../src/kafka/admin.ts';
import type { LocalStackConfig } from '../../src/stack/config-schema.ts';
import { servicesConfig } from '../../src/stack/config.ts';
import { writeCredentialFile } from '../../src/stack/device-credentials.ts';
import { stackPaths } from '../../src/stack/paths.ts';
import { startService, type ServiceProcess } from '../../src/stack/services.ts';
import { ensureLocalTls, localCa } from '../../src/stack/tls.ts';
import { grantServiceAccess } from '../../src/stack/kafka-access.ts';
import { kafkaPrincipalEnv } from '../../src/stack/local-credentials.ts';
import { sendRequest, type ClientTls } from './transport.ts';

/**
 * The run's own bridge: the local stack's configuration (configForLocalStack, as `stack up
 * --bridges` writes it for its bridges), with what a security run needs on top —
 *   - its own topics of one partition (so that an acknowledged control reading proves every
 *     earlier record is in: kafka-audit.ts), deleted at the end;
 *   - free ports;
 *   - device accounts and gateway keys of two tenants, with random secrets the secret scan looks
 *     for, beside the stack's own (its credential file's lines are kept, and its demo key);
 *   - short abuse limits, so that timeouts and rate limits are reached in seconds.
 * Started like every service of a run (src/stack/services.ts: a child process, its log in a file),
 * stopped by its pid at the end.
 */
export interface Account {
  readonly username: string;
  readonly password: string;
  readonly tenant: string;
  readonly device: string;
}

export interface HashedKey {
  readonly key: string;
  readonly gateway: string;
  readonly tenant: string;
  readonly devicePrefix: string;
  /** Its line in the key file. */
  readonly line: string;
}

export interface RunBridge {
  readonly host: string;
  readonly mqttPort: number;
  /** http:// or https:// (edge.tls.mode 'required'). */
  readonly httpUrl: string;
  /** What a client trusts to reach the bridge's listeners, or undefined when they are plaintext. */
  readonly tls: ClientTls | undefined;
  readonly readingsTopic: string;
  readonly deadLetterTopic: string;
  readonly listen: MqttListenConfig;
  readonly httpLimits: HttpLimitsConfig;
  readonly maxHttpBodyBytes: number;
  /** The configuration the bridge runs with (every secret in it is one the scan looks for). */
  readonly config: Config;
  readonly accounts: { readonly deviceA: Account; readonly deviceB: Account; readonly gatewayX: Account; readonly deviceY: Account };
  /** Gateway keys by purpose; each has its own rate-limit bucket, so that one check's flood does not refuse another's requests. */
  readonly keys: { readonly x: GatewayKey; readonly y: GatewayKey; readonly deviceFlood: GatewayKey; readonly gatewayFlood: GatewayKey; readonly slow: GatewayKey };
  readonly tenants: { readonly x: string; readonly y: string };
  /**
   * The run's hashed gateway key file (edge.hashedGatewayKeysFile: the stack's lines and the run's):
   * a key past its not-after time (the old end of a rotation) beside its successor, and a key
   * scoped to a device prefix. A check may rewrite the file (the bridge reloads it).
   */
  readonly hashedKeys: {
    readonly file: string;
    readonly expired: HashedKey;
    readonly successor: HashedKey;
    readonly scoped: HashedKey;
  };
  readonly logFile: string;
  readonly pid: number;
  /** The run's own directory (its configuration, credential file, certificates). */
  readonly runDir: string;
  /** SIGTERM, then SIGKILL after the grace; by its pid. */
  stop(): Promise<void>;
  /** Deletes the run's topics (after the last audit read them) and its directory (its configuration holds the run's secrets). */
  cleanUp(): Promise<void>;
}

/** The limits the run sets, and why each value: every one is reached within a few seconds. */
const LISTEN_LIMITS = { connectTimeoutMs: 1000, maxKeepAliveSeconds: 2, maxMessagesPerSecondPerClient: 20 } as const;
const HTTP_LIMITS = {
  headersTimeoutMs: 1000,
  bodyIdleTimeoutMs: 1000,
  requestTimeoutMs: 3000,
  gatewayRequestsPerSecond: 10,
  gatewayBurst: 20,
  deviceReadingsPerSecond: 5,
  deviceBurst: 10,
} as const;
const MAX_HTTP_BODY_BYTES = 16 * 1024;

export async function startRunBridge(local: LocalStackConfig, runId: string, log: (line: string) => void): Promise<RunBridge> {
  const services = servicesConfig(local);
  const runDir = join(stackPaths(local.stack).dataDir, 'runs', `security-${runId}`);
  mkdirSync(runDir, { recursive: true });
  const secret = (): string => randomBytes(18).toString('base64url');
  const tenants = { x: `secx${runId}`, y: `secy${runId}` };
  const accounts = {
    deviceA: { username: `a-${runId}`, password: secret(), tenant: tenants.x, device: 'dev-a' },
    deviceB: { username: `b-${runId}`, password: secret(), tenant: tenants.x, device: 'dev-b' },
    gatewayX: { username: `gw-${runId}`, password: secret(), tenant: tenants.x, device: '*' },
    deviceY: { username: `y-${runId}`, password: secret(), tenant: tenants.y, device: 'dev-y' },
  };
  const key = (purpose: string, tenant: string): GatewayKey => ({ key: `sec-${secret()}`, gateway: `gw-${purpose}-${runId}`, tenant });
  const keys = { x: key('x', tenants.x), y: key('y', tenants.y), deviceFlood: key('device-flood', tenants.x), gatewayFlood: key('gateway-flood', tenants.x), slow: key('slow', tenants.x) };

  const credentialsFile = join(runDir, 'device-credentials');
  writeCredentialFile(credentialsFile, Object.values(accounts));
  // The stack's own accounts too (their lines as they are: hashes only), so that the bridge answers them as the stack's does.
  const stackAccounts = services.mqtt.credentialsFile !== '' && existsSync(services.mqtt.credentialsFile) ? readFileSync(services.mqtt.credentialsFile, 'utf8') : '';
  if (stackAccounts !== '') writeFileSync(credentialsFile, `${readFileSync(credentialsFile, 'utf8')}${stackAccounts}`, { mode: 0o600 });

  const hashed = (gateway: string, devicePrefix: string, notAfter: number | null): HashedKey => {
    const { key } = generateGatewayKey();
    const identity = { gateway: `${gateway}-${runId}`, tenant: tenants.x, devicePrefix, notAfter };
    return { key, gateway: identity.gateway, tenant: identity.tenant, devicePrefix, line: gatewayKeyLine(identity, key) };
  };
  const hashedKeys = {
    file: join(runDir, 'gateway-keys'),
    expired: hashed('gw-rotated', '', Date.now() - 60_000),
    successor: hashed('gw-rotated', '', null),
    scoped: hashed('gw-scoped', 'pfx-', null),
  };
  const stackKeys = services.edge.hashedGatewayKeysFile !== '' && existsSync(services.edge.hashedGatewayKeysFile) ? readFileSync(services.edge.hashedGatewayKeysFile, 'utf8') : '';
  writeFileSync(hashedKeys.file, `${stackKeys}${stackKeys.endsWith('\n') || stackKeys === '' ? '' : '\n'}${[hashedKeys.expired, hashedKeys.successor, hashedKeys.scoped].map((entry) => entry.line).join('\n')}\n`, { mode: 0o600 });

  const host = '127.0.0.1';
  const [mqttPort, httpPort] = [await freePort(), await freePort()];
  const readingsTopic = `security-${runId}`;
  const deadLetterTopic = `${readingsTopic}-dead-letter`;
  const config = parseConfig({
    ...services,
    kafka: { ...services.kafka, readingsTopic, deadLetterTopic, lateTopic: `${readingsTopic}-late` },
    mqtt: { ...services.mqtt, mode: 'direct', credentialsFile, listen: { ...services.mqtt.listen, host, port: mqttPort, ...LISTEN_LIMITS } },
    edge: {
      ...services.edge,
      httpHost: host,
      httpPort,
      mqttEnabled: true,
      httpEnabled: true,
      maxHttpBodyBytes: MAX_HTTP_BODY_BYTES,
      gatewayKeys: [...services.edge.gatewayKeys, ...Object.values(keys)],
      hashedGatewayKeysFile: hashedKeys.file,
      httpLimits: { ...services.edge.httpLimits, ...HTTP_LIMITS },
    },
  });
  // TLS as the stack's bridges have it: the stack's CA and server certificate (made as `stack up` makes them, once).
  let tls: ClientTls | undefined;
  if (config.edge.tls.mode === 'required') {
    ensureLocalTls(local.stack);
    tls = { ca: localCa(local.stack) };
  }
  const configFile = join(runDir, 'bridge.yaml');
  writeFileSync(configFile, stringify(config), { mode: 0o600 });
  const { replicationFactor, minInsyncReplicas } = config.kafka;
  const topicConfig = { 'min.insync.replicas': String(minInsyncReplicas) };
  await ensureTopics(config.kafka, [
    { topic: readingsTopic, partitions: 1, replicationFactor, config: topicConfig },
    { topic: deadLetterTopic, partitions: 1, replicationFactor, config: topicConfig },
  ]);
  const topics = [readingsTopic, deadLetterTopic, config.kafka.lateTopic];
  // It logs in to Kafka as the stack's bridges do, held to their ACLs on the run's topics.
  await grantServiceAccess(local.stack, config.kafka, config.kafka, []);
  // Every line the bridge can log: the secret scan reads them all.
  const service: ServiceProcess = startService('security-bridge', 'edge/main.ts', { TP_CONFIG: configFile, TP_LOG__LEVEL: 'debug', ...kafkaPrincipalEnv(local.stack, 'bridge') });
  const httpUrl = `${tls === undefined ? 'http' : 'https'}://${host}:${httpPort}`;
  try {
    await readyOrExited(service, httpUrl, tls, 60_000);
  } catch (error) {
    await service.stop(5000);
    await deleteTopics(config.kafka, topics).catch(() => undefined);
    rmSync(runDir, { recursive: true, force: true });
    throw new Error(`${(error as Error).message}; its log (${service.logFile}) ends with:\n${service.log().slice(-2000)}`);
  }
  log(`bridge pid ${service.pid}: MQTT ${host}:${mqttPort} (direct), HTTP ${httpUrl}, topic ${readingsTopic}, log ${service.logFile}`);
  return {
    host,
    mqttPort,
    httpUrl,
    tls,
    readingsTopic,
    deadLetterTopic,
    listen: config.mqtt.listen,
    httpLimits: config.edge.httpLimits,
    maxHttpBodyBytes: config.edge.maxHttpBodyBytes,
    config,
    accounts,
    keys,
    tenants,
    hashedKeys,
    logFile: service.logFile,
    pid: service.pid,
    runDir,
    async stop() {
      await service.stop(20_000);
    },
    async cleanUp() {
      // Best effort: a leftover topic costs disk, not correctness.
      await deleteTopics(config.kafka, topics).catch(() => undefined);
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}

/** Until GET /readyz answers 200; fails at once when the bridge exits (a configuration it refuses), or after `timeoutMs`. */
async function readyOrExited(service: ServiceProcess, httpUrl: string, tls: ClientTls | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void service.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error('the bridge exited while starting');
    const status = await sendRequest(`${httpUrl}/readyz`, { tls, timeoutMs: 2000 }).then((reply) => reply.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`the bridge did not answer ${httpUrl}/readyz within ${timeoutMs} ms`);
}
