import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerConfigError, WorkerSupervisor, type RestartPolicy, type WorkerView } from '../../src/aggregator/supervisor.ts';
import { eventually } from '../../src/stack/services.ts';
import { createLogger } from '../../src/util/log.ts';

/**
 * The supervisor against real child processes: a stand-in worker that reports a port over IPC and
 * then exits with FAKE_EXIT after FAKE_LIFE_MS (or runs until SIGTERM when FAKE_EXIT is unset).
 */
const dir = mkdtempSync(join(tmpdir(), 'tp-supervisor-'));
const script = join(dir, 'worker.cjs');
writeFileSync(
  script,
  `process.send({ kind: 'listening', port: 40000 + Number(process.env.WORKER) });
   process.on('SIGTERM', () => process.exit(0));
   if (process.env.FAKE_EXIT !== undefined) setTimeout(() => process.exit(Number(process.env.FAKE_EXIT)), Number(process.env.FAKE_LIFE_MS));
   else setInterval(() => undefined, 1000);`,
);
const logger = createLogger('test', 'silent');
const FAST: RestartPolicy = { initialDelayMs: 20, maxDelayMs: 80, stableAfterMs: 60_000 };

function supervisor(count: number, env: (worker: number, life: number) => NodeJS.ProcessEnv, restarts: { worker: number; delayMs: number }[] = []): WorkerSupervisor {
  return new WorkerSupervisor({
    count,
    command: process.execPath,
    args: [script],
    env: (worker, life) => ({ PATH: process.env['PATH'], WORKER: String(worker), ...env(worker, life) }),
    logger,
    policy: FAST,
    random: () => 1,
    onRestart: (worker, delayMs) => restarts.push({ worker, delayMs }),
  });
}

test('a worker that keeps dying is restarted each time, with a backoff that doubles up to its cap; the others run on', async () => {
  const restarts: { worker: number; delayMs: number }[] = [];
  const lives = new Map<number, number>();
  const sup = supervisor(2, (worker, life) => {
    lives.set(worker, life);
    return worker === 2 ? { FAKE_EXIT: '1', FAKE_LIFE_MS: '30' } : {};
  }, restarts);
  sup.start();
  try {
    const firstPid = await eventually('worker 1 running', async () => sup.workers()[0]?.state === 'running' ? sup.workers()[0]!.pid : undefined, 10_000, 20);
    await eventually('worker 2 restarted 5 times', async () => ((sup.workers()[1]?.restarts ?? 0) >= 5 ? true : undefined), 20_000, 20);
    const delays = restarts.filter((entry) => entry.worker === 2).map((entry) => entry.delayMs).slice(0, 5);
    assert.deepEqual(delays, [20, 40, 80, 80, 80], 'exponential from initialDelayMs, capped at maxDelayMs');
    assert.ok(restarts.every((entry) => entry.worker === 2), 'worker 1 was never restarted');
    const one: WorkerView = sup.workers()[0]!;
    assert.equal(one.state, 'running');
    assert.equal(one.pid, firstPid, 'worker 1 is still its first process');
    assert.equal(one.port, 40001, 'the port the worker reported over IPC');
    assert.equal(sup.workers()[1]!.lastExit, 'code 1');
    assert.ok((lives.get(2) ?? 0) >= 6);
  } finally {
    await sup.stop(5000);
  }
  assert.ok(sup.workers().every((view) => view.state === 'stopped' && view.pid === null), 'stop() leaves no worker');
});

test('a worker killed by a signal is restarted; stop() ends every worker and restarts none', async () => {
  const restarts: { worker: number; delayMs: number }[] = [];
  const sup = supervisor(2, () => ({}), restarts);
  sup.start();
  try {
    const pid = await eventually('worker 1 running', async () => (sup.workers()[0]?.state === 'running' ? sup.workers()[0]!.pid! : undefined), 10_000, 20);
    process.kill(pid, 'SIGKILL');
    const newPid = await eventually('worker 1 back', async () => {
      const view = sup.workers()[0]!;
      return view.state === 'running' && view.pid !== pid ? view.pid : undefined;
    }, 10_000, 20);
    assert.notEqual(newPid, pid);
    assert.equal(sup.workers()[0]!.restarts, 1);
    assert.equal(sup.workers()[0]!.lastExit, 'signal SIGKILL');
  } finally {
    await sup.stop(5000);
  }
  const countAfterStop = restarts.length;
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(restarts.length, countAfterStop, 'no restart after stop()');
  assert.ok(sup.workers().every((view) => view.state === 'stopped'));
});

test('a worker exiting with code 2 (invalid configuration) is not restarted: the supervisor fails', async () => {
  const restarts: { worker: number; delayMs: number }[] = [];
  const sup = supervisor(2, (worker) => (worker === 1 ? { FAKE_EXIT: '2', FAKE_LIFE_MS: '10' } : {}), restarts);
  sup.start();
  try {
    await assert.rejects(sup.failed, (error: unknown) => error instanceof WorkerConfigError && error.code === 'AGGREGATOR_WORKER_CONFIG');
    assert.equal(restarts.length, 0);
    assert.equal(sup.workers()[0]!.state, 'stopped');
  } finally {
    await sup.stop(5000);
  }
});
