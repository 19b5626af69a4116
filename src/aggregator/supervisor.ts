import { spawn, type ChildProcess } from 'node:child_process';
import { PipelineError } from '../core/errors.ts';
import type { Logger } from '../util/log.ts';
import { backoffDelayMs } from '../util/retry.ts';
import { JOIN_BARRIER_MS, isWorkerListening, isWorkerPrepared, type JoinNow } from './worker-start.ts';

/**
 * Runs N aggregator workers as child processes and keeps them running: a worker that exits on its
 * own is started again after a backoff (exponential with jitter, capped; the count of failures in a
 * row resets once a worker has stayed up `stableAfterMs`). Each worker is a whole aggregator in the
 * pipelines' consumer groups, so a restarted worker rejoins and the partitions it gets resume from
 * their checkpoints through the normal rebalance: the supervisor takes no part in exactly-once.
 *
 * A worker exiting with code 2 has a configuration it cannot run with; restarting cannot help, so the
 * supervisor stops and `failed` rejects. Workers learn of a dead parent through their IPC channel.
 */
export type WorkerState = 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped';

export interface WorkerView {
  /** 1..N, stable across restarts (the worker's instance id and its `worker` label). */
  readonly worker: number;
  readonly state: WorkerState;
  readonly pid: number | null;
  /** The worker's operations port on 127.0.0.1, once it has reported it. */
  readonly port: number | null;
  readonly restarts: number;
  readonly lastExit: string | null;
}

export interface RestartPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A worker up this long counts as healthy again: its next failure starts the backoff afresh. */
  readonly stableAfterMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { initialDelayMs: 500, maxDelayMs: 30_000, stableAfterMs: 60_000 };

export interface SupervisorOptions {
  readonly count: number;
  readonly command: string;
  readonly args: readonly string[];
  /** The environment of worker `worker`'s `life`-th start (1 for the first). */
  readonly env: (worker: number, life: number) => NodeJS.ProcessEnv;
  readonly logger: Logger;
  readonly policy?: RestartPolicy;
  readonly onRestart?: (worker: number, delayMs: number, exit: string) => void;
  readonly random?: () => number;
  /** How long the first start's prepared workers wait for their siblings (worker-start.ts). */
  readonly joinBarrierMs?: number;
}


export class WorkerConfigError extends PipelineError {
  constructor(worker: number, exit: string) {
    super('AGGREGATOR_WORKER_CONFIG', `aggregator worker ${worker} exited with ${exit}: its configuration is invalid (see its log above); not restarting`, {
      retriable: false,
      context: { worker, exit },
    });
    this.name = 'WorkerConfigError';
  }
}

interface Slot {
  readonly worker: number;
  state: WorkerState;
  child: ChildProcess | null;
  port: number | null;
  lives: number;
  failuresInRow: number;
  startedAt: number;
  lastExit: string | null;
  timer: NodeJS.Timeout | null;
  exited: Promise<void>;
}

export class WorkerSupervisor {
  private readonly slots: Slot[];
  private readonly policy: RestartPolicy;
  private stopping = false;
  /** The first start's workers that have prepared and wait to join; null once they all may (worker-start.ts). */
  private waitingToJoin: Set<Slot> | null = new Set();
  private barrierTimer: NodeJS.Timeout | null = null;
  private rejectFailed: (error: Error) => void = () => undefined;
  /** Rejects when a worker cannot run at all (a configuration error); never resolves otherwise. */
  readonly failed: Promise<never>;

  constructor(private readonly options: SupervisorOptions) {
    this.policy = options.policy ?? DEFAULT_RESTART_POLICY;
    this.slots = Array.from({ length: options.count }, (_, index) => ({
      worker: index + 1,
      state: 'stopped' as WorkerState,
      child: null,
      port: null,
      lives: 0,
      failuresInRow: 0,
      startedAt: 0,
      lastExit: null,
      timer: null,
      exited: Promise.resolve(),
    }));
    this.failed = new Promise<never>((_, reject) => {
      this.rejectFailed = reject;
    });
    // A caller that never awaits `failed` must not see an unhandled rejection.
    this.failed.catch(() => undefined);
  }

  start(): void {
    const barrierMs = this.options.joinBarrierMs ?? JOIN_BARRIER_MS;
    this.barrierTimer = setTimeout(() => this.letJoin(`not every worker had prepared after ${barrierMs} ms`), barrierMs);
    for (const slot of this.slots) this.launch(slot);
  }

  workers(): WorkerView[] {
    return this.slots.map((slot) => ({
      worker: slot.worker,
      state: slot.state,
      pid: slot.child?.pid ?? null,
      port: slot.port,
      restarts: Math.max(0, slot.lives - 1),
      lastExit: slot.lastExit,
    }));
  }

  /** SIGTERM to every worker (each stops gracefully: flush, checkpoint, commit); SIGKILL after graceMs. */
  async stop(graceMs = 30_000): Promise<void> {
    this.stopping = true;
    if (this.barrierTimer) clearTimeout(this.barrierTimer);
    for (const slot of this.slots) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = null;
      if (slot.child && slot.state !== 'stopped') {
        slot.state = 'stopping';
        slot.child.kill('SIGTERM');
      } else {
        slot.state = 'stopped';
      }
    }
    const killer = setTimeout(() => {
      for (const slot of this.slots) if (slot.state === 'stopping') slot.child?.kill('SIGKILL');
    }, graceMs);
    await Promise.all(this.slots.map((slot) => slot.exited));
    clearTimeout(killer);
  }

  private launch(slot: Slot): void {
    slot.lives++;
    slot.state = 'starting';
    slot.port = null;
    slot.startedAt = Date.now();
    const child = spawn(this.options.command, [...this.options.args], {
      env: this.options.env(slot.worker, slot.lives),
      // The workers write to the service's own stdout/stderr; the IPC channel carries their port
      // and tells them when the parent is gone.
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    slot.child = child;
    child.on('message', (message) => {
      if (slot.child !== child) return;
      if (isWorkerPrepared(message)) this.prepared(slot);
      if (!isWorkerListening(message)) return;
      slot.port = message.port;
      if (slot.state === 'starting') slot.state = 'running';
    });
    slot.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited(slot, child, code === null ? `signal ${signal ?? 'unknown'}` : `code ${code}`, code);
        resolve();
      });
    });
    // spawn() reports a missing executable as an 'error' event, followed by no 'exit'.
    child.once('error', (error) => {
      this.options.logger.error({ worker: slot.worker, err: error }, 'aggregator worker could not be started');
      if (child.pid === undefined) child.emit('exit', 127, null);
    });
    this.options.logger.info({ worker: slot.worker, pid: child.pid, life: slot.lives }, 'aggregator worker started');
  }

  /** A worker is prepared to join its consumer groups: now, or once its siblings are too. */
  private prepared(slot: Slot): void {
    if (this.waitingToJoin === null) {
      this.tellToJoin(slot);
      return;
    }
    this.waitingToJoin.add(slot);
    if (this.waitingToJoin.size === this.slots.length) this.letJoin('every worker prepared');
  }

  /** Ends the first start's wait: every prepared worker joins, and any later one as soon as it prepares. */
  private letJoin(reason: string): void {
    if (this.waitingToJoin === null) return;
    const waiting = [...this.waitingToJoin];
    this.waitingToJoin = null;
    if (this.barrierTimer) clearTimeout(this.barrierTimer);
    this.barrierTimer = null;
    this.options.logger.info({ prepared: waiting.length, workers: this.slots.length, reason }, 'aggregator workers joining their consumer groups');
    for (const slot of waiting) this.tellToJoin(slot);
  }

  private tellToJoin(slot: Slot): void {
    const child = slot.child;
    if (child === null || !child.connected) return; // it has exited; its next life prepares afresh
    child.send({ kind: 'join' } satisfies JoinNow, (error) => {
      if (error) this.options.logger.warn({ worker: slot.worker, err: error }, 'could not tell an aggregator worker to join (it is exiting; its next life prepares afresh)');
    });
  }

  private exited(slot: Slot, child: ChildProcess, exit: string, code: number | null): void {
    if (slot.child !== child) return;
    // A worker that died before its siblings joined must not hold them until the barrier times out.
    this.waitingToJoin?.delete(slot);
    this.letJoin(`worker ${slot.worker} exited before every worker had prepared`);
    slot.child = null;
    slot.port = null;
    slot.lastExit = exit;
    if (this.stopping) {
      slot.state = 'stopped';
      return;
    }
    if (code === 2) {
      slot.state = 'stopped';
      this.options.logger.error({ worker: slot.worker, exit }, 'aggregator worker has an invalid configuration; stopping the service');
      this.rejectFailed(new WorkerConfigError(slot.worker, exit));
      return;
    }
    slot.failuresInRow = Date.now() - slot.startedAt >= this.policy.stableAfterMs ? 1 : slot.failuresInRow + 1;
    const delayMs = backoffDelayMs(
      { maxAttempts: Number.POSITIVE_INFINITY, initialDelayMs: this.policy.initialDelayMs, maxDelayMs: this.policy.maxDelayMs, maxElapsedMs: Number.POSITIVE_INFINITY },
      slot.failuresInRow,
      this.options.random,
    );
    slot.state = 'backoff';
    this.options.logger.warn({ worker: slot.worker, exit, failuresInRow: slot.failuresInRow, restartInMs: delayMs }, 'aggregator worker exited; restarting it');
    this.options.onRestart?.(slot.worker, delayMs, exit);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (!this.stopping) this.launch(slot);
    }, delayMs);
  }
}
