import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { Config } from '../config/schema.ts';
import { demoCredentialsFile, ensureDemoCredentials } from './device-credentials.ts';
import { REPO_ROOT, stackPaths } from './paths.ts';
import { assertPortFree, delay, runningPid, startDetached, StackError, tailOf, type ManagedProcess } from './processes.ts';
import { configForLocalStack } from './stack.ts';

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

function servicesDir(config: Config): string {
  return join(stackPaths(config.stack).runDir, 'services');
}

function manifestFile(config: Config): string {
  return join(servicesDir(config), 'services.json');
}

/** The services `stack up` started last, as recorded (empty when none). */
export function recordedPipelineServices(config: Config): PipelineService[] {
  const file = manifestFile(config);
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8')) as PipelineService[];
}

function serviceProcess(config: Config, configFile: string, kind: 'bridge' | 'aggregator', index: number): { proc: ManagedProcess; port: number } {
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
      : { TP_AGGREGATOR__INSTANCE_ID: name, TP_AGGREGATOR__METRICS_PORT: String(port) };
  const script = kind === 'bridge' ? BRIDGE_SCRIPT : AGGREGATOR_SCRIPT;
  return {
    port,
    proc: {
      name,
      command: process.execPath,
      args: ['--import', 'tsx', script],
      cwd: REPO_ROOT,
      env: { ...process.env, TP_CONFIG: configFile, LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'info', ...instanceEnv },
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
  config: Config,
  counts: PipelineServiceCounts,
  log: (line: string) => void = () => undefined,
): Promise<{ started: string[]; alreadyRunning: string[]; services: PipelineService[] }> {
  const local = configForLocalStack(config);
  // Direct mode's bridges refuse to start without device accounts: the demo ones, as `stack up` writes them.
  if (local.mqtt.mode === 'direct' && local.mqtt.credentialsFile === demoCredentialsFile(config.stack)) ensureDemoCredentials(config.stack);
  const bridgeUrls = Array.from({ length: counts.bridges }, (_, i) => `http://127.0.0.1:${local.edge.httpPort + i}`);
  const resolved: Config = { ...local, aggregator: { ...local.aggregator, statusBridges: local.aggregator.statusBridges.length > 0 ? local.aggregator.statusBridges : bridgeUrls } };
  mkdirSync(servicesDir(config), { recursive: true });
  const configFile = join(servicesDir(config), 'pipeline.yaml');
  writeFileSync(configFile, stringify(resolved));

  const started: string[] = [];
  const alreadyRunning: string[] = [];
  const services: PipelineService[] = [];
  const waiting: { proc: ManagedProcess; url: string }[] = [];
  for (const kind of ['aggregator', 'bridge'] as const) {
    const count = kind === 'bridge' ? counts.bridges : counts.aggregators;
    for (let index = 1; index <= count; index++) {
      const { proc, port } = serviceProcess(resolved, configFile, kind, index);
      const url = `http://127.0.0.1:${port}`;
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
    await waitForReady(proc, url, config.stack.startTimeoutMs);
    log(`${proc.name}: started (${url}, log ${proc.logFile})`);
  }
  return { started, alreadyRunning, services };
}

async function waitForReady(proc: ManagedProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (runningPid(proc) === null) {
      throw new StackError('STACK_SERVICE_EXITED', `${proc.name} exited while starting; its log (${proc.logFile}) ends with:\n${tailOf(proc.logFile)}`, { name: proc.name });
    }
    const ready = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).then((response) => response.ok, () => false);
    if (ready) return;
    await delay(250);
  }
  throw new StackError('STACK_SERVICE_NOT_READY', `${proc.name} did not answer ${url}/readyz within ${timeoutMs} ms (stack.startTimeoutMs); its log (${proc.logFile}) ends with:\n${tailOf(proc.logFile)}`, {
    name: proc.name,
  });
}

/** Health of each recorded service: alive by pid, and what its /readyz says. */
export async function pipelineServicesHealth(config: Config): Promise<{ service: string; endpoint: string; healthy: boolean; detail: string }[]> {
  const configFile = join(servicesDir(config), 'pipeline.yaml');
  const health = [];
  for (const service of recordedPipelineServices(config)) {
    const index = Number(service.name.split('-').pop());
    const { proc } = serviceProcess(config, configFile, service.kind, index);
    const pid = runningPid(proc);
    if (pid === null) {
      health.push({ service: service.name, endpoint: service.url, healthy: false, detail: `not running (log ${proc.logFile})` });
      continue;
    }
    const response = await fetch(`${service.url}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    const detail = response === null ? 'no answer' : response.ok ? 'ready' : `not ready (${response.status}: ${(await response.text()).slice(0, 120)})`;
    health.push({ service: service.name, endpoint: service.url, healthy: response?.ok ?? false, detail: `${detail} (pid ${pid})` });
  }
  return health;
}

/** After `stack down` stopped them: forget the recorded services, so that status no longer lists them. */
export function forgetPipelineServices(config: Config): void {
  rmSync(manifestFile(config), { force: true });
}
