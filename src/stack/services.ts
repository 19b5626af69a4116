import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.ts';
import { localCredentialsEnv } from './local-credentials.ts';
import { AGGREGATOR_NODE_FLAGS } from '../aggregator/node-flags.ts';
import { servicesEnv } from './config.ts';

/** The aggregator's entries: the service's, and the failure tests' (loadtest/support/crashing-aggregator.ts). */
const AGGREGATOR_SCRIPTS = ['src/aggregator/main.ts', 'loadtest/support/crashing-aggregator.ts'];

/**
 * A pipeline service (bridge, aggregator) run as a real child process (by a test, the demo, a load
 * test or a chaos run), with its logs in a file, and stopped by its pid when the caller is done.
 */
export interface ServiceProcess {
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | string>;
  /**
   * Signals the whole service: its process group, which holds the workers of a supervised
   * aggregator too, so that SIGSTOP pauses the service and not only its supervisor.
   */
  signal(name: NodeJS.Signals): void;
  /** SIGTERM, wait up to graceMs, then SIGKILL. */
  stop(graceMs?: number): Promise<number | string>;
  log(): string;
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

const logDir = join(REPO_ROOT, '.data', 'logs', 'services');

/**
 * Children still running. When the parent is interrupted (Ctrl-C, SIGTERM) or exits, they are
 * killed with it, so that a run stopped half-way leaves no bridge or aggregator behind.
 */
const live = new Set<ChildProcess>();
let cleanupInstalled = false;

function installCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  const killAll = (): void => {
    for (const child of live) {
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/**
 * `namespace`: run the service inside that network namespace (`ip netns exec` execs in place, so
 * `pid` is the service's). `nodeArgs`: node flags of a benchmark's launcher (e.g. --cpu-prof).
 */
export function startService(name: string, script: string, env: NodeJS.ProcessEnv, options: { namespace?: string; nodeArgs?: readonly string[] } = {}): ServiceProcess {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}-${process.pid}-${Date.now()}.log`);
  const out = openSync(logFile, 'a');
  const nodeArgs = options.nodeArgs ?? [];
  // A service's own V8 flags (src/aggregator/node-flags.ts) come first, so a benchmark's can override them.
  const serviceFlags = AGGREGATOR_SCRIPTS.includes(script) ? AGGREGATOR_NODE_FLAGS : [];
  const nodeCommand = [process.execPath, ...serviceFlags, ...nodeArgs, '--import', 'tsx', script];
  const [command, ...args] = options.namespace ? ['ip', 'netns', 'exec', options.namespace, ...nodeCommand] : nodeCommand;
  const child = spawn(command!, args, {
    cwd: REPO_ROOT,
    // The local stack's own TP_STACK__* settings are not the services' (they would refuse them).
    env: { ...servicesEnv(process.env), ...localCredentialsEnv({ ...process.env, ...env }), ...env },
    // The IPC channel is how the service learns that this process is gone even when it dies by
    // SIGKILL or a crash, where no 'exit' handler runs: the channel closes and the service exits
    // (src/util/follow-parent.ts) instead of running on for the rest of a test suite.
    stdio: ['ignore', out, out, 'ipc'],
    // Its own process group (the service and any workers it starts), for signal().
    detached: true,
  });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${script}`);
  // Nothing is sent over it: it must not keep this process alive on its own.
  child.channel?.unref();
  const pid = child.pid;
  installCleanup();
  live.add(child);
  let alive = true;
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      alive = false;
      live.delete(child);
      resolve(code ?? signal ?? 'unknown');
    }),
  );
  const service: ServiceProcess = {
    pid,
    logFile,
    child,
    exited,
    signal(signalName) {
      if (!alive) return;
      try {
        process.kill(-pid, signalName);
      } catch {
        // Not a group leader (it exec'd something that left the group): the process itself.
        process.kill(pid, signalName);
      }
    },
    async stop(graceMs = 20_000) {
      if (!alive) return exited;
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => alive && process.kill(pid, 'SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
    log: () => readFileSync(logFile, 'utf8'),
    async waitForLog(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (pattern.test(service.log())) return;
        if (!alive) throw new Error(`${name} exited before logging ${pattern}; log:\n${service.log().slice(-3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      throw new Error(`${name} did not log ${pattern} within ${timeoutMs} ms; log:\n${service.log().slice(-3000)}`);
    },
  };
  return service;
}

/** Polls `probe` until it returns a value that is not undefined, or fails after timeoutMs. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}
