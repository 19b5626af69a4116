import { StackError, assertPortFree, runningPid, startDetached, waitUntil, which, type ManagedProcess } from './processes.ts';

/**
 * The start-up every server of the local stack goes through (Kafka, ClickHouse, ZooKeeper,
 * Mosquitto): nothing when its recorded process still runs, otherwise check what it needs on this
 * machine, write its files, make sure nobody else holds its ports (the message names the config key
 * that moves them), then start it detached. Waiting until it answers stays with the caller: each
 * server has its own probe, and a Kafka node waits for its peers only after all were started.
 */
export interface PortClaim {
  /** Who wants the port, as the error says it ("ClickHouse (HTTP)"). */
  readonly service: string;
  readonly host: string;
  readonly port: number;
  /** The stack setting that moves it. */
  readonly configKey: string;
  /** How long a process that has just exited may hold it (see assertPortFree). */
  readonly graceMs?: number;
}

export interface LaunchSteps {
  /** Throws a StackError when something the server needs is not installed; runs before anything is written. */
  readonly requires?: () => void;
  /** Writes the server's configuration and directories. */
  readonly prepare: () => void;
  readonly ports: readonly PortClaim[];
  readonly cwd?: string;
}

/** Starts `proc` unless it runs already; true when this call started it. */
export async function launchUnlessRunning(proc: ManagedProcess, steps: LaunchSteps): Promise<boolean> {
  if (runningPid(proc) !== null) return false;
  steps.requires?.();
  steps.prepare();
  for (const claim of steps.ports) await assertPortFree(claim.service, claim.host, claim.port, claim.configKey, claim.graceMs);
  startDetached(steps.cwd === undefined ? proc : { ...proc, cwd: steps.cwd });
  return true;
}

/** Throws `code` with `message` unless `command` is an executable (on PATH, or a path). */
export function requireCommand(command: string, code: string, message: string): void {
  if (!which(command)) throw new StackError(code, message);
}

/**
 * Waits until `probe` answers, failing early (with the log's last lines) if the process exits.
 * `logFile`: where the server writes why it failed, when that is not the process log.
 */
export async function waitForProcess(
  proc: ManagedProcess,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  logFile = proc.logFile,
): Promise<void> {
  await waitUntil(what, probe, { timeoutMs, logFile, pid: runningPid(proc) });
}
