import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { LocalStackConfig } from './config-schema.ts';
import { servicesConfig, servicesEnv } from './config.ts';
import { demoCredentialsFile, ensureDemoCredentials } from './device-credentials.ts';
import { REPO_ROOT, stackPaths } from './paths.ts';
import { assertPortFree, delay, runningPid, startDetached, StackError, tailOf, type ManagedProcess } from './processes.ts';
import { configForLocalStack } from './stack.ts';
import { bridgeHttpUrl, fetchText, localClientTls, trustEnv } from './tls-client.ts';
import { ensureLocalTls } from './tls.ts';
import { kafkaPrincipalEnv } from './local-credentials.ts';
import { grantServiceAccess, pipelineGroups } from './kafka-access.ts';
import { adminConnection } from './kafka.ts';

/**
 * The pipeline itself on the local stack (`stack up --bridges M --aggregators N`): M bridges, each
 * the devices' MQTT endpoint on mqtt.listen.port + i − 1 (direct mode, stack.mqttMode; in broker
 * mode one shared subscription), and N aggregators in one consumer group per pipeline, as detached
 * processes recorded like the servers (pid files under run/services, which `stack down` stops
 * first). All of them read one configuration file, the local stack's resolved configuration.
 *
 * Instance i gets stable names, so that a restarted instance resumes its own state: the bridge's
 * MQTT client id prefix `<mqtt.clientIdPrefix>-<i>` (its persistent session), the aggregator's
 * instance id `aggregator-<i>` (its transactional id); ports are the configured ones + i − 1.
 */
export interface PipelineServiceCounts {
  readonly bridges: number;
  readonly aggregators: number;
}

export interface PipelineService {
  readonly name: string;
  readonly kind: 'bridge' | 'aggregator';
  /** Its ops endpoint: /healthz, /readyz, /metrics (and /status/ for aggregators). */
  readonly url: string;
}

const BRIDGE_SCRIPT = 'edge/main.ts';
const AGGREGATOR_SCRIPT = 'src/aggregator/main.ts';

function servicesDir(config: LocalStackConfig): string {
  return join(stackPaths(config.stack).runDir, 'services');
}

function manifestFile(config: LocalStackConfig): string {
  return join(servicesDir(config), 'services.json');
}

/** The services `stack up` started last, as recorded (empty when none). */
export function recordedPipelineServices(config: LocalStackConfig): PipelineService[] {
  const file = manifestFile(config);
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')) as PipelineService[];
}

function serviceProcess(config: LocalStackConfig, configFile: string, kind: 'bridge' | 'aggregator', index: number): { proc: ManagedProcess; port: number } {
  const name = `${kind}-${index}`;
  const port = kind === 'bridge' ? config.edge.httpPort + index - 1 : config.aggregator.metricsPort + index - 1;
  const instanceEnv: NodeJS.ProcessEnv =
    kind === 'bridge'
      ? {
          TP_MQTT__CLIENT_ID_PREFIX: `${config.mqtt.clientIdPrefix}-${index}`,
          TP_EDGE__HTTP_PORT: String(port),
          // Direct mode: each bridge is its own MQTT endpoint (a TCP load balancer would front them).
          ...(config.mqtt.mode === 'direct' ? { TP_MQTT__LISTEN__PORT: String(config.mqtt.listen.port + index - 1) } : {}),
        }
      : // The status page scrapes the bridges: over https it must trust the local CA.
        { TP_AGGREGATOR__INSTANCE_ID: name, TP_AGGREGATOR__METRICS_PORT: String(port), ...trustEnv(localClientTls(config)) };
  const script = kind === 'bridge' ? BRIDGE_SCRIPT : AGGREGATOR_SCRIPT;
  return {
    port,
    proc: {
      name,
      command: process.execPath,
      args: ['--import', 'tsx', script],
      cwd: REPO_ROOT,
      // Each service logs in to Kafka as its own principal (its ACLs: src/stack/kafka-access.ts), not as the file's admin.
      env: { ...servicesEnv(process.env), TP_CONFIG: configFile, ...instanceEnv, ...kafkaPrincipalEnv(config.stack, kind) },
      logFile: join(stackPaths(config.stack).logDir, `${name}.log`),
      pidFile: join(servicesDir(config), `${name}.pid`),
      marker: script,
    },
  };
}

/**
 * Starts the bridges and aggregators that are not running yet (idempotent: a running instance is
 * left alone) and waits until each answers /readyz. Returns the names started and already running.
 */
export async function startPipelineServices(
  config: LocalStackConfig,
  counts: PipelineServiceCounts,
  log: (line: string) => void = () => undefined,
): Promise<{ started: string[]; alreadyRunning: string[]; services: PipelineService[] }> {
  const local = configForLocalStack(config);
  // Direct mode's bridges refuse to start without device accounts: the demo ones, as `stack up` writes them.
  if (local.mqtt.mode === 'direct' && local.mqtt.credentialsFile === demoCredentialsFile(config.stack)) ensureDemoCredentials(config.stack);
  // The bridges' listeners are HTTPS and MQTTS with the local CA's certificate unless edge.tls.mode is 'plaintext'.
  if (local.edge.tls.mode === 'required') ensureLocalTls(config.stack);
  // The services log in as `bridge` and `aggregator`: they get this configuration's topics and groups, nothing more.
  await grantServiceAccess(config.stack, adminConnection(config.stack), local.kafka, pipelineGroups(local));
  const tls = localClientTls(local);
  const bridgeUrls = Array.from({ length: counts.bridges }, (_, i) => bridgeHttpUrl(tls, local.edge.httpPort + i));
  const resolved: LocalStackConfig = { ...local, aggregator: { ...local.aggregator, statusBridges: local.aggregator.statusBridges.length > 0 ? local.aggregator.statusBridges : bridgeUrls } };
  mkdirSync(servicesDir(config), { recursive: true });
  const configFile = join(servicesDir(config), 'pipeline.yaml');
  // The services' schema has no `stack` section: their file is the services' part only, and holds
  // no Kafka login (the admin's would be readable by every service): each gets its own by environment.
  const file = servicesConfig(resolved);
  writeFileSync(configFile, stringify({ ...file, kafka: { ...file.kafka, security: { ...file.kafka.security, username: '', password: '' } } }), { mode: 0o600 });

  const started: string[] = [];
  const alreadyRunning: string[] = [];
  const services: PipelineService[] = [];
  const waiting: { proc: ManagedProcess; url: string }[] = [];
  for (const kind of ['aggregator', 'bridge'] as const) {
    const count = kind === 'bridge' ? counts.bridges : counts.aggregators;
    for (let index = 1; index <= count; index++) {
      const { proc, port } = serviceProcess(resolved, configFile, kind, index);
      const url = kind === 'bridge' ? bridgeHttpUrl(tls, port) : `http://127.0.0.1:${port}`;
      services.push({ name: proc.name, kind, url });
      if (runningPid(proc) !== null) {
        alreadyRunning.push(proc.name);
        log(`${proc.name}: already running (${url})`);
        continue;
      }
      await assertPortFree(proc.name, '127.0.0.1', port, kind === 'bridge' ? 'edge.httpPort' : 'aggregator.metricsPort', 2000);
      startDetached(proc);
      started.push(proc.name);
      waiting.push({ proc, url });
    }
  }
  writeFileSync(manifestFile(config), `${JSON.stringify(services, null, 2)}\n`);
  for (const { proc, url } of waiting) {
    await waitForReady(proc, url, config.stack.startTimeoutMs, tls.ca);
    log(`${proc.name}: started (${url}, log ${proc.logFile})`);
  }
  return { started, alreadyRunning, services };
}

async function waitForReady(proc: ManagedProcess, url: string, timeoutMs: number, ca: Buffer | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (runningPid(proc) === null) {
      throw new StackError('STACK_SERVICE_EXITED', `${proc.name} exited while starting; its log (${proc.logFile}) ends with:\n${tailOf(proc.logFile)}`, { name: proc.name });
    }
    const ready = await fetchText(`${url}/readyz`, { ca, timeoutMs: 1000 }).then((response) => response.ok, () => false);
    if (ready) return;
    await delay(250);
  }
  throw new StackError('STACK_SERVICE_NOT_READY', `${proc.name} did not answer ${url}/readyz within ${timeoutMs} ms (stack.startTimeoutMs); its log (${proc.logFile}) ends with:\n${tailOf(proc.logFile)}`, {
    name: proc.name,
  });
}

/** Health of each recorded service: alive by pid, and what its /readyz says. */
export async function pipelineServicesHealth(config: LocalStackConfig): Promise<{ service: string; endpoint: string; healthy: boolean; detail: string }[]> {
  const configFile = join(servicesDir(config), 'pipeline.yaml');
  const health = [];
  const { ca } = localClientTls(config);
  for (const service of recordedPipelineServices(config)) {
    const index = Number(service.name.split('-').pop());
    const { proc } = serviceProcess(config, configFile, service.kind, index);
    const pid = runningPid(proc);
    if (pid === null) {
      health.push({ service: service.name, endpoint: service.url, healthy: false, detail: `not running (log ${proc.logFile})` });
      continue;
    }
    const response = await fetchText(`${service.url}/readyz`, { ca, timeoutMs: 2000 }).catch(() => null);
    const detail = response === null ? 'no answer' : response.ok ? 'ready' : `not ready (${response.status}: ${response.text.slice(0, 120)})`;
    health.push({ service: service.name, endpoint: service.url, healthy: response?.ok ?? false, detail: `${detail} (pid ${pid})` });
  }
  return health;
}

/** After `stack down` stopped them: forget the recorded services, so that status no longer lists them. */
export function forgetPipelineServices(config: LocalStackConfig): void {
  rmSync(manifestFile(config), { force: true });
}
