import { retryAfterSeconds } from './limits/token-bucket.ts';

/**
 * The answers the HTTP intake gives besides a reading's outcome: refusals with their status, JSON
 * body and headers (Retry-After), and whether the connection is closed after them.
 */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Close the connection after answering (the rest of the body is not kept, see discardRest). */
  readonly close?: boolean;
}

export const RETRY_AFTER_SECONDS = { accepting: '1', saturated: '1', 'kafka-unavailable': '5', failed: '2', stopping: '5' } as const;

export function methodNotAllowed(allow: string): Answer {
  return { status: 405, body: { error: 'method-not-allowed' }, headers: { allow } };
}

export function forbidden(detail: string): Answer {
  return { status: 403, body: { error: 'forbidden', detail }, close: true };
}

export function tooLarge(limit: number): Answer {
  return { status: 413, body: { error: 'payload-too-large', detail: `the body limit is ${limit} bytes` }, close: true };
}

export function rateLimited(waitMs: number, detail: string): Answer {
  return { status: 429, body: { error: 'rate-limited', detail }, headers: { 'retry-after': String(retryAfterSeconds(waitMs)) }, close: true };
}

export function unavailable(why: keyof typeof RETRY_AFTER_SECONDS, detail: string): Answer {
  return { status: 503, body: { error: why, detail }, headers: { 'retry-after': RETRY_AFTER_SECONDS[why] }, close: true };
}
