import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createClient } from '@clickhouse/client';
import { roleCredentials } from '../../src/clickhouse/roles.ts';
import { eventually } from '../../src/stack/services.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import { testConfig } from '../support/stack.ts';
import { isAlive } from '../../src/stack/processes.ts';

/**
 * A test process that dies without running its 'exit' handlers (a crash, SIGKILL, a timeout of the
 * runner) once left its aggregator running for the rest of the suite: librdkafka 2.0.2 crashed a
 * test process, and its aggregator kept consuming, rebalancing and logging for minutes. Services
 * started through startService follow their parent over the IPC channel.
 */
test('a bridge and an aggregator started by a process that is SIGKILLed exit on their own', { timeout: 120_000 }, async (t) => {
  const launcher = spawn(process.execPath, ['--import', 'tsx', 'test/support/service-launcher.ts'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const started: { bridge?: number; aggregator?: number; database?: string } = {};
  t.after(async () => {
    for (const pid of [launcher.pid, started.bridge, started.aggregator]) if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
    if (started.database !== undefined) {
      const config = testConfig();
      const clickhouse = createClient({ url: config.clickhouse.url, ...roleCredentials(config.clickhouse, 'admin') });
      await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${started.database}` });
      await clickhouse.close();
    }
  });
  const [line] = await Promise.race([
    createInterface({ input: launcher.stdout })[Symbol.asyncIterator]().next().then((next) => [next.value as string | undefined]),
    new Promise<never>((_, reject) => launcher.once('exit', (code) => reject(new Error(`the launcher exited (${code}) before starting its services`)))),
  ]);
  Object.assign(started, JSON.parse(line ?? '{}'));
  const { bridge, aggregator } = started;
  assert.ok(bridge !== undefined && aggregator !== undefined, `pids of the services: ${line}`);
  assert.ok(isAlive(bridge) && isAlive(aggregator), 'both services run while their parent does');

  process.kill(launcher.pid!, 'SIGKILL');
  await eventually('the bridge and the aggregator have exited', async () => (!isAlive(bridge) && !isAlive(aggregator) ? true : undefined), 30_000, 100);
});
