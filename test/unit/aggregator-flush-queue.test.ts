import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlushQueue } from '../../src/aggregator/flush-queue.ts';

/** A writer whose writes finish when the test says so. */
function controlledWriter() {
  const started: string[] = [];
  const finishers = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  const write = (batch: string): Promise<void> => {
    started.push(batch);
    return new Promise((resolve, reject) => finishers.set(batch, { resolve, reject }));
  };
  const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  return { write, started, finish: (batch: string) => finishers.get(batch)!.resolve(), fail: (batch: string) => finishers.get(batch)!.reject(new Error(`${batch} failed`)), tick };
}

test('batches are written one at a time, in order; each resolves only when it and all before it are written', async () => {
  const writer = controlledWriter();
  const queue = new FlushQueue(writer.write, 3);
  const resolved: string[] = [];
  const a = queue.enqueue('a').then(() => resolved.push('a'));
  const b = queue.enqueue('b').then(() => resolved.push('b'));
  await writer.tick();
  assert.deepEqual(writer.started, ['a'], 'b waits for a');
  writer.finish('a');
  await a;
  await writer.tick();
  assert.deepEqual(writer.started, ['a', 'b']);
  assert.deepEqual(resolved, ['a']);
  writer.finish('b');
  await b;
  assert.deepEqual(resolved, ['a', 'b']);
  assert.equal(queue.size, 0);
});

test('a batch queued behind a failed one fails without being written', async () => {
  const writer = controlledWriter();
  const queue = new FlushQueue(writer.write, 3);
  const a = queue.enqueue('a');
  const b = queue.enqueue('b');
  await writer.tick();
  writer.fail('a');
  await assert.rejects(a, /a failed/);
  await assert.rejects(b, /a failed/);
  assert.deepEqual(writer.started, ['a'], 'b never reached the sink');
  await queue.settled();
});

test('room() waits while maxUnfinished batches are queued or being written', async () => {
  const writer = controlledWriter();
  const queue = new FlushQueue(writer.write, 2);
  void queue.enqueue('a');
  await queue.room(); // one unfinished: room
  void queue.enqueue('b');
  let roomy = false;
  const room = queue.room().then(() => (roomy = true));
  await writer.tick();
  assert.equal(roomy, false, 'two unfinished: the loop must wait');
  writer.finish('a');
  await room;
  assert.equal(queue.size, 1);
  writer.finish('b');
  await queue.settled();
  assert.equal(queue.size, 0);
});
