import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/**
 * The release check (`npm run loadtest`) when acknowledged readings never reach ClickHouse must end
 * with its report, the JSON line naming the loss and a non-zero exit, not with a stack trace. A
 * short run on the local stack: a small fleet for 3 s, and nothing that could store its readings.
 */
interface LoadtestLine {
  bench: string;
  lost: number | null;
  lost_sample: string[];
  settle: string;
  settle_timed_out: boolean;
  passed: boolean;
  reasons: string[];
}

interface LoadtestRun {
  code: number | null;
  output: string;
  /** The last JSON line printed, if any. */
  line: LoadtestLine | undefined;
}

const SHORT_RUN = ['--rate', '200', '--duration', '3', '--devices', '40', '--connections', '2', '--batch', '5', '--patterns', 'steady', '--settle-timeout', '5s'];

function runLoadtest(args: readonly string[], onLine: (line: string) => void = () => undefined): Promise<LoadtestRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/e2e/main.ts', ...SHORT_RUN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let pending = '';
  const take = (chunk: Buffer): void => {
    output += chunk.toString();
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    lines.forEach(onLine);
  };
  child.stdout.on('data', take);
  child.stderr.on('data', (chunk: Buffer) => void (output += chunk.toString()));
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      const last = output.trim().split('\n').filter((line) => line.startsWith('{')).pop();
      resolve({ code, output, line: last === undefined ? undefined : (JSON.parse(last) as LoadtestLine) });
    }),
  );
}

test('no aggregator stores the readings: the wait times out, the audit reports them lost with a sample, exit non-zero', { timeout: 120_000 }, async () => {
  const run = await runLoadtest(['--aggregators', '0']);
  const tail = run.output.slice(-4000);
  assert.ok(run.line, `the load test printed no JSON line:\n${tail}`);
  assert.equal(run.line.bench, 'e2e', tail);
  assert.ok((run.line.lost ?? 0) > 0, `lost ${run.line.lost}\n${tail}`);
  assert.ok(run.line.lost_sample.length > 0 && run.line.lost_sample.every((id) => /^[^/]+\/[^/]+$/.test(id)), `sample ${JSON.stringify(run.line.lost_sample)}`);
  assert.equal(run.line.settle, 'timed-out', tail);
  assert.equal(run.line.settle_timed_out, true);
  assert.equal(run.line.passed, false);
  assert.ok(run.line.reasons.some((reason) => /acknowledged readings? missing/.test(reason)), JSON.stringify(run.line.reasons));
  assert.match(run.output, /== end-to-end report ==/, 'the text report is printed as well');
  assert.doesNotMatch(run.output, /^\s+at /m, 'no stack trace');
  assert.notEqual(run.code, 0, tail);
});

test('the aggregator is killed by its pid before the fleet: the wait stops at once, the report names the exit and the loss, exit non-zero', { timeout: 120_000 }, async () => {
  let aggregatorPid: number | null = null;
  let killed = false;
  const run = await runLoadtest(['--aggregators', '1', '--settle-timeout', '60s'], (line) => {
    const pid = /aggregator-0 pid (\d+)/.exec(line)?.[1];
    if (pid) aggregatorPid = Number(pid);
    // Once the services are ready and before the fleet publishes: nothing can reach ClickHouse after this.
    if (/^live status page/.test(line) && aggregatorPid !== null && !killed) {
      killed = true;
      process.kill(aggregatorPid, 'SIGKILL');
    }
  });
  const tail = run.output.slice(-4000);
  assert.ok(killed, `the load test never printed the aggregator's pid and readiness:\n${tail}`);
  assert.ok(run.line, `the load test printed no JSON line:\n${tail}`);
  assert.ok((run.line.lost ?? 0) > 0, `lost ${run.line.lost}\n${tail}`);
  assert.ok(run.line.lost_sample.length > 0, tail);
  // It stopped waiting because the aggregator was gone, long before the 60 s bound.
  assert.equal(run.line.settle, 'service-exited', tail);
  assert.equal(run.line.settle_timed_out, false);
  assert.ok(run.line.reasons.some((reason) => /aggregator-0 exited \(SIGKILL\)/.test(reason)), JSON.stringify(run.line.reasons));
  assert.doesNotMatch(run.output, /^\s+at /m, 'no stack trace');
  assert.notEqual(run.code, 0, tail);
});
