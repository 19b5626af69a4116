import { errorMessage } from '../../../src/core/errors.ts';
import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { httpControl, settleAgainstKafka, type PendingAttempt } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { bearer, postReadings } from '../http-client.ts';

/**
 * HTTP intake, edge.maxHttpBodyBytes: a body over the limit gets 413 whether its length is declared
 * (refused unread) or found while reading (chunked), as JSON or NDJSON — and none of the valid
 * readings it starts with is written.
 */
export const httpBodyLimit: SecurityCheck = {
  name: 'http-body-limit',
  requires: ['http-intake'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const limit = bridge.maxHttpBodyBytes;
    tally.note(`limit: edge.maxHttpBodyBytes ${limit}`);
    const pending: PendingAttempt[] = [];
    const cases: { what: string; ndjson: boolean; chunked: boolean; over: number }[] = [
      { what: 'JSON array one byte over the limit, length declared', ndjson: false, chunked: false, over: 1 },
      { what: 'JSON array 4× the limit, length declared', ndjson: false, chunked: false, over: 3 * limit },
      { what: 'JSON array over the limit, chunked (found while reading)', ndjson: false, chunked: true, over: 1 },
      { what: 'NDJSON over the limit, chunked', ndjson: true, chunked: true, over: 1024 },
    ];
    for (const attempt of cases) {
      const { body, keys } = oversized(context, limit + attempt.over, attempt.ndjson);
      const payload = attempt.chunked ? chunksOf(body) : body;
      try {
        const answer = await postReadings(context, { headers: { ...bearer(bridge.keys.x.key), ...(attempt.ndjson ? { 'content-type': 'application/x-ndjson' } : {}) }, body: payload });
        const verdict = answer.status === 413 ? 'refused' : answer.status >= 200 && answer.status < 300 ? 'admitted' : 'unexpected';
        pending.push({ what: attempt.what, keys, verdict, how: verdict === 'refused' ? '413' : `${answer.status}, documented 413` });
      } catch (error) {
        pending.push({ what: attempt.what, keys, verdict: 'unexpected', how: `no answer: ${errorMessage(error)}` });
      }
    }
    await settleAgainstKafka(context, tally, pending, [await httpControl(context)]);
  },
};

/** Valid readings (each of its own device, so that no rate limit answers first) until the body is `bytes` long. */
function oversized(context: RunContext, bytes: number, ndjson: boolean): { body: string; keys: string[] } {
  const tenant = context.runBridge.tenants.x;
  const items: string[] = [];
  const keys: string[] = [];
  let length = 2;
  for (;;) {
    const id = context.id('big');
    const device = `big-${keys.length}`;
    const item = JSON.stringify({ device, id, ts: Date.now(), metrics: { v: 1 } });
    if (length + item.length + 1 > bytes) break;
    items.push(item);
    keys.push(readingKey(tenant, device, id));
    length += item.length + 1;
  }
  const body = ndjson ? `${items.join('\n')}\n` : `[${items.join(',')}]`;
  // Exactly `bytes`: padding is whitespace, which JSON and NDJSON both allow.
  return { body: body.length < bytes ? `${body}${' '.repeat(bytes - body.length)}` : body, keys };
}

/** The body in 4 KiB pieces, sent without a Content-Length. */
function chunksOf(text: string): Buffer[] {
  const bytes = Buffer.from(text);
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 4096) chunks.push(bytes.subarray(at, at + 4096));
  return chunks;
}
