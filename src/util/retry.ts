import { PipelineError, errorMessage } from '../core/errors.ts';

/**
 * The one retry helper: exponential backoff with full jitter, a bound on attempts and on total
 * time, and a way to bail. Every attempt that fails is reported through `onRetry` so that each
 * retry is observable (a metric and a log line at the call site).
 */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** Gives up once this much time has passed since the first attempt, whatever maxAttempts says. */
  readonly maxElapsedMs: number;
}

export interface RetryOptions {
  readonly policy: RetryPolicy;
  /** What is being retried, for the final error's message. */
  readonly operation: string;
  /** Returns false to stop retrying at once (a non-retriable error). Defaults to PipelineError.retriable or true. */
  readonly shouldRetry?: (error: unknown, attempt: number) => boolean;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  readonly signal?: AbortSignal;
  /** Injected for tests; defaults to Math.random. */
  readonly random?: () => number;
}

export class RetriesExhaustedError extends PipelineError {
  readonly attempts: number;
  constructor(operation: string, attempts: number, cause: unknown) {
    super('RETRIES_EXHAUSTED', `${operation} failed after ${attempts} attempt(s): ${errorMessage(cause)}`, {
      retriable: false,
      context: { operation, attempts },
      cause,
    });
    this.name = 'RetriesExhaustedError';
    this.attempts = attempts;
  }
}

export function backoffDelayMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

function defaultShouldRetry(error: unknown): boolean {
  return error instanceof PipelineError ? error.retriable : true;
}

/** Resolves after `ms`; rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function withRetry<T>(attemptFn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { policy } = options;
  const shouldRetry = options.shouldRetry ?? defaultShouldRetry;
  const startedAt = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await attemptFn(attempt);
    } catch (error) {
      const elapsed = Date.now() - startedAt;
      const delayMs = backoffDelayMs(policy, attempt, options.random);
      const outOfBudget = attempt >= policy.maxAttempts || elapsed + delayMs > policy.maxElapsedMs;
      if (outOfBudget || !shouldRetry(error, attempt) || options.signal?.aborted) {
        if (!shouldRetry(error, attempt)) throw error;
        throw new RetriesExhaustedError(options.operation, attempt, error);
      }
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, options.signal);
    }
  }
}
