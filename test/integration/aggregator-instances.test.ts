import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { generateDataset } from '../support/readings-dataset.ts';
import { WINDOW, assertExactlyOnce, streamInSlices } from '../support/recovery.ts';
import { eventually } from '../../src/stack/services.ts';
import { freePort } from './edge-harness.ts';
import { isAlive } from '../../src/stack/processes.ts';

/**
 * The supervised aggregator (`--instances 2`): one service, two worker processes in one consumer
 * group. A worker killed by SIGKILL mid-stream is restarted by the service and its partitions resume
 * from their checkpoints: the final table equals the expected rows, no key twice under FINAL. The
 * service's /metrics and /status show each worker; when the service itself is SIGKILLed, its
 * workers do not outlive it; on SIGTERM each worker stops gracefully and the service exits 0.
 */
interface WorkerStatus {
  readonly worker: number;
  readonly pid: number | null;
  readonly state: string;
  readonly restarts: number;
  readonly ready: boolean;
}

test('aggregator --instances 2: a worker SIGKILLed mid-stream is restarted by the service, exactly-once holds', { timeout: 300_000 }, async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }], { partitions: 6 });
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const data = generateDataset({ seed: 31, devices: 40 });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const service = scenario.startAggregator('supervised', { TP_AGGREGATOR__INSTANCES: '2', TP_AGGREGATOR__METRICS_PORT: String(port) });
  const workers = async (): Promise<WorkerStatus[]> => ((await (await fetch(`${base}/status`)).json()) as { workers: WorkerStatus[] }).workers;
  await service.waitForLog(/all aggregator workers ready/, 90_000);
  const before = await workers();
  assert.equal(before.length, 2);
  assert.ok(before.every((worker) => worker.ready && worker.pid !== null && worker.pid !== service.pid), JSON.stringify(before));
  assert.equal((await fetch(`${base}/readyz`)).status, 200, 'ready when every worker is');

  let killedPid: number | null = null;
  await streamInSlices(scenario, data, 12, 300, async (index) => {
    if (index !== 4) return;
    killedPid = before[0]!.pid!;
    process.kill(killedPid, 'SIGKILL');
    // The service notices, says so on /readyz, and starts the worker again.
    const restarted = await eventually('worker 1 restarted and ready', async () => {
      const one = (await workers())[0]!;
      return one.restarts === 1 && one.ready && one.pid !== killedPid ? one : undefined;
    }, 60_000);
    assert.ok(isAlive(restarted.pid!));
  });
  assert.ok(killedPid !== null && !isAlive(killedPid), 'the killed worker is gone');
  await assertExactlyOnce(scenario, data);

  const metrics = await (await fetch(`${base}/metrics`)).text();
  for (const worker of ['1', '2']) {
    assert.match(metrics, new RegExp(`^tp_agg_readings_total\\{worker="${worker}",pipeline="main"[^}]*\\} [1-9]`, 'm'), `worker ${worker}'s readings on the service's /metrics`);
  }
  assert.match(metrics, /^tp_agg_worker_restarts_total\{worker="1"\} 1$/m);
  assert.match(metrics, /^tp_agg_worker_restarts_total\{worker="2"\} 0$/m);
  const statusData = (await (await fetch(`${base}/status/data`)).json()) as { topology?: { groups?: { members: { instance: string }[] }[] } };
  const members = (statusData.topology?.groups ?? []).flatMap((group) => group.members.map((member) => member.instance));
  for (const worker of ['w1', 'w2']) assert.ok(members.some((instance) => instance.endsWith(`-supervised-${worker}`)), `the status page lists worker ${worker}: ${members.join(', ') || JSON.stringify(statusData).slice(0, 500)}`);

  // The service dies without a chance to stop its workers: they notice through their IPC channel.
  const workerPids = (await workers()).map((worker) => worker.pid!);
  // Its pid only (signal() would reach the whole process group, workers included).
  process.kill(service.pid, 'SIGKILL');
  await service.exited;
  await eventually('workers gone with their service', async () => (workerPids.every((pid) => !isAlive(pid)) ? true : undefined), 10_000);
});

test('aggregator --instances 2: SIGTERM stops every worker gracefully and the service exits 0', { timeout: 120_000 }, async (t) => {
  const scenario = new AggregatorScenario([{ name: 'main', guarantee: 'exactly-once', window: WINDOW }], { partitions: 4 });
  t.after(() => scenario.tearDown());
  await scenario.setUp();
  const port = await freePort();
  const service = scenario.startAggregator('graceful', { TP_AGGREGATOR__INSTANCES: '2', TP_AGGREGATOR__METRICS_PORT: String(port) });
  await service.waitForLog(/all aggregator workers ready/, 90_000);
  const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { workers: WorkerStatus[] };
  const workerPids = status.workers.map((worker) => worker.pid!);
  assert.equal(workerPids.length, 2);
  assert.equal(await service.stop(30_000), 0, `a graceful stop exits 0:\n${service.log().slice(-2000)}`);
  assert.ok(workerPids.every((pid) => !isAlive(pid)), 'no worker outlives the service');
  // Each worker ran its own graceful stop (flush, checkpoint, commit, leave the group).
  const stopped = service.log().split('\n').filter((line) => line.includes('"msg":"stopped"') && workerPids.some((pid) => line.includes(`"pid":${pid}`)));
  assert.equal(stopped.length, 2, service.log().slice(-3000));
  assert.doesNotMatch(service.log(), /aggregator worker exited; restarting it/, 'a stop restarts nothing');
});
