import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadStackConfig, parseStackConfig, servicesConfig } from '../../src/stack/config.ts';
import type { LocalStackConfig as Config } from '../../src/stack/config-schema.ts';
import { Auditor } from '../../src/clickhouse/audit.ts';
import { connectClickHouse, type ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { asRole } from '../../src/clickhouse/roles.ts';
import { migrate } from '../../src/clickhouse/migrations.ts';
import { errorMessage } from '../../src/core/errors.ts';
import { ensureTopics, pipelineTopics } from '../../src/kafka/admin.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import type { ServiceProcess } from '../../src/stack/services.ts';
import { withLocalTls } from '../../src/stack/tls-config.ts';
import { bridgeHttpUrl, fetchText, localClientTls, type LocalClientTls } from '../../src/stack/tls-client.ts';
import { configForLocalStack, stackUp } from '../../src/stack/stack.ts';
import { grantServiceAccess, pipelineGroups } from '../../src/stack/kafka-access.ts';
import { DEFAULT_PATTERNS, STEADY_PATTERNS } from '../fleet/model.ts';
import type { FleetResult } from '../fleet/publisher.ts';
import { codecRulesFor, type PayloadFormat } from '../fleet/formats.ts';
import { runMixedFleet, type SideFleet } from '../fleet/mixed.ts';
import { FLEET_ACCOUNT, directMqttSettings, fleetUrl } from './direct-mqtt.ts';
import { ProcessMonitor, type ProcessUsage } from './process-stats.ts';
import { bridgeName, startServices, type RunSetup } from './services.ts';
import { TABLE, auditRun, waitForSettling, type AuditFigures, type Latency, type LatencyBucket } from './audit.ts';
import { verdictOf, type RunFailure, type ServiceExit, type SettleOutcome, type Verdict } from './verdict.ts';

/**
 * One end-to-end run on the local stack: a fresh topic and database, the bridge and the aggregator
 * as real processes, a simulated fleet over MQTT for the duration, then the audit and the latency
 * measured in ClickHouse. Shared by `npm run loadtest` and the demo.
 */
export interface EndToEndOptions {
  readonly ratePerSecond: number;
  /** The devices' payload format (`--payload`); Sparkplug and Protobuf need direct mode (the bridge's codecs). */
  readonly payload?: PayloadFormat;
  /** Small fleets of other formats beside the main one (the demo's Sparkplug node and Protobuf device). */
  readonly sideFleets?: readonly SideFleet[];
  readonly durationS: number;
  readonly devices: number;
  readonly connections: number;
  readonly batchSize: number;
  readonly patterns: 'realistic' | 'steady';
  readonly windowSizeMs: number;
  readonly slaP95Ms: number;
  readonly minCompleteness: number;
  readonly aggregators: number;
  /** How long to wait after the fleet for the aggregates to settle (default 180 s). */
  readonly settleTimeoutMs?: number;
  /** Start the local Prometheus scraping this run's processes. */
  readonly prometheus?: boolean;
  /** Bridges in one shared subscription (default 1). */
  readonly bridges?: number;
  /** The last bridge runs with its JavaScript clock shifted by this (negative: behind); 0 for none. */
  readonly bridgeClockSkewMs?: number;
  /** The pipeline's delivery guarantee (default exactly-once). */
  readonly guarantee?: 'at-most-once' | 'at-least-once' | 'exactly-once';
  readonly log: (line: string) => void;
}

export type FleetSummary = Omit<FleetResult, 'ackedIds'>;

export interface EndToEndResult {
  readonly runId: string;
  readonly database: string;
  readonly table: string;
  readonly fleet: FleetSummary;
  readonly readingsPerS: number;
  readonly latency: Latency;
  readonly latencyOverTime: LatencyBucket[];
  readonly acceptedValues: number;
  readonly countedValues: number;
  readonly completeness: number;
  readonly lateDropped: number;
  /** Acknowledged readings missing from readings_raw; null when the audit could not tell. */
  readonly lost: number | null;
  /** Some of them, as device/readingId. */
  readonly lostSample: readonly string[];
  readonly duplicated: number | null;
  readonly processes: ProcessUsage[];
  /** How the wait for the aggregates after the fleet ended. */
  readonly settle: SettleOutcome;
  /** Services that exited before the run stopped them. */
  readonly exited: readonly ServiceExit[];
  /** What went wrong on the way to the report (the run still reports and audits what it can). */
  readonly failures: readonly RunFailure[];
  readonly verdict: Verdict;
  readonly slaMet: boolean;
  readonly configFile: string;
  /** Each bridge's tp_edge_clock_offset_seconds after the fleet (null: not read). */
  readonly bridgeClockOffsets?: ReadonlyArray<{ readonly bridge: string; readonly offsetSeconds: number | null }>;
}

const NO_FLEET: FleetSummary = { published: 0, acked: 0, failed: 0, messages: 0, seconds: 0, ackLatencyMs: { p50: 0, p95: 0, p99: 0, max: 0 }, ackedPerSecond: [], noSubscriberPubacks: 0 };
const NO_LATENCY: Latency = { p50: 0, p95: 0, p99: 0, max: 0, readings: 0 };
const DEFAULT_SETTLE_TIMEOUT_MS = 180_000;
/** Counted values unchanged this long, with every reading accepted: the rest was dropped as late. */
const SETTLE_QUIET_MS = 15_000;

/**
 * Never throws for a failure of the run itself (the stack, a service, the fleet, a query): each is
 * recorded with its phase, the run audits what it can, and the verdict says why it failed. A
 * release check must end with its report and exit code, not a stack trace.
 */
export async function runEndToEnd(options: EndToEndOptions): Promise<EndToEndResult> {
  const log = options.log;
  const runId = `${new Date().toISOString().replace(/[-:T.Z]/g, '').slice(0, 14)}_${process.pid}`;
  // A tenant of its own, so that the audit counts this run's readings and nothing else on the broker.
  const tenant = `load${runId}`;
  const failures: RunFailure[] = [];
  const attempt = async <T>(phase: RunFailure['phase'], what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (error) {
      failures.push({ phase, message: `${what}: ${errorMessage(error)}` });
      log(`  ! ${phase}: ${what}: ${errorMessage(error)}`);
      return undefined;
    }
  };
  const services: ServiceProcess[] = [];
  const exited: ServiceExit[] = [];
  let stopping = false;
  const track = (name: string, service: ServiceProcess): ServiceProcess => {
    services.push(service);
    void service.exited.then((code) => {
      if (stopping) return;
      exited.push({ name, exit: String(code) });
      log(`  ! ${name} (pid ${service.pid}) exited with ${String(code)}; its log: ${service.logFile}`);
    });
    return service;
  };
  const monitor = new ProcessMonitor();
  let connection: ClickHouseConnection | undefined;
  let setup: RunSetup | undefined;
  let fleet: FleetResult | undefined;
  let processes: ProcessUsage[] = [];
  let settle: SettleOutcome = { kind: 'not-reached' };
  let audit: AuditFigures | undefined;
  let bridgeClockOffsets: NonNullable<EndToEndResult['bridgeClockOffsets']> = [];
  try {
    setup = await attempt('stack', 'starting the local stack and the run\'s topics', () => prepareRun(runId, options));
    if (setup) {
      const { config } = setup;
      connection = await attempt('setup', `creating database ${config.clickhouse.database}`, async () => {
        const opened = await connectClickHouse(asRole(config.clickhouse, 'admin'));
        // The schema exists before any aggregator starts, so that the audit can count what is missing even if none ever writes.
        await migrate(opened, config).catch(async (error: unknown) => {
          await opened.close();
          throw error;
        });
        return opened;
      });
    }
    const started = setup && connection ? await attempt('services', 'starting the bridge and the aggregators', () => startServices(setup!, runId, options, track, monitor)) : undefined;
    if (setup && started) {
      const { config } = setup;
      log(`fleet: ${options.devices} devices on ${options.connections} connections, ${options.ratePerSecond} readings/s for ${options.durationS} s, ${options.batchSize} per message, ${options.payload ?? 'json'} payloads, ${options.patterns} arrival patterns`);
      fleet = await attempt('fleet', 'running the fleet', () =>
        runMixedFleet(
          {
            tenant,
            devices: options.devices,
            gateways: options.connections,
            ratePerSecond: options.ratePerSecond,
            batchSize: options.batchSize,
            patterns: options.patterns === 'realistic' ? DEFAULT_PATTERNS : STEADY_PATTERNS,
            seed: 42,
          },
          { url: fleetUrl(config), ca: localClientTls(config).ca, ...FLEET_ACCOUNT, payload: options.payload ?? 'json', connections: options.connections, durationMs: options.durationS * 1000, clientIdPrefix: `fleet-${runId}`, log },
          options.sideFleets ?? [],
        ),
      );
      processes = monitor.usage();
      bridgeClockOffsets = await readBridgeClockOffsets(setup.bridgePorts, localClientTls(config));
      log(`bridge clock offsets to the broker: ${bridgeClockOffsets.map((b) => `${b.bridge} ${b.offsetSeconds === null ? 'unknown' : `${b.offsetSeconds.toFixed(3)} s`}`).join(', ')}`);
    }
    if (setup && connection && fleet) {
      log(`fleet done: ${fleet.acked} readings acknowledged by the bridge (${fleet.failed} failed) in ${fleet.seconds.toFixed(1)} s; waiting for the last windows to close`);
      const auditor = new Auditor(connection, setup.config.clickhouse.database);
      const limits = { acked: fleet.acked, timeoutMs: options.settleTimeoutMs ?? DEFAULT_SETTLE_TIMEOUT_MS, quietMs: SETTLE_QUIET_MS };
      settle = await waitForSettling(auditor, tenant, limits, exited, options.aggregators);
      log(`settling: ${settle.kind} after ${settle.kind === 'not-reached' ? 0 : (settle.waitedMs / 1000).toFixed(1)} s; auditing`);
      audit = await auditRun(auditor, connection, setup.config, tenant, fleet, options.windowSizeMs, attempt);
    }
  } finally {
    stopping = true;
    await Promise.allSettled(services.map((service) => service.stop(20_000)));
    await connection?.close().catch(() => undefined);
  }

  const balance = audit?.balance ?? { acceptedValues: 0, countedValues: 0 };
  const completeness = balance.acceptedValues === 0 ? 0 : balance.countedValues / balance.acceptedValues;
  const latency = audit?.latency ?? NO_LATENCY;
  // Nothing acknowledged (or no fleet at all), nothing to lose or count twice; otherwise only the audit can say.
  const acked = fleet?.acked ?? 0;
  const lost = acked === 0 ? 0 : (audit?.lost ?? null);
  const duplicated = acked === 0 ? 0 : (audit?.duplicated ?? null);
  const verdict = verdictOf(
    { acked, lost, lostSample: audit?.lostSample ?? [], duplicated, completeness, p95Ms: latency.p95, settle, exited, failures },
    { slaP95Ms: options.slaP95Ms, minCompleteness: options.minCompleteness },
  );
  const { ackedIds: _ids, ...fleetSummary } = fleet ?? { ...NO_FLEET, ackedIds: null };
  return {
    runId,
    database: setup?.config.clickhouse.database ?? `load_${runId}`,
    table: TABLE,
    fleet: fleetSummary,
    readingsPerS: fleet && fleet.seconds > 0 ? fleet.acked / fleet.seconds : 0,
    latency,
    latencyOverTime: audit?.latencyOverTime ?? [],
    acceptedValues: balance.acceptedValues,
    countedValues: balance.countedValues,
    completeness,
    lateDropped: Math.max(0, balance.acceptedValues - balance.countedValues),
    lost,
    lostSample: audit?.lostSample ?? [],
    duplicated,
    processes,
    settle,
    exited,
    failures,
    verdict,
    slaMet: verdict.slaMet,
    configFile: setup?.configFile ?? '',
    bridgeClockOffsets,
  };
}

/** tp_edge_clock_offset_seconds of each bridge (the skew is meant to show there, not in the figures). */
async function readBridgeClockOffsets(ports: readonly number[], tls: LocalClientTls): Promise<NonNullable<EndToEndResult['bridgeClockOffsets']>> {
  return Promise.all(
    ports.map(async (port, index) => {
      const text = await fetchText(`${bridgeHttpUrl(tls, port)}/metrics`, { ca: tls.ca }).then((response) => response.text, () => '');
      const value = /^tp_edge_clock_offset_seconds (\S+)$/m.exec(text)?.[1];
      const offset = value === undefined ? Number.NaN : Number(value);
      return { bridge: bridgeName(index), offsetSeconds: Number.isFinite(offset) ? offset : null };
    }),
  );
}

async function prepareRun(runId: string, options: EndToEndOptions): Promise<RunSetup> {
  const base = loadStackConfig();
  options.log('starting the local stack (Kafka, ClickHouse, Mosquitto)');
  await stackUp(base, (line) => options.log(`  ${line}`));
  const local = configForLocalStack(base);
  const runDir = join(REPO_ROOT, '.data', 'runs', runId);
  mkdirSync(runDir, { recursive: true });
  // Free ports, not ones derived from the pid: a demo or another run may hold those.
  const httpPort = await freePort();
  const bridgePorts: number[] = [httpPort];
  while (bridgePorts.length < (options.bridges ?? 1)) bridgePorts.push(await freePort());
  const metricsPorts: number[] = [];
  for (let index = 0; index < Math.max(1, options.aggregators); index++) metricsPorts.push(await freePort());
  const settings = runConfig(local, runId, options, bridgePorts, metricsPorts[0]!);
  // Direct mode (the local stack's default, stack.mqttMode): the fleet connects to the bridge, as the run's tenant (see runEndToEnd).
  if (local.mqtt.mode !== 'direct' && formatsOf(options).some((format) => format !== 'json')) throw new Error(`--payload ${options.payload} needs mqtt.mode 'direct' (codecs run in the bridge's own MQTT server)`);
  // Several bridges share one subscription of the broker (Mosquitto); in direct mode each device would connect to one bridge.
  if (bridgePorts.length > 1 && local.mqtt.mode === 'direct') {
    if (formatsOf(options).some((format) => format !== 'json')) throw new Error(`--bridges ${bridgePorts.length} runs in mqtt.mode 'broker', which takes JSON payloads only`);
    settings['mqtt'] = { ...(settings['mqtt'] as object), mode: 'broker' };
    options.log(`${bridgePorts.length} bridges: mqtt.mode 'broker', one shared subscription on the local Mosquitto`);
  } else if (local.mqtt.mode === 'direct') settings['mqtt'] = { ...(settings['mqtt'] as object), ...directMqttSettings(runDir, `load${runId}`, await freePort()) };
  // Again after the mode was chosen: several bridges in broker mode reach Mosquitto on its TLS listener.
  const config = withLocalTls(parseStackConfig(settings));
  const configFile = join(runDir, 'pipeline.yaml');
  writeFileSync(configFile, stringify(servicesConfig(config)));
  await ensureTopics(config.kafka, pipelineTopics(config.kafka));
  // The run's bridges and aggregators log in as the services do, held to the same ACLs on the run's topics.
  await grantServiceAccess(config.stack, config.kafka, config.kafka, pipelineGroups(config));
  options.log(`run ${runId}: topic ${config.kafka.readingsTopic}, database ${config.clickhouse.database}, config ${configFile}`);
  return { config, configFile, httpPort, bridgePorts, metricsPorts };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function runConfig(local: Config, runId: string, options: EndToEndOptions, bridgePorts: readonly number[], metricsPort: number): Record<string, unknown> {
  const httpPort = bridgePorts[0]!;
  return {
    kafka: { ...local.kafka, readingsTopic: `load-${runId}`, deadLetterTopic: `load-${runId}-dead-letter`, lateTopic: `load-${runId}-late` },
    // A run's bridge session must not outlive the run: the broker would queue every later reading for it.
    mqtt: { ...local.mqtt, shareGroup: `load${runId}`, clientIdPrefix: `bridge-${runId}`, sessionExpirySeconds: 60, codecs: formatsOf(options).flatMap(codecRulesFor) },
    edge: { ...local.edge, httpPort },
    clickhouse: { ...local.clickhouse, database: `load_${runId}` },
    aggregator: {
      ...local.aggregator,
      metricsPort,
      statusBridges: bridgePorts.map((port) => bridgeHttpUrl(localClientTls(local), port)),
      slaP95Ms: options.slaP95Ms,
      pipelines: [
        {
          name: 'load',
          guarantee: options.guarantee ?? 'exactly-once',
          window: { kind: 'tumbling', sizeMs: options.windowSizeMs },
          // Late readings are absorbed and their windows re-emitted at once (reemit), so the delay
          // needs to cover ordinary network jitter only, not a gateway's backlog: that keeps P95 low.
          watermark: { kind: 'adaptive', quantile: 0.95, marginMs: 300, floorMs: 200, ceilingMs: 3000, horizonMs: 60_000 },
          // 30 s for everyone: at 20k readings/s a 180 s allowed lateness kept six times the windows,
          // and checkpointing them made the aggregator fall behind. The fleet's devices whose clocks
          // run 2 min behind get their own later deadlines instead (maxDeviceClockOffsetMs).
          latePolicy: { kind: 'reemit', allowedLatenessMs: 30_000 },
          maxDeviceClockOffsetMs: 300_000,
          idleTimeoutMs: 3000,
          consumerGroup: `load-${runId}`,
          table: TABLE,
        },
      ],
    },
    stack: local.stack,
  };
}

/** Every payload format of a run, main fleet first (the bridge needs a codec rule for each). */
function formatsOf(options: EndToEndOptions): PayloadFormat[] {
  return [...new Set([options.payload ?? 'json', ...(options.sideFleets ?? []).map((side) => side.payload)])];
}
