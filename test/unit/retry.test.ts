import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineError } from '../../src/core/errors.ts';
import { RetriesExhaustedError, backoffDelayMs, withRetry } from '../../src/util/retry.ts';

const fast = { maxAttempts: 4, initialDelayMs: 1, maxDelayMs: 4, maxElapsedMs: 5000 };

test('retries until success and reports every retry', async () => {
  const retries: number[] = [];
  const result = await withRetry(
    async (attempt) => {
      if (attempt < 3) throw new PipelineError('FLAKY', 'not yet', { retriable: true });
      return attempt;
    },
    { policy: fast, operation: 'flaky', onRetry: (_error, attempt) => retries.push(attempt) },
  );
  assert.equal(result, 3);
  assert.deepEqual(retries, [1, 2]);
});

test('gives up after maxAttempts with the cause kept', async () => {
  let calls = 0;
  await assert.rejects(
    withRetry(async () => {
      calls++;
      throw new PipelineError('DOWN', 'server down', { retriable: true });
    }, { policy: fast, operation: 'insert' }),
    (error: unknown) => error instanceof RetriesExhaustedError && error.attempts === 4 && /insert failed after 4/.test(error.message),
  );
  assert.equal(calls, 4);
});

test('a non-retriable error is thrown at once, unchanged', async () => {
  let calls = 0;
  const fatal = new PipelineError('BAD_QUERY', 'syntax error', { retriable: false });
  await assert.rejects(withRetry(async () => {
    calls++;
    throw fatal;
  }, { policy: fast, operation: 'query' }), (error) => error === fatal);
  assert.equal(calls, 1);
});

test('backoff grows exponentially within the ceiling', () => {
  const policy = { maxAttempts: 10, initialDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 60_000 };
  assert.equal(backoffDelayMs(policy, 1, () => 1), 100);
  assert.equal(backoffDelayMs(policy, 3, () => 1), 400);
  assert.equal(backoffDelayMs(policy, 8, () => 1), 1000);
  assert.equal(backoffDelayMs(policy, 3, () => 0), 200);
});
