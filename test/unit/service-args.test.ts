import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/**
 * The services' command lines: every spelling of an option is read (`--config x`, `--config=x`),
 * and an option the service does not know, or one without its value, stops it with a message that
 * names the option, before anything is started. Kafka and ClickHouse point at a closed port, so a
 * service that wrongly went on would only retry, never touch the running stack.
 */
const UNREACHABLE = { TP_KAFKA__BROKERS: '127.0.0.1:1', TP_CLICKHOUSE__URL: 'http://127.0.0.1:1', TP_AGGREGATOR__METRICS_PORT: '0', TP_EDGE__HTTP_PORT: '0' };

function run(script: string, args: readonly string[]): { status: number | null; stderr: string } {
  const env: NodeJS.ProcessEnv = { ...process.env, ...UNREACHABLE };
  delete env['TP_CONFIG'];
  const result = spawnSync(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stderr: result.stderr };
}

const MISSING = '/nonexistent/tp-pipeline.yaml';

for (const script of ['src/aggregator/main.ts', 'edge/main.ts']) {
  for (const args of [['--config', MISSING], [`--config=${MISSING}`], ['-c', MISSING]]) {
    test(`${script} ${args.join(' ')}: the file is read (and its absence refused)`, () => {
      const { status, stderr } = run(script, args);
      assert.equal(status, 2, `exit ${status}; stderr: ${stderr.slice(0, 400)}`);
      assert.match(stderr, /tp-pipeline\.yaml' does not exist/);
    });
  }
  for (const [args, option] of [[['--confg', MISSING], '--confg'], [['--config'], '--config'], [['--bogus=1'], '--bogus']] as const) {
    test(`${script} ${args.join(' ')}: refused, naming ${option}`, () => {
      const { status, stderr } = run(script, args);
      assert.equal(status, 2, `exit ${status}; stderr: ${stderr.slice(0, 400)}`);
      assert.ok(stderr.includes(option), `the message names ${option}: ${stderr.slice(0, 400)}`);
    });
  }
}

test('src/aggregator/main.ts --instances=x: a malformed value is refused, naming the option', () => {
  const { status, stderr } = run('src/aggregator/main.ts', ['--instances=x']);
  assert.equal(status, 2, `exit ${status}; stderr: ${stderr.slice(0, 400)}`);
  assert.match(stderr, /--instances/);
});
