import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { StackConfig } from '../../src/stack/config-schema.ts';
import { REPO_ROOT, stackPaths } from '../../src/stack/paths.ts';
import {
  StackError,
  assertPortFree,
  runningPid,
  signal,
  startDetached,
  stopProcess,
  waitUntil,
  which,
  type ManagedProcess,
} from '../../src/stack/processes.ts';

/**
 * Prometheus for the local stack, in the manner of src/stack/mosquitto.ts: one process on the
 * loopback (port 9090 unless told otherwise), its pid file in the stack's run directory (so that
 * `stack down` stops it too), its TSDB and generated configuration under <dataDir>/prometheus.
 *
 * The configuration is deploy/prometheus/prometheus.yml with the targets of the run: its job names
 * and rules (rules.yml) are what the alerts and the Grafana dashboard expect.
 *
 * The binary is Debian's: `prometheus` on the PATH when the package is installed; otherwise the
 * package is unpacked (apt-get download + dpkg-deb -x, as deploy/validate.sh does for promtool)
 * into the user cache, so that no Debian service is installed or left running.
 */
export interface PrometheusTargets {
  /** 'host:port' of each bridge's HTTP server (GET /metrics). */
  readonly bridges: readonly string[];
  /** 'host:port' of each aggregator's operations server (GET /metrics). */
  readonly aggregators: readonly string[];
  /** The CA of the bridges' HTTPS certificate (edge.tls); absent: the bridges are scraped over plain HTTP. */
  readonly bridgeCaFile?: string;
}

export interface PrometheusOptions {
  readonly port?: number;
  /** Scrape and rule evaluation interval; short by default, since a local run lasts minutes. */
  readonly scrapeIntervalSeconds?: number;
  readonly retention?: string;
}

const HOST = '127.0.0.1';
export const DEFAULT_PROMETHEUS_PORT = 9090;
const SOURCE_CONFIG = join(REPO_ROOT, 'deploy/prometheus/prometheus.yml');
const JOBS = { bridges: 'telemetry-bridge', aggregators: 'telemetry-aggregator' } as const;

function cacheRoot(): string {
  return join(process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'telemetry-pipeline');
}

/** Where the unpacked package lives (ours, or the one deploy/validate.sh unpacked for promtool). */
const UNPACKED = () => [join(cacheRoot(), 'prometheus'), join(cacheRoot(), 'deploy-validate', 'prometheus')];

/** The Prometheus binary to run, or null when neither the package nor an unpacked copy is there. */
export function findPrometheusBinary(): string | null {
  const installed = which('prometheus');
  if (installed) return installed;
  for (const root of UNPACKED()) {
    const binary = which(join(root, 'usr/bin/prometheus'));
    if (binary) return binary;
  }
  return null;
}

/** The binary, unpacking Debian's package into the cache first when there is none. */
export function ensurePrometheusBinary(log: (line: string) => void = () => undefined): string {
  const found = findPrometheusBinary();
  if (found) return found;
  const target = join(cacheRoot(), 'prometheus');
  const download = mkdtempSync(join(tmpdir(), 'tp-prometheus-'));
  try {
    log(`prometheus: unpacking Debian's prometheus package into ${target}`);
    const fetchDeb = () => execFileSync('apt-get', ['download', 'prometheus'], { cwd: download, stdio: 'ignore' });
    try {
      fetchDeb();
    } catch {
      // A fresh machine has no package lists yet.
      execFileSync('apt-get', ['update', '-qq'], { stdio: 'ignore' });
      fetchDeb();
    }
    const deb = readdirSync(download).find((name) => name.startsWith('prometheus_') && name.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download prometheus produced no .deb');
    const staging = `${target}.tmp`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(cacheRoot(), { recursive: true });
    execFileSync('dpkg-deb', ['-x', join(download, deb), staging], { stdio: 'ignore' });
    rmSync(target, { recursive: true, force: true });
    renameSync(staging, target);
  } catch (error) {
    throw new StackError(
      'STACK_PROMETHEUS_MISSING',
      `Prometheus is not installed and Debian's package could not be unpacked (${error instanceof Error ? error.message : String(error)}). ` +
        'Install it with `apt-get install -y prometheus` (then `systemctl disable --now prometheus` if a service started), or put a prometheus binary on the PATH.',
    );
  } finally {
    rmSync(download, { recursive: true, force: true });
  }
  const binary = findPrometheusBinary();
  if (!binary) throw new StackError('STACK_PROMETHEUS_MISSING', `unpacked Debian's prometheus package into ${target} but found no usr/bin/prometheus in it`);
  return binary;
}

export function prometheusUrl(options: PrometheusOptions = {}): string {
  return `http://${HOST}:${options.port ?? DEFAULT_PROMETHEUS_PORT}`;
}

export function prometheusProcess(stack: StackConfig, options: PrometheusOptions = {}, command = findPrometheusBinary() ?? 'prometheus'): ManagedProcess & { dir: string; configFile: string } {
  const { dataDir, runDir, logDir } = stackPaths(stack);
  const dir = join(dataDir, 'prometheus');
  const configFile = join(dir, 'prometheus.yml');
  return {
    name: 'prometheus',
    command,
    args: [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--storage.tsdb.retention.time=${options.retention ?? '2d'}`,
      `--web.listen-address=${HOST}:${options.port ?? DEFAULT_PROMETHEUS_PORT}`,
      // Debian's defaults point at /etc/prometheus, which an unpacked package does not provide.
      `--web.console.templates=${join(dir, 'consoles')}`,
      `--web.console.libraries=${join(dir, 'console_libraries')}`,
    ],
    logFile: join(logDir, 'prometheus.log'),
    pidFile: join(runDir, 'prometheus.pid'),
    marker: configFile,
    dir,
    configFile,
  };
}

/** deploy/prometheus/prometheus.yml with these targets, the interval, and the rule files made absolute. */
export function prometheusConfigText(targets: PrometheusTargets, options: PrometheusOptions = {}): string {
  const config = parseYaml(readFileSync(SOURCE_CONFIG, 'utf8')) as {
    global?: Record<string, unknown>;
    rule_files?: string[];
    scrape_configs?: { job_name: string; static_configs?: { targets: string[] }[]; scheme?: string; tls_config?: { ca_file: string } }[];
  };
  const interval = `${options.scrapeIntervalSeconds ?? 5}s`;
  config.global = { ...config.global, scrape_interval: interval, evaluation_interval: interval };
  config.rule_files = (config.rule_files ?? []).map((file) => (isAbsolute(file) ? file : join(REPO_ROOT, 'deploy/prometheus', file)));
  for (const [kind, job] of Object.entries(JOBS) as [keyof typeof JOBS, string][]) {
    const scrape = config.scrape_configs?.find((entry) => entry.job_name === job);
    if (!scrape) {
      throw new StackError('STACK_PROMETHEUS_CONFIG', `${SOURCE_CONFIG} has no scrape job '${job}' to point at the local ${kind}`, { job });
    }
    for (const target of targets[kind]) {
      if (!/^[^\s:/]+:\d{1,5}$/.test(target)) {
        throw new StackError('STACK_PROMETHEUS_CONFIG', `Prometheus target '${target}' of job ${job} is not 'host:port'`, { job, target });
      }
    }
    scrape.static_configs = [{ targets: [...targets[kind]] }];
    if (kind === 'bridges' && targets.bridgeCaFile !== undefined) Object.assign(scrape, { scheme: 'https', tls_config: { ca_file: targets.bridgeCaFile } });
  }
  return `# Written by deploy/prometheus/local.ts from deploy/prometheus/prometheus.yml; do not edit.\n${stringifyYaml(config)}`;
}

/**
 * Starts Prometheus scraping `targets` (or, when ours is already running, rewrites its
 * configuration and reloads it with SIGHUP) and waits until it is ready.
 */
export async function startPrometheus(
  stack: StackConfig,
  targets: PrometheusTargets,
  options: PrometheusOptions & { log?: (line: string) => void } = {},
): Promise<{ started: boolean; url: string }> {
  const url = prometheusUrl(options);
  const running = prometheusProcess(stack, options);
  const pid = runningPid(running);
  if (pid !== null) {
    writeFileSync(running.configFile, prometheusConfigText(targets, options));
    signal(pid, 'SIGHUP');
    await waitForPrometheus(stack, options);
    return { started: false, url };
  }
  const proc = prometheusProcess(stack, options, ensurePrometheusBinary(options.log));
  mkdirSync(join(proc.dir, 'data'), { recursive: true });
  writeFileSync(proc.configFile, prometheusConfigText(targets, options));
  await assertPortFree('Prometheus', HOST, options.port ?? DEFAULT_PROMETHEUS_PORT, 'the port option of startPrometheus');
  startDetached(proc);
  await waitForPrometheus(stack, options);
  return { started: true, url };
}

export async function waitForPrometheus(stack: StackConfig, options: PrometheusOptions = {}, timeoutMs = stack.startTimeoutMs): Promise<void> {
  const proc = prometheusProcess(stack, options);
  const url = prometheusUrl(options);
  await waitUntil(`Prometheus did not answer on ${url}/-/ready`, async () => (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok, {
    timeoutMs,
    logFile: proc.logFile,
    pid: runningPid(proc),
  });
}

export async function stopPrometheus(stack: StackConfig): Promise<boolean> {
  return stopProcess(prometheusProcess(stack), 15_000);
}
