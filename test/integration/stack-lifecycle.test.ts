import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureTopics, fetchMetadata, groupProgress } from '../../src/kafka/admin.ts';
import { loadStackConfig } from '../../src/stack/config.ts';
import { adminConnection } from '../../src/stack/kafka.ts';

/**
 * Drives the real `stack` command on a second, private stack (its own data folder and ports), so
 * that it never disturbs the stack the other tests use.
 */
const run = promisify(execFile);
const dataDir = mkdtempSync(join(tmpdir(), 'tp-stack-'));
const env = {
  ...process.env,
  TP_STACK__DATA_DIR: dataDir,
  TP_STACK__KAFKA_BASE_PORT: '26092',
  TP_STACK__CLICKHOUSE_HTTP_PORT: '26123',
  TP_STACK__CLICKHOUSE_TCP_PORT: '26900',
  TP_STACK__MOSQUITTO_PORT: '26883',
  TP_STACK__MOSQUITTO_TLS_PORT: '26884',
};

async function stack(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'stack', ...args], {
      env: { ...env, ...extraEnv },
      timeout: 180_000,
    });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, out: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

/** Pids of live processes whose command line mentions the private data folder. */
function processesOfPrivateStack(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

test('stack lifecycle: start twice is harmless, a taken port is named, stop leaves nothing behind', async (t) => {
  t.after(async () => {
    await stack(['down']);
  });

  const first = await stack(['up']);
  assert.equal(first.code, 0, first.out);
  assert.match(first.out, /kafka-1: started/);
  assert.match(first.out, /ok\s+kafka\s+127\.0\.0\.1:26092/);
  const running = processesOfPrivateStack();
  assert.equal(running.length, 3, `expected Kafka, ClickHouse and Mosquitto, found pids ${running.join(',')}`);

  // A fresh broker has no __consumer_offsets yet: the first group's coordinator answers
  // NOT_COORDINATOR while it is created. Reading a group's offsets then crashed the whole process
  // (librdkafka 2.0.2's admin ListConsumerGroupOffsets, SIGSEGV); the CI's first integration test hit it.
  const kafka = adminConnection(loadStackConfig({ env }).stack);
  assert.deepEqual(await groupProgress(kafka, 'nonexistent-group-x', 'telemetry.readings'), { committed: 0, end: 0 });

  // The local stack's broker, restarted on the data of 463 topics, listed a new topic in its metadata
  // about a second after creating it; a bridge started in between was told its topic did not exist (the demo right after `stack up`).
  // As the stack's admin principal (SASL_SSL with the private stack's CA).
  const created = await ensureTopics(kafka, [
    { topic: 'fresh-broker-readings', partitions: 12, replicationFactor: 1 },
    { topic: 'fresh-broker-dead-letter', partitions: 3, replicationFactor: 1 },
  ]);
  assert.deepEqual(created, ['fresh-broker-readings', 'fresh-broker-dead-letter']);
  const seen = await fetchMetadata(kafka);
  assert.equal(seen.topics.get('fresh-broker-readings'), 12, 'a fresh client must be told the topic ensureTopics created exists');
  assert.equal(seen.ledPartitions.get('fresh-broker-readings'), 12, 'a fresh client must see every partition of a topic ensureTopics created');
  assert.equal(seen.ledPartitions.get('fresh-broker-dead-letter'), 3);

  const second = await stack(['up']);
  assert.equal(second.code, 0, second.out);
  assert.match(second.out, /kafka-1: already running/);
  assert.match(second.out, /clickhouse: already running/);
  assert.match(second.out, /mosquitto: already running/);
  assert.deepEqual(processesOfPrivateStack().sort(), running.sort(), 'a second start must not start anything');

  const down = await stack(['down']);
  assert.equal(down.code, 0, down.out);
  assert.deepEqual(processesOfPrivateStack(), [], 'no process of the stack may survive `stack down`');

});

test('a port already taken gives a message naming the port and the setting to change', async () => {
  const blocker: Server = createServer();
  await new Promise<void>((resolve) => blocker.listen(26883, '127.0.0.1', () => resolve()));
  try {
    // Only Mosquitto's port is taken; Kafka and ClickHouse start, then the command fails clearly.
    const result = await stack(['up']);
    assert.notEqual(result.code, 0);
    assert.match(result.out, /STACK_PORT_TAKEN/);
    assert.match(result.out, /127\.0\.0\.1:26883 is already in use/);
    assert.match(result.out, /stack\.mosquittoPort/);
  } finally {
    blocker.close();
    await stack(['down']);
  }
  assert.deepEqual(processesOfPrivateStack(), []);
});

test('a missing Java is reported with how to install it, not a hang', async () => {
  const started = Date.now();
  const result = await stack(['up'], { PATH: mkdtempSync(join(tmpdir(), 'tp-empty-path-')) });
  assert.notEqual(result.code, 0);
  assert.match(result.out, /STACK_JAVA_MISSING/);
  assert.match(result.out, /openjdk-17/);
  assert.ok(Date.now() - started < 30_000);
  assert.deepEqual(processesOfPrivateStack(), []);
});
