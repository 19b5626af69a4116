import { spawn, execFileSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { PipelineError } from '../core/errors.ts';

/**
 * Local processes of the stack: started detached (they outlive the command that started them),
 * recorded by pid file, recognised by a marker in their command line (so that a recycled pid is
 * never mistaken for ours), and stopped by that pid.
 */
export class StackError extends PipelineError {
  constructor(code: string, message: string, context: Record<string, string | number> = {}) {
    super(code, message, { retriable: false, context });
    this.name = 'StackError';
  }
}

export interface ManagedProcess {
  /** Human name, also the pid file's name: 'kafka-1', 'clickhouse', 'mosquitto'. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly pidFile: string;
  /** A string that must appear in /proc/<pid>/cmdline for the pid to count as this process. */
  readonly marker: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

interface PidRecord {
  readonly pid: number;
  readonly marker: string;
}

/** A pid file holds the pid and the marker, so that `stack down` can stop whatever it finds. */
export function readPidRecord(pidFile: string): PidRecord | null {
  if (!existsSync(pidFile)) return null;
  try {
    const record = JSON.parse(readFileSync(pidFile, 'utf8')) as PidRecord;
    return Number.isInteger(record.pid) && record.pid > 0 ? record : null;
  } catch {
    return null;
  }
}

export function readPid(pidFile: string): number | null {
  return readPidRecord(pidFile)?.pid ?? null;
}

/** Stops every recorded process in a run directory (by pid, checked against its marker). */
export async function stopAllRecorded(runDir: string, graceMs = 30_000): Promise<string[]> {
  if (!existsSync(runDir)) return [];
  const stopped: string[] = [];
  for (const file of readdirSync(runDir).filter((name) => name.endsWith('.pid'))) {
    const pidFile = join(runDir, file);
    const record = readPidRecord(pidFile);
    if (record && isAlive(record.pid) && commandLine(record.pid).includes(record.marker)) {
      await terminatePid(record.pid, graceMs);
      stopped.push(file.replace(/\.pid$/, ''));
    }
    rmSync(pidFile, { force: true });
  }
  return stopped;
}

/**
 * Sends `signal` to every recorded process of a run directory (checked against its marker) and
 * returns at once: for a process that is being interrupted and cannot wait. The pid files stay;
 * the next start finds them stale.
 */
export function signalAllRecorded(runDir: string, signal: NodeJS.Signals = 'SIGTERM'): string[] {
  if (!existsSync(runDir)) return [];
  const signalled: string[] = [];
  for (const file of readdirSync(runDir).filter((name) => name.endsWith('.pid'))) {
    const record = readPidRecord(join(runDir, file));
    if (record && isAlive(record.pid) && commandLine(record.pid).includes(record.marker)) {
      process.kill(record.pid, signal);
      signalled.push(file.replace(/\.pid$/, ''));
    }
  }
  return signalled;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie (exited, not yet reaped) still answers kill(0); it is not running.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** The recorded pid, if that process is alive and is really ours. */
export function runningPid(proc: ManagedProcess): number | null {
  const pid = readPid(proc.pidFile);
  if (pid === null || !isAlive(pid)) return null;
  return commandLine(pid).includes(proc.marker) ? pid : null;
}

export function startDetached(proc: ManagedProcess): number {
  mkdirSync(dirname(proc.logFile), { recursive: true });
  mkdirSync(dirname(proc.pidFile), { recursive: true });
  const log = openSync(proc.logFile, 'a');
  try {
    const child = spawn(proc.command, [...proc.args], {
      detached: true,
      stdio: ['ignore', log, log],
      env: proc.env ?? process.env,
      cwd: proc.cwd,
    });
    if (child.pid === undefined) {
      throw new StackError('STACK_SPAWN_FAILED', `could not start ${proc.name} (${proc.command})`, { name: proc.name });
    }
    child.unref();
    writeFileSync(proc.pidFile, JSON.stringify({ pid: child.pid, marker: proc.marker }) + '\n');
    return child.pid;
  } finally {
    closeSync(log);
  }
}

/** SIGTERM, wait, then SIGKILL; returns once the process is gone. */
export async function stopProcess(proc: ManagedProcess, graceMs = 30_000): Promise<boolean> {
  const pid = runningPid(proc);
  if (pid === null) {
    rmSync(proc.pidFile, { force: true });
    return false;
  }
  await terminatePid(pid, graceMs);
  rmSync(proc.pidFile, { force: true });
  return true;
}

export async function terminatePid(pid: number, graceMs: number): Promise<void> {
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await delay(100);
  if (isAlive(pid)) {
    signal(pid, 'SIGKILL');
    while (isAlive(pid)) await delay(50);
  }
}

export function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function tailOf(file: string, lines = 15): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  const text = readFileSync(file, 'utf8').trimEnd().split('\n');
  return text.slice(-lines).map((line) => `    ${line}`).join('\n');
}

export function portAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Who holds a TCP port, for error messages ("pid 123: java ..."); best effort. */
export function portOwner(port: number): string {
  try {
    const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
    const match = /pid=(\d+)/.exec(out);
    if (!match) return 'an unknown process';
    const pid = Number(match[1]);
    return `pid ${pid} (${commandLine(pid).slice(0, 80).trim() || 'unknown command'})`;
  } catch {
    return 'an unknown process';
  }
}

export async function assertPortFree(service: string, host: string, port: number, configKey: string, graceMs = 0): Promise<void> {
  // A process that has just exited may hold its port for a moment longer.
  const deadline = Date.now() + graceMs;
  while (!(await portIsFree(host, port))) {
    if (Date.now() >= deadline) break;
    await delay(250);
  }
  if (await portIsFree(host, port)) return;
  throw new StackError(
    'STACK_PORT_TAKEN',
    `${service} cannot start: ${host}:${port} is already in use by ${portOwner(port)}. ` +
      `Stop that process or choose another port with ${configKey}.`,
    { service, port },
  );
}

/**
 * Waits until `probe` answers true, or fails with a message a person can act on: what did not
 * answer, where, for how long, and the last lines of its log.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  options: { timeoutMs: number; logFile: string; pid?: number | null; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    if (options.pid !== undefined && options.pid !== null && !isAlive(options.pid)) {
      throw new StackError(
        'STACK_PROCESS_EXITED',
        `${what}: the process (pid ${options.pid}) exited during start-up; last lines of ${options.logFile}:\n${tailOf(options.logFile)}`,
      );
    }
    await delay(options.intervalMs ?? 250);
  }
  throw new StackError(
    'STACK_START_TIMEOUT',
    `${what} within ${Math.round(options.timeoutMs / 1000)} s; last lines of ${options.logFile}:\n${tailOf(options.logFile)}`,
  );
}

export function which(command: string): string | null {
  if (command.includes('/')) return isExecutable(command) ? command : null;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, command))) return join(dir, command);
  }
  return null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
