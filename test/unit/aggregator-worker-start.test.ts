import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkerSupervisor } from '../../src/aggregator/supervisor.ts';
import { eventually } from '../../src/stack/services.ts';
import { createLogger } from '../../src/util/log.ts';
import { pace } from '../support/pace.ts';

/**
 * The first start's workers join their consumer groups together (src/aggregator/worker-start.ts),
 * against real child processes: a stand-in worker appends "<worker>:<life> prepared|joined" to an
 * events file, says it is prepared as PREPARE says (now, on SIGUSR2, or never: it exits with 1
 * instead), and reports its port once told to join.
 */
const dir = mkdtempSync(join(tmpdir(), 'tp-worker-start-'));
const script = join(dir, 'worker.cjs');
writeFileSync(
  script,
  `const fs = require('fs');
   const note = (event) => fs.appendFileSync(process.env.EVENTS, process.env.WORKER + ':' + process.env.LIFE + ' ' + event + '\\n');
   process.on('message', (message) => {
     if (message && message.kind === 'join') { note('joined'); process.send({ kind: 'listening', port: 40000 + Number(process.env.WORKER) }); }
   });
   const prepare = () => { note('prepared'); process.send({ kind: 'prepared' }); };
   if (process.env.PREPARE === 'now') prepare();
   else if (process.env.PREPARE === 'on-signal') process.on('SIGUSR2', prepare);
   else if (process.env.PREPARE === 'exit') process.exit(1);
   process.on('SIGTERM', () => process.exit(0));
   setInterval(() => undefined, 1000);`,
);
const logger = createLogger('test', 'silent');

function started(prepare: (worker: number, life: number) => string, joinBarrierMs = 60_000): { sup: WorkerSupervisor; events: () => string[] } {
  const events = join(dir, `events-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(events, '');
  const sup = new WorkerSupervisor({
    count: 2,
    command: process.execPath,
    args: [script],
    env: (worker, life) => ({ PATH: process.env['PATH'], WORKER: String(worker), LIFE: String(life), EVENTS: events, PREPARE: prepare(worker, life) }),
    logger,
    policy: { initialDelayMs: 20, maxDelayMs: 80, stableAfterMs: 60_000 },
    random: () => 1,
    joinBarrierMs,
  });
  sup.start();
  return { sup, events: () => readFileSync(events, 'utf8').split('\n').filter((line) => line !== '') };
}

test('a prepared worker joins only once its sibling has prepared too', async () => {
  const { sup, events } = started((worker) => (worker === 1 ? 'now' : 'on-signal'));
  try {
    await eventually('worker 1 prepared', async () => (events().includes('1:1 prepared') ? true : undefined), 10_000, 10);
    const sibling = await eventually('worker 2 started', async () => sup.workers()[1]?.pid ?? undefined, 10_000, 10);
    // Without the barrier worker 1 is told to join within an IPC round trip of preparing.
    await pace(300, 'time for a join the barrier must withhold');
    assert.deepEqual(events(), ['1:1 prepared'], 'worker 1 waits for worker 2');
    process.kill(sibling, 'SIGUSR2');
    await eventually('both joined', async () => (events().length === 4 ? true : undefined), 10_000, 10);
    assert.deepEqual(events().slice(0, 2).sort(), ['1:1 prepared', '2:1 prepared']);
    assert.deepEqual(events().slice(2).sort(), ['1:1 joined', '2:1 joined']);
    await eventually('both running', async () => (sup.workers().every((view) => view.state === 'running') ? true : undefined), 10_000, 10);
  } finally {
    await sup.stop(5000);
  }
});

test('a sibling that exits before preparing does not hold the others; its next life joins as soon as it is prepared', async () => {
  // The barrier's own limit (60 s) is far beyond this test's: only the exit can let worker 1 join.
  const { sup, events } = started((worker, life) => (worker === 2 && life === 1 ? 'exit' : 'now'));
  try {
    await eventually('every worker joined', async () => (events().includes('1:1 joined') && events().includes('2:2 joined') ? true : undefined), 10_000, 10);
    assert.ok(events().indexOf('2:2 prepared') < events().indexOf('2:2 joined'));
    assert.equal(sup.workers()[1]!.restarts, 1);
  } finally {
    await sup.stop(5000);
  }
});

test('a sibling that never prepares holds the others only for joinBarrierMs', async () => {
  const { sup, events } = started((worker) => (worker === 1 ? 'now' : 'on-signal'), 300);
  try {
    await eventually('worker 1 joined', async () => (events().includes('1:1 joined') ? true : undefined), 10_000, 10);
    assert.ok(!events().includes('2:1 prepared'));
    const sibling = sup.workers()[1]!.pid!;
    process.kill(sibling, 'SIGUSR2');
    await eventually('worker 2 joined on preparing', async () => (events().includes('2:1 joined') ? true : undefined), 10_000, 10);
  } finally {
    await sup.stop(5000);
  }
});
