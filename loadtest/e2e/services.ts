import { errorMessage } from '../../src/core/errors.ts';
import type { LocalStackConfig as Config } from '../../src/stack/config-schema.ts';
import { clickhouseProcess } from '../../src/stack/clickhouse.ts';
import { kafkaNodes } from '../../src/stack/kafka.ts';
import { mosquittoProcess } from '../../src/stack/mosquitto.ts';
import { runningPid } from '../../src/stack/processes.ts';
import { eventually, startService, type ServiceProcess } from '../../src/stack/services.ts';
import { kafkaPrincipalEnv } from '../../src/stack/local-credentials.ts';
import { bridgeHttpUrl, fetchText, localClientTls, trustEnv } from '../../src/stack/tls-client.ts';
import { startPrometheus } from '../../deploy/prometheus/local.ts';
import { aggregatorWorkerPids } from './aggregator-workers.ts';
import type { ProcessMonitor } from './process-stats.ts';
import type { EndToEndOptions } from './run.ts';

/** A run's processes: the bridges and the aggregators started, ready, and watched (CPU, memory) with the stack's servers. */

export interface RunSetup {
  readonly config: Config;
  readonly configFile: string;
  readonly httpPort: number;
  /** Every bridge's HTTP port, the first one being httpPort. */
  readonly bridgePorts: readonly number[];
  readonly metricsPorts: readonly number[];
}

export function bridgeName(index: number): string {
  return index === 0 ? 'bridge' : `bridge-${index}`;
}

export async function startServices(
  setup: RunSetup,
  runId: string,
  options: EndToEndOptions,
  track: (name: string, service: ServiceProcess) => ServiceProcess,
  monitor: ProcessMonitor,
): Promise<true> {
  const { config, configFile, httpPort, bridgePorts, metricsPorts } = setup;
  const log = options.log;
  // HTTPS and MQTTS with the local CA unless edge.tls.mode is 'plaintext'; the aggregators' status page scrapes the bridges.
  const tls = localClientTls(config);
  const aggregators: ServiceProcess[] = [];
  for (let index = 0; index < options.aggregators; index++) {
    const name = `aggregator-${index}`;
    aggregators.push(track(name, startService(name, 'src/aggregator/main.ts', {
      TP_CONFIG: configFile,
      TP_AGGREGATOR__INSTANCE_ID: `${runId}-${index}`,
      TP_AGGREGATOR__METRICS_PORT: String(metricsPorts[index]),
      TP_LOG__LEVEL: 'warn',
      ...trustEnv(tls),
      // The run's services log in as the stack's bridges and aggregators do, held to their ACLs (granted on the run's topics).
      ...kafkaPrincipalEnv(config.stack, 'aggregator'),
    })));
  }
  const skewMs = options.bridgeClockSkewMs ?? 0;
  const bridges = bridgePorts.map((port, index) => {
    const name = bridgeName(index);
    // Bridges on one host need client-id prefixes of their own; they share the subscription's group.
    const env: NodeJS.ProcessEnv = { TP_CONFIG: configFile, TP_LOG__LEVEL: 'warn', TP_EDGE__HTTP_PORT: String(port), TP_MQTT__CLIENT_ID_PREFIX: `bridge-${runId}-${index}` };
    if (skewMs !== 0 && index === bridgePorts.length - 1) {
      // The test tree's preload shifts this process's JavaScript clock; the pipeline has no switch for it.
      Object.assign(env, { NODE_OPTIONS: '--import tsx --import ./loadtest/support/clock-skew.ts', TEST_CLOCK_SKEW_MS: String(skewMs) });
      log(`${name}: JavaScript clock shifted by ${skewMs / 1000} s`);
    }
    return { name, port, service: track(name, startService(name, 'edge/main.ts', { ...env, ...kafkaPrincipalEnv(config.stack, 'bridge') })) };
  });
  log(`processes: ${bridges.map((b) => `${b.name} pid ${b.service.pid}`).join(', ')}${aggregators.map((aggregator, index) => `, aggregator-${index} pid ${aggregator.pid}`).join('')}`);
  for (const b of bridges) await waitReady(b.name, b.service, `${bridgeHttpUrl(tls, b.port)}/readyz`, undefined, tls.ca);
  for (const [index, aggregator] of aggregators.entries()) await waitReady(`aggregator-${index}`, aggregator, `http://127.0.0.1:${metricsPorts[index]}/readyz`);
  log(`live status page: http://127.0.0.1:${metricsPorts[0]}/status/  (metrics: http://127.0.0.1:${metricsPorts[0]}/metrics, bridge: ${bridgeHttpUrl(tls, httpPort)}/metrics)`);
  if (options.prometheus) {
    try {
      const prometheus = await startPrometheus(config.stack, {
        bridges: bridgePorts.map((port) => `127.0.0.1:${port}`),
        aggregators: metricsPorts.slice(0, options.aggregators).map((port) => `127.0.0.1:${port}`),
        ...(tls.caFile === undefined ? {} : { bridgeCaFile: tls.caFile }),
      });
      log(`Prometheus: ${prometheus.url} (scraping the bridge and the aggregator; alert rules from deploy/prometheus/rules.yml)`);
    } catch (error) {
      // Prometheus only watches the run; the pipeline's figures come from the audit.
      log(`  ! Prometheus did not start (${errorMessage(error)}); the run goes on without it`);
    }
  }
  for (const [index, aggregator] of aggregators.entries()) {
    monitor.watch(`aggregator-${index}`, aggregator.pid);
    for (const { worker, pid } of await aggregatorWorkerPids(metricsPorts[index]!)) monitor.watch(`aggregator-${index}-w${worker}`, pid);
  }
  for (const b of bridges) monitor.watch(b.name, b.service.pid);
  for (const node of kafkaNodes(config.stack)) {
    const pid = runningPid(node.process);
    if (pid) monitor.watch(`kafka-${node.id}`, pid);
  }
  const clickhousePid = runningPid(clickhouseProcess(config.stack));
  if (clickhousePid) monitor.watch('clickhouse', clickhousePid);
  const mosquittoPid = runningPid(mosquittoProcess(config.stack));
  if (mosquittoPid) monitor.watch('mosquitto', mosquittoPid);
  return true;
}

/** Waits for a service's /readyz, and gives up at once (with its log) if the process exits first. */
async function waitReady(name: string, service: ServiceProcess, url: string, timeoutMs = 60_000, ca?: Buffer): Promise<void> {
  let exit: string | null = null;
  void service.exited.then((code) => (exit = String(code)));
  const ready = await eventually(`${name} ready at ${url}`, async () => {
    if (exit !== null) return { exit };
    return (await fetchText(url, { ca }).catch(() => null))?.ok ? { exit: null } : undefined;
  }, timeoutMs);
  if (ready.exit !== null) throw new Error(`${name} exited (${ready.exit}) before it was ready; its log: ${service.logFile}`);
}
