import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkaJs from '@confluentinc/kafka-javascript';
import { stringify } from 'yaml';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { errorMessage } from '../../src/core/errors.ts';
import { ensureTopics, pipelineTopics } from '../../src/kafka/admin.ts';
import { startClickhouse, stopClickhouse } from '../../src/stack/clickhouse.ts';
import { isolatedBootstrapServers, startKafkaNode, stopKafkaNode, waitForKafkaNode, waitForBrokers } from '../../src/stack/kafka.ts';
import { startMosquitto, stopMosquitto } from '../../src/stack/mosquitto.ts';
import { createIsolatedHost, destroyIsolatedHost, destroyIsolatedHostNow, heal, isolatedHostPlan, partition, type IsolatedHost } from '../../src/stack/netns.ts';
import { REPO_ROOT, stackPaths } from '../../src/stack/paths.ts';
import { signalAllRecorded } from '../../src/stack/processes.ts';
import { eventually, startService, type ServiceProcess } from '../../src/stack/services.ts';
import { configForLocalStack, stackDown, stackUp } from '../../src/stack/stack.ts';
import { STEADY_PATTERNS } from '../fleet/model.ts';
import { runFleet, type FleetResult } from '../fleet/publisher.ts';
import { auditTiers, type TierAudit, type TierVerdict } from './audit.ts';
import { faultSchedule, type FaultKind, type ScheduledFault } from './schedule.ts';
import { chaosVerdict, type ChaosVerdict } from './verdict.ts';

/**
 * The one-command proof: the whole pipeline on a private three-broker stack, every tier at once,
 * a steady fleet, and faults on a seeded schedule; then an SQL audit per tier against the ids the
 * fleet had acknowledged, checked against the failure table of `guarantees explain`.
 */
export interface ChaosOptions {
  readonly readings: number;
  readonly ratePerSecond: number;
  readonly seed: number;
  readonly faults: readonly FaultKind[];
  readonly timesEach: number;
  readonly keepStack: boolean;
  /** The fleet publishes again what the broker answered with "no matching subscribers" (as devices should). */
  readonly republishUnrouted: boolean;
  readonly log: (line: string) => void;
}

export type { TierVerdict };

export interface ChaosResult {
  readonly readings: number;
  readonly faults: (ScheduledFault & { tookMs: number; note: string })[];
  /** Acknowledged readings absent from readings_raw; null when that audit did not run. */
  readonly edgeLost: number | null;
  /** Acknowledged readings absent from the readings topic itself (the MQTT leg's loss); null when that audit did not run. */
  readonly kafkaLost: number | null;
  readonly noSubscriberPubacks: number;
  readonly tiers: TierVerdict[];
  readonly matchesTable: boolean;
  readonly unexpectedExits: string[];
  /** Faults asked for that cannot be injected here, with the reason (a network namespace needs root and iproute2). */
  readonly skippedFaults: string[];
  /** How the wait for the tiers to settle ended ('not-reached': the run failed before it). */
  readonly settle: 'settled' | 'timed-out' | 'not-reached';
  /** What went wrong on the way (a service that would not start, a fault that failed, an audit query), one line each. */
  readonly failures: string[];
  readonly verdict: ChaosVerdict;
}

const CHAOS_STACK = {
  dataDir: '.data/chaos',
  kafkaNodes: 3,
  kafkaBasePort: 29092,
  clickhouseHttpPort: 28123,
  clickhouseTcpPort: 29000,
  mosquittoPort: 21883,
  // A broker restarted under the run's full load can take minutes to rejoin on a small machine
  // (seen here: over 60 s at a load average of 14); that is slow, not a finding.
  startTimeoutMs: 180_000,
} as const;
const INSTANCES = 2;
/** The aggregator that runs in a network namespace, so that it can be cut off from Kafka. */
const ISOLATED_AGGREGATOR = INSTANCES - 1;
const SESSION_TIMEOUT_MS = 6000;
/** Past the session timeout, so that the group moves the cut-off instance's partitions. */
const PARTITION_MS = 15_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What an interrupted run must not leave behind (its private stack, its namespace): set while they exist. */
let teardownOnInterrupt: (() => void) | null = null;

/**
 * Ctrl-C or SIGTERM during a run stops the private stack and removes the namespace before the
 * process exits (the services it started are killed on exit by src/stack/services.ts). Install it
 * before the run starts, so that it comes before any other handler of these signals.
 */
export function installInterruptTeardown(log: (line: string) => void): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping the private stack`);
      teardownOnInterrupt?.();
      process.exit(130);
    });
  }
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log;
  const failures: string[] = [];
  // A step that fails is recorded and the run goes on to audit what it can: a chaos run must end with its report.
  const attempt = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      failures.push(`${what}: ${errorMessage(error)}`);
      log(`  ! ${what}: ${errorMessage(error)}`);
      return undefined;
    }
  };
  const skippedFaults: string[] = [];
  let faults = options.faults;
  let isolatedHost: IsolatedHost | null = null;
  if (faults.includes('partition-aggregator-from-kafka')) {
    const plan = isolatedHostPlan('tpchaos');
    try {
      await createIsolatedHost(plan);
      isolatedHost = plan;
      log(`aggregator ${ISOLATED_AGGREGATOR} runs in network namespace ${plan.namespace} (${plan.guestAddress}; Kafka at ${plan.kafkaAddress}, ClickHouse at ${plan.clickhouseAddress})`);
    } catch (error) {
      await destroyIsolatedHost(plan);
      const reason = errorMessage(error);
      faults = faults.filter((fault) => fault !== 'partition-aggregator-from-kafka');
      skippedFaults.push(`partition-aggregator-from-kafka: no network namespace can be made here (${reason})`);
      log(`  ! skipping partition-aggregator-from-kafka: ${reason}`);
    }
  }
  const isolation = isolatedHost ? { isolatedKafkaAddress: isolatedHost.kafkaAddress, isolatedClickhouseAddress: isolatedHost.clickhouseAddress } : {};
  const base = loadConfig({ overrides: { stack: { ...CHAOS_STACK, ...isolation }, kafka: { replicationFactor: 3, minInsyncReplicas: 2 } } });
  const host = isolatedHost;
  teardownOnInterrupt = () => {
    signalAllRecorded(stackPaths(base.stack).runDir);
    if (host) destroyIsolatedHostNow(host);
  };
  const runId = `${Date.now().toString(36)}${process.pid}`;
  const config = parseConfig(chaosConfig(configForLocalStack(base), runId));
  const tenant = `chaos${runId}`;
  const applied: ChaosResult['faults'] = [];
  let supervisor: Supervisor | undefined;
  let fleet: FleetResult | undefined;
  let audit: TierAudit | undefined;
  const result = (): ChaosResult => {
    const tiersConfigured = config.aggregator.pipelines.map((pipeline) => pipeline.guarantee);
    const tiers = audit?.tiers ?? [];
    const edgeLost = audit?.edgeLost ?? null;
    const kafkaLost = audit?.kafkaLost ?? null;
    const settle = audit?.settle ?? 'not-reached';
    const verdict = chaosVerdict({ tiers, tiersConfigured, kafkaLost, edgeLost, settle, failures });
    return {
      readings: fleet?.acked ?? 0,
      faults: applied,
      edgeLost,
      kafkaLost,
      noSubscriberPubacks: fleet?.noSubscriberPubacks ?? 0,
      tiers,
      matchesTable: tiers.length === tiersConfigured.length && tiers.every((tier) => tier.matchesTable) && edgeLost === 0,
      unexpectedExits: supervisor?.unexpectedExits ?? [],
      skippedFaults,
      settle,
      failures,
      verdict,
    };
  };
  try {
    log(`starting the private three-broker stack in ${CHAOS_STACK.dataDir}`);
    if ((await attempt('starting the private stack', () => stackUp(base, (line) => log(`  ${line}`)))) === undefined) return result();
    const runDir = join(REPO_ROOT, '.data', 'runs', `chaos-${runId}`);
    mkdirSync(runDir, { recursive: true });
    const configFile = join(runDir, 'pipeline.yaml');
    writeFileSync(configFile, stringify(config));
    if ((await attempt('creating the topics', () => ensureTopics(config.kafka.brokers, pipelineTopics(config.kafka)))) === undefined) return result();
    const running = new Supervisor(configFile, runId, log, isolatedHost && { host: isolatedHost, brokers: isolatedBootstrapServers(base.stack), clickhouseUrl: `http://${isolatedHost.clickhouseAddress}:${CHAOS_STACK.clickhouseHttpPort}` });
    supervisor = running;
    const durationMs = Math.round((options.readings / options.ratePerSecond) * 1000);
    const schedule = faultSchedule({ seed: options.seed, durationMs, kinds: faults, timesEach: options.timesEach, marginMs: Math.min(10_000, durationMs / 10), instances: INSTANCES, brokers: 3 });
    log(`fault schedule (seed ${options.seed}): ${schedule.map((f) => `${(f.atMs / 1000).toFixed(1)}s ${f.kind}${f.point ? `(${f.point})` : ''}#${f.target}`).join(', ')}`);
    if ((await attempt('starting the bridges and the aggregators', () => running.startAll())) === undefined) return result();
    const started = Date.now();
    let failuresLogged = 0;
    // Wrapped at once, so that a fleet failing during a fault is recorded rather than an unhandled rejection.
    const fleetDone = attempt('running the fleet', () =>
      runFleet(
        { tenant, devices: 2000, gateways: 10, ratePerSecond: options.ratePerSecond, batchSize: 10, patterns: STEADY_PATTERNS, seed: options.seed },
        { url: config.mqtt.url, username: 'fleet', password: 'fleet-secret', connections: 10, durationMs, clientIdPrefix: `chaos-fleet-${runId}`, maxInFlightPerConnection: 200, republishUnrouted: options.republishUnrouted,
          log: (line) => void (failuresLogged++ < 5 && log(`  fleet: ${line}`)) },
      ),
    );
    for (const fault of schedule) {
      const wait = started + fault.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      const faultStart = Date.now();
      const note = (await attempt(`fault ${fault.kind}#${fault.target}`, () => inject(fault, config, running, isolatedHost, log))) ?? 'FAILED (see the reasons)';
      applied.push({ ...fault, tookMs: Date.now() - faultStart, note });
    }
    fleet = await fleetDone;
    if (!fleet) return result();
    log(`fleet done: ${fleet.acked} readings acknowledged, ${fleet.failed} failed, in ${fleet.seconds.toFixed(1)} s; ${fleet.noSubscriberPubacks} PUBACKs "no matching subscribers"${options.republishUnrouted ? ' (published again)' : ' (counted as acknowledged: --no-republish)'}`);
    audit = await auditTiers({ config, tenant, fleet, applied, runDir, log, attempt, ensureAllRunning: () => running.ensureAllRunning() });
    return result();
  } finally {
    await supervisor?.stopAll();
    if (!options.keepStack) await stackDown(base, (line) => log(`  ${line}`)).catch((error: unknown) => log(`  ! stopping the private stack: ${errorMessage(error)}`));
    if (isolatedHost && !options.keepStack) await destroyIsolatedHost(isolatedHost);
    teardownOnInterrupt = null;
  }
}

function chaosConfig(local: Config, runId: string): Record<string, unknown> {
  const window = { kind: 'tumbling', sizeMs: 5000 };
  const watermark = { kind: 'fixed', delayMs: 2000 };
  // Late readings (a backlog after a fault) are absorbed, so a shortfall in a tier is a loss, not a late drop.
  const latePolicy = { kind: 'reemit', allowedLatenessMs: 600_000 };
  return {
    kafka: { ...local.kafka, readingsTopic: `chaos-${runId}`, deadLetterTopic: `chaos-${runId}-dead-letter`, lateTopic: `chaos-${runId}-late` },
    // Long enough to outlast a bridge restart, short enough not to outlive the run.
    mqtt: { ...local.mqtt, shareGroup: `chaos${runId}`, sessionExpirySeconds: 120 },
    edge: { ...local.edge, deliveryTimeoutMs: 30_000 },
    clickhouse: { ...local.clickhouse, database: `chaos_${runId}`, insertMaxElapsedMs: 180_000 },
    aggregator: {
      ...local.aggregator,
      flushIntervalMs: 500,
      checkpointIntervalMs: 2000,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      pipelines: (['at-most-once', 'at-least-once', 'exactly-once'] as const).map((guarantee) => {
        const name = guarantee === 'at-most-once' ? 'monitoring' : guarantee === 'at-least-once' ? 'analytics' : 'billing';
        return { name, guarantee, window, watermark, latePolicy, idleTimeoutMs: 3000, consumerGroup: `chaos-${runId}-${name}`, table: `agg_${name}` };
      }),
    },
    stack: local.stack,
  };
}

/** Keeps two bridges and two aggregators running, restarts what a fault killed, and notes any other exit. */
class Supervisor {
  readonly bridges: (ServiceProcess | null)[] = [null, null];
  readonly aggregators: (ServiceProcess | null)[] = [null, null];
  readonly unexpectedExits: string[] = [];
  private readonly expectedExit = new Set<ServiceProcess>();

  constructor(
    private readonly configFile: string,
    private readonly runId: string,
    private readonly log: (line: string) => void,
    /** Where the isolated aggregator reaches Kafka and ClickHouse from inside its namespace. */
    private readonly isolation: { host: IsolatedHost; brokers: string[]; clickhouseUrl: string } | null,
  ) {}

  async startAll(): Promise<void> {
    for (let i = 0; i < INSTANCES; i++) {
      this.startBridge(i);
      this.startAggregator(i);
    }
    for (let i = 0; i < INSTANCES; i++) await this.ready(i);
  }

  startBridge(index: number): ServiceProcess {
    const service = startService(`chaos-bridge-${index}`, 'edge/main.ts', {
      TP_CONFIG: this.configFile,
      TP_EDGE__HTTP_PORT: String(28080 + index),
      TP_MQTT__CLIENT_ID_PREFIX: `chaos-bridge-${this.runId}-${index}`,
      LOG_LEVEL: process.env['CHAOS_BRIDGE_LOG_LEVEL'] ?? 'warn',
    });
    this.bridges[index] = service;
    this.watch(service, `bridge ${index}`);
    return service;
  }

  startAggregator(index: number, env: NodeJS.ProcessEnv = {}): ServiceProcess {
    const isolated = index === ISOLATED_AGGREGATOR ? this.isolation : null;
    const networkEnv: NodeJS.ProcessEnv = isolated
      ? { TP_KAFKA__BROKERS: isolated.brokers.join(','), TP_CLICKHOUSE__URL: isolated.clickhouseUrl, TP_AGGREGATOR__METRICS_HOST: isolated.host.guestAddress }
      : {};
    const service = startService(
      `chaos-aggregator-${index}`,
      'src/aggregator/main.ts',
      {
        TP_CONFIG: this.configFile,
        TP_AGGREGATOR__INSTANCE_ID: `chaos-${this.runId}-${index}`,
        TP_AGGREGATOR__METRICS_PORT: String(29464 + index),
        LOG_LEVEL: 'warn',
        ...networkEnv,
        ...env,
      },
      isolated ? { namespace: isolated.host.namespace } : {},
    );
    this.aggregators[index] = service;
    this.watch(service, `aggregator ${index}`);
    return service;
  }

  /** A fault is about to end this process: its exit is not a finding. */
  expect(service: ServiceProcess | null): void {
    if (service) this.expectedExit.add(service);
  }

  private watch(service: ServiceProcess, name: string): void {
    void service.exited.then((code) => {
      if (this.expectedExit.has(service)) return;
      this.unexpectedExits.push(`${name} exited with ${String(code)}; log: ${service.logFile}`);
      this.log(`  ! ${name} exited unexpectedly (${String(code)}); restarting it as a supervisor would`);
      const index = Number(name.split(' ')[1]);
      // A supervisor restarts with a pause, as Kubernetes does, so that a failing start does not spin.
      setTimeout(() => (name.startsWith('bridge') ? this.startBridge(index) : this.startAggregator(index)), 2000);
    });
  }

  async ready(index: number): Promise<void> {
    await eventually(`bridge ${index} ready`, async () => ((await fetch(`http://127.0.0.1:${28080 + index}/readyz`).catch(() => null))?.ok ? true : undefined), 90_000);
    const host = index === ISOLATED_AGGREGATOR && this.isolation ? this.isolation.host.guestAddress : '127.0.0.1';
    await eventually(`aggregator ${index} ready`, async () => ((await fetch(`http://${host}:${29464 + index}/readyz`).catch(() => null))?.ok ? true : undefined), 90_000);
  }

  async ensureAllRunning(): Promise<void> {
    for (let i = 0; i < INSTANCES; i++) await this.ready(i);
  }

  async stopAll(): Promise<void> {
    const all = [...this.bridges, ...this.aggregators].filter((s): s is ServiceProcess => s !== null);
    all.forEach((service) => this.expect(service));
    await Promise.allSettled(all.map((service) => service.stop(20_000)));
  }
}

async function inject(fault: ScheduledFault, config: Config, supervisor: Supervisor, isolatedHost: IsolatedHost | null, log: (line: string) => void): Promise<string> {
  const stack = config.stack;
  log(`fault ${fault.kind}${fault.point ? ` (${fault.point})` : ''} on #${fault.target}`);
  switch (fault.kind) {
    case 'kill-bridge': {
      const victim = supervisor.bridges[fault.target]!;
      supervisor.expect(victim);
      victim.signal('SIGKILL');
      await victim.exited;
      await sleep(1000);
      supervisor.startBridge(fault.target);
      return `SIGKILL pid ${victim.pid}, restarted`;
    }
    case 'kill-aggregator': {
      const victim = supervisor.aggregators[fault.target]!;
      supervisor.expect(victim);
      victim.signal('SIGKILL');
      await victim.exited;
      await sleep(1000);
      supervisor.startAggregator(fault.target);
      return `SIGKILL pid ${victim.pid}, restarted`;
    }
    case 'crash-aggregator-at-point': {
      const current = supervisor.aggregators[fault.target]!;
      supervisor.expect(current);
      await current.stop(20_000);
      const crashing = supervisor.startAggregator(fault.target, { TP_AGGREGATOR__CRASH_AT: fault.point! });
      supervisor.expect(crashing);
      const outcome = await Promise.race([crashing.exited, sleep(60_000).then(() => 'still running')]);
      if (outcome === 'still running') await crashing.stop(20_000);
      supervisor.startAggregator(fault.target);
      return `restarted with crashAt ${fault.point}: ${String(outcome)}; restarted normally`;
    }
    case 'stop-aggregator-past-session-timeout': {
      const victim = supervisor.aggregators[fault.target]!;
      victim.signal('SIGSTOP');
      await sleep(SESSION_TIMEOUT_MS + 4000);
      victim.signal('SIGCONT');
      return `SIGSTOP pid ${victim.pid} for ${(SESSION_TIMEOUT_MS + 4000) / 1000} s, then SIGCONT`;
    }
    case 'kill-partition-leader': {
      const leader = await partitionLeader(config, 0);
      await stopKafkaNode(stack, leader, 'SIGKILL');
      await sleep(5000);
      const { node } = await startKafkaNode(stack, leader);
      await waitForKafkaNode(stack, node);
      await waitForBrokers(stack);
      return `SIGKILL broker ${leader} (leader of partition 0), restarted after 5 s`;
    }
    case 'restart-broker': {
      await stopKafkaNode(stack, fault.target, 'SIGTERM');
      const { node } = await startKafkaNode(stack, fault.target);
      await waitForKafkaNode(stack, node);
      await waitForBrokers(stack);
      return `broker ${fault.target} stopped (SIGTERM) and started`;
    }
    case 'stop-clickhouse': {
      await stopClickhouse(stack);
      await sleep(20_000);
      await startClickhouse(stack);
      return 'ClickHouse stopped for 20 s';
    }
    case 'restart-mosquitto': {
      await stopMosquitto(stack);
      await startMosquitto(stack);
      return 'Mosquitto stopped (SIGTERM, sessions persisted) and started';
    }
    case 'partition-aggregator-from-kafka': {
      if (!isolatedHost) throw new Error('partition-aggregator-from-kafka needs the network namespace');
      await partition(isolatedHost);
      try {
        await sleep(PARTITION_MS);
      } finally {
        await heal(isolatedHost);
      }
      return `aggregator ${fault.target} (pid ${supervisor.aggregators[fault.target]?.pid ?? '?'}) cut off from Kafka for ${PARTITION_MS / 1000} s (ClickHouse reachable), then healed`;
    }
  }
}

async function partitionLeader(config: Config, partition: number): Promise<number> {
  const client = new kafkaJs.Producer({ 'metadata.broker.list': config.kafka.brokers.join(',') } as never);
  return new Promise((resolve, reject) => {
    client.connect({ timeout: 10_000, topic: config.kafka.readingsTopic } as never, (error: unknown, metadata: any) => {
      client.disconnect();
      if (error) return reject(error);
      const topic = (metadata.topics as { name: string; partitions: { id: number; leader: number }[] }[]).find((t) => t.name === config.kafka.readingsTopic);
      const leader = topic?.partitions.find((p) => p.id === partition)?.leader;
      if (leader === undefined) return reject(new Error(`no leader known for partition ${partition} of ${config.kafka.readingsTopic}`));
      resolve(leader);
    });
  });
}
