import { eventually, startService, type ServiceProcess } from '../../src/stack/services.ts';
import { bridgeHttpUrl, fetchText, type LocalClientTls } from '../../src/stack/tls-client.ts';
import type { IsolatedHost } from '../../src/stack/netns.ts';
import { CRASH_AT_ENV, CRASHING_AGGREGATOR_SCRIPT } from '../support/crashing-aggregator.ts';

/** Bridges and aggregators of a chaos run: two of each. */
export const INSTANCES = 2;
/** The aggregator that runs in a network namespace, so that it can be cut off from Kafka. */
export const ISOLATED_AGGREGATOR = INSTANCES - 1;

/** Keeps two bridges and two aggregators running, restarts what a fault killed, and notes any other exit. */
export class Supervisor {
  readonly bridges: (ServiceProcess | null)[] = [null, null];
  readonly aggregators: (ServiceProcess | null)[] = [null, null];
  readonly unexpectedExits: string[] = [];
  private readonly expectedExit = new Set<ServiceProcess>();

  constructor(
    private readonly configFile: string,
    private readonly runId: string,
    /** Direct mode: bridge i listens for devices on this port + i; null in broker mode. */
    private readonly listenBasePort: number | null,
    private readonly log: (line: string) => void,
    /** Where the isolated aggregator reaches Kafka and ClickHouse from inside its namespace. */
    private readonly isolation: { host: IsolatedHost; brokers: string[]; clickhouseUrl: string } | null,
    /** How the bridges' HTTP server is reached (https with the local CA unless edge.tls.mode is 'plaintext'). */
    private readonly bridgeTls: LocalClientTls = { http: 'http', mqtt: 'mqtt', ca: undefined, caFile: undefined },
    /** Each kind's Kafka login (kafkaPrincipalEnv): the run's services are held to the services' ACLs. */
    private readonly kafkaEnv: { readonly bridge: NodeJS.ProcessEnv; readonly aggregator: NodeJS.ProcessEnv } = { bridge: {}, aggregator: {} },
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
      ...(this.listenBasePort === null ? {} : { TP_MQTT__LISTEN__PORT: String(this.listenBasePort + index) }),
      TP_LOG__LEVEL: process.env['CHAOS_BRIDGE_LOG_LEVEL'] ?? 'warn',
      ...this.kafkaEnv.bridge,
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
      // Crash faults need the failure tests' entry point (crash points installed); the others run the service's.
      env[CRASH_AT_ENV] ? CRASHING_AGGREGATOR_SCRIPT : 'src/aggregator/main.ts',
      {
        TP_CONFIG: this.configFile,
        TP_AGGREGATOR__INSTANCE_ID: `chaos-${this.runId}-${index}`,
        TP_AGGREGATOR__METRICS_PORT: String(29464 + index),
        TP_LOG__LEVEL: 'warn',
        ...this.kafkaEnv.aggregator,
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
    const bridge = `${bridgeHttpUrl(this.bridgeTls, 28080 + index)}/readyz`;
    await eventually(`bridge ${index} ready`, async () => ((await fetchText(bridge, { ca: this.bridgeTls.ca }).catch(() => null))?.ok ? true : undefined), 90_000);
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
