import { hostname } from 'node:os';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { Gauge, Registry } from 'prom-client';
import { asRole } from '../clickhouse/roles.ts';
import type { Config } from '../config/schema.ts';
import { errorMessage } from '../core/errors.ts';
import { startOpsServer } from '../metrics/ops-server.ts';
import { createStatusPage, type StatusPage } from '../status/status-page.ts';
import { parsePrometheusText } from '../status/prom-text.ts';
import type { Logger } from '../util/log.ts';
import { createSupervisorMetrics, type MaintenanceMetrics } from './metrics.ts';
import { Maintenance } from './maintenance.ts';
import { connectClickHouse, type ClickHouseConnection } from '../clickhouse/client.ts';
import { AGGREGATOR_NODE_FLAGS } from './node-flags.ts';
import { WorkerSupervisor, type RestartPolicy, type WorkerView } from './supervisor.ts';
import { mergeWorkerMetrics } from './worker-metrics.ts';

/**
 * The aggregator service with N workers (`aggregator.instances` > 1): this process runs no pipeline;
 * it starts the workers (src/aggregator/main.ts with instances 1, each its own consumer-group member,
 * instance id `<instance>-w<n>` and transactional id), restarts one that dies, and serves the
 * service's operations endpoint: /metrics merges the workers' with a `worker` label, /readyz is ready
 * when every worker is, /status and /status/ show each worker and the service as a whole.
 */
const WORKER_SCRIPT = fileURLToPath(new URL('./main.ts', import.meta.url));

/** How a worker is started: the script (default: the production entry) and what its environment adds in its n-th life. */
export interface WorkerLaunch {
  readonly script: string;
  readonly env?: (life: number) => NodeJS.ProcessEnv;
}
const POLL_MS = 1000;
const WORKER_TIMEOUT_MS = 2000;

interface WorkerHealth {
  readonly ready: boolean;
  readonly pipelines: readonly Record<string, unknown>[];
}

export class SupervisedAggregatorService {
  private readonly supervisor: WorkerSupervisor;
  private readonly registry: Registry;
  private readonly health = new Map<number, WorkerHealth>();
  private readonly workerUp: Gauge;
  private opsServer: Server | null = null;
  private statusPage: StatusPage | null = null;
  private poller: NodeJS.Timeout | null = null;
  private allReadyLogged = false;
  private readonly maintenanceMetrics: MaintenanceMetrics;
  private maintenance: Maintenance | null = null;
  private connection: Promise<ClickHouseConnection> | null = null;
  readonly instanceId: string;

  constructor(
    private readonly config: Config,
    readonly instances: number,
    private readonly logger: Logger,
    options: { readonly args?: readonly string[]; readonly policy?: RestartPolicy; readonly worker?: WorkerLaunch } = {},
  ) {
    this.instanceId = config.aggregator.instanceId || `${hostname()}-${process.pid}`;
    const metrics = createSupervisorMetrics();
    this.registry = metrics.registry;
    this.workerUp = metrics.workerReady;
    this.maintenanceMetrics = metrics.maintenance;
    const restarts = metrics.workerRestarts;
    metrics.workers.set(instances);
    const nodeFlags = AGGREGATOR_NODE_FLAGS.filter((flag) => !process.execArgv.some((given) => given.split('=')[0] === flag.split('=')[0]));
    this.supervisor = new WorkerSupervisor({
      count: instances,
      command: process.execPath,
      // The parent's own node flags (--import tsx; a benchmark's --cpu-prof) apply to every worker.
      args: [...nodeFlags, ...process.execArgv, options.worker?.script ?? WORKER_SCRIPT, ...(options.args ?? []), '--worker'],
      env: (worker, life) => ({
        ...process.env,
        TP_AGGREGATOR__INSTANCES: '1',
        TP_AGGREGATOR__INSTANCE_ID: `${this.instanceId}-w${worker}`,
        TP_AGGREGATOR__METRICS_HOST: '127.0.0.1',
        TP_AGGREGATOR__METRICS_PORT: '0',
        // The rollup refresh and retention run here, once for the service, not once per worker.
        TP_AGGREGATOR__ROLLUP_REFRESH_INTERVAL_MS: '0',
        TP_AGGREGATOR__RETENTION_INTERVAL_MS: '0',
        ...options.worker?.env?.(life),
      }),
      logger,
      ...(options.policy ? { policy: options.policy } : {}),
      onRestart: (worker) => {
        restarts.inc({ worker: String(worker) });
        this.health.delete(worker);
      },
    });
    for (let worker = 1; worker <= instances; worker++) {
      restarts.inc({ worker: String(worker) }, 0);
      this.workerUp.set({ worker: String(worker) }, 0);
    }
  }

  /** Rejects when a worker cannot run (its configuration is invalid). */
  get failed(): Promise<never> {
    return this.supervisor.failed;
  }

  workers(): WorkerView[] {
    return this.supervisor.workers();
  }

  async start(): Promise<void> {
    const { config } = this;
    this.supervisor.start();
    this.poller = setInterval(() => void this.poll(), POLL_MS);
    if (Maintenance.enabled(config)) {
      // The workers migrate; until they have, a run fails, is retried, and the next interval tries again.
      const connection = () => {
        this.connection ??= connectClickHouse(asRole(config.clickhouse, 'admin'), { logger: this.logger }).catch((error: unknown) => {
          this.connection = null;
          throw error;
        });
        return this.connection;
      };
      this.maintenance = new Maintenance({ config, connection, metrics: this.maintenanceMetrics, logger: this.logger });
      this.maintenance.start();
    }
    const metrics = {
      contentType: this.registry.contentType,
      metrics: async () => `${await this.registry.metrics()}${mergeWorkerMetrics(await this.scrapeWorkers())}`,
    };
    this.statusPage = createStatusPage({
      config,
      instance: this.instanceId,
      registry: this.registry,
      samples: async () => parsePrometheusText(mergeWorkerMetrics(await this.scrapeWorkers())),
      runners: () => this.pipelines(),
      logger: this.logger,
    });
    this.opsServer = await startOpsServer({
      host: config.aggregator.metricsHost,
      port: config.aggregator.metricsPort,
      registry: metrics,
      readiness: () => {
        const workers = this.workerStatus();
        return { ready: workers.every((worker) => worker.ready), detail: { instances: this.instances, workers } };
      },
      json: { '/status': () => ({ instance: this.instanceId, instances: this.instances, workers: this.workerStatus(), pipelines: this.pipelines() }), ...this.statusPage.json },
      html: this.statusPage.html,
    });
    this.logger.info({ instance: this.instanceId, instances: this.instances, metricsPort: config.aggregator.metricsPort }, 'aggregator supervisor started');
  }

  async stop(): Promise<void> {
    if (this.poller) clearInterval(this.poller);
    this.poller = null;
    await this.maintenance?.stop();
    await this.supervisor.stop();
    await (await this.connection?.catch(() => null))?.close();
    await new Promise<void>((resolve) => (this.opsServer ? this.opsServer.close(() => resolve()) : resolve()));
    await this.statusPage?.close();
  }

  private workerStatus(): (WorkerView & { ready: boolean; pipelines: readonly Record<string, unknown>[] })[] {
    return this.supervisor.workers().map((view) => {
      const health = view.state === 'running' ? this.health.get(view.worker) : undefined;
      return { ...view, ready: health?.ready ?? false, pipelines: health?.pipelines ?? [] };
    });
  }

  /** One record per pipeline over all workers, in the shape of PipelineRunner.status(). */
  private pipelines(): Record<string, unknown>[] {
    const byName = new Map<string, { tier: unknown; states: Set<string>; partitions: number[]; errors: string[] }>();
    for (const worker of this.workerStatus()) {
      for (const status of worker.pipelines) {
        const name = String(status['pipeline'] ?? '');
        const entry = byName.get(name) ?? { tier: status['tier'], states: new Set<string>(), partitions: [], errors: [] };
        entry.states.add(String(status['state'] ?? ''));
        if (Array.isArray(status['partitions'])) entry.partitions.push(...status['partitions'].filter((p): p is number => typeof p === 'number'));
        if (typeof status['error'] === 'string') entry.errors.push(`worker ${worker.worker}: ${status['error']}`);
        byName.set(name, entry);
      }
    }
    return [...byName].map(([pipeline, entry]) => ({
      pipeline,
      tier: entry.tier,
      state: [...entry.states].join(', '),
      partitions: entry.partitions.sort((a, b) => a - b),
      error: entry.errors.length > 0 ? entry.errors.join('; ') : null,
    }));
  }

  private async poll(): Promise<void> {
    await Promise.all(
      this.supervisor.workers().map(async (view) => {
        let health: WorkerHealth = { ready: false, pipelines: [] };
        if (view.state === 'running' && view.port !== null) {
          try {
            const response = await fetch(`http://127.0.0.1:${view.port}/readyz`, { signal: AbortSignal.timeout(WORKER_TIMEOUT_MS) });
            const body = (await response.json()) as { pipelines?: Record<string, unknown>[] };
            health = { ready: response.ok, pipelines: Array.isArray(body.pipelines) ? body.pipelines : [] };
          } catch {
            // Not answering counts as not ready; /readyz and tp_agg_worker_ready say so.
          }
        }
        this.health.set(view.worker, health);
        this.workerUp.set({ worker: String(view.worker) }, health.ready ? 1 : 0);
      }),
    );
    const ready = this.workerStatus().every((worker) => worker.ready);
    if (ready && !this.allReadyLogged) this.logger.info({ instances: this.instances }, 'all aggregator workers ready');
    this.allReadyLogged = ready;
  }

  private async scrapeWorkers(): Promise<{ worker: string; text: string }[]> {
    const scrapes = await Promise.all(
      this.supervisor.workers().map(async (view) => {
        if (view.port === null) return null;
        try {
          const response = await fetch(`http://127.0.0.1:${view.port}/metrics`, { signal: AbortSignal.timeout(WORKER_TIMEOUT_MS) });
          return { worker: String(view.worker), text: await response.text() };
        } catch (error) {
          // A worker that is restarting has no metrics to show; tp_agg_worker_ready says it is down.
          this.logger.debug({ worker: view.worker, err: errorMessage(error) }, 'worker metrics not available');
          return null;
        }
      }),
    );
    return scrapes.filter((scrape): scrape is { worker: string; text: string } => scrape !== null);
  }
}
