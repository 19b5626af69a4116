import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { httpControl, settleAgainstKafka, type PendingAttempt } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { bearer, postReadings, type HttpAnswer } from '../http-client.ts';

/**
 * HTTP intake, who may write: no key, a wrong key, near misses of a real key, a key where a bearer
 * token does not belong (Basic, the query string) — 401 with `WWW-Authenticate: Bearer`; and a
 * valid key of tenant X naming tenant Y anywhere (query, X-Tenant, an item, the envelope, one item
 * of an otherwise valid batch, an NDJSON line) — 403, and nothing of the request written.
 */
export const httpAuth: SecurityCheck = {
  name: 'http-auth',
  requires: ['http-intake'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const { x, y } = bridge.keys;
    const { tenants } = bridge;
    const pending: PendingAttempt[] = [];
    const item = (tenant?: string): { body: Record<string, unknown>; keys: string[] } => {
      const id = context.id('http-auth');
      return { body: { ...(tenant === undefined ? {} : { tenant }), device: 'intruder', id, ts: Date.now(), metrics: { v: 1 } }, keys: [readingKey(tenants.x, 'intruder', id), readingKey(tenants.y, 'intruder', id)] };
    };
    const judge = (what: string, expected: 401 | 403, keys: string[], answer: HttpAnswer): PendingAttempt => {
      if (answer.status >= 200 && answer.status < 300) return { what, keys, verdict: 'admitted', how: `${answer.status} ${answer.text.slice(0, 120)}` };
      if (answer.status !== expected) return { what, keys, verdict: 'unexpected', how: `${answer.status}, documented ${expected}` };
      if (expected === 401 && !/^Bearer\b/.test(answer.wwwAuthenticate ?? '')) return { what, keys, verdict: 'unexpected', how: `401 without WWW-Authenticate: Bearer (${answer.wwwAuthenticate})` };
      return { what, keys, verdict: 'refused', how: String(expected) };
    };

    const upperCased = x.key.toUpperCase() === x.key ? x.key.toLowerCase() : x.key.toUpperCase();
    context.addSecret('gateway key x, case changed', upperCased);
    context.addSecret('gateway key x without its last character', x.key.slice(0, -1));
    const basic = `Basic ${Buffer.from(`${x.gateway}:${x.key}`).toString('base64')}`;
    context.addSecret('gateway key x as Basic credentials', basic.slice(6));
    const unauthenticated: { what: string; headers: Record<string, string>; query?: string }[] = [
      { what: 'no Authorization header', headers: {} },
      { what: 'empty bearer token', headers: { authorization: 'Bearer ' } },
      { what: 'unknown key', headers: bearer(context.wrongSecret('unknown gateway key')) },
      { what: 'real key with one character more', headers: bearer(`${x.key}x`) },
      { what: 'real key, case changed', headers: bearer(upperCased) },
      { what: 'real key without its last character', headers: bearer(x.key.slice(0, -1)) },
      { what: 'real key as Basic credentials', headers: { authorization: basic } },
      { what: 'real key in the query string', headers: {}, query: `?access_token=${encodeURIComponent(x.key)}` },
      { what: 'real key as a bare Authorization value', headers: { authorization: x.key } },
    ];
    for (const attempt of unauthenticated) {
      const reading = item();
      pending.push(judge(attempt.what, 401, reading.keys, await postReadings(context, { headers: attempt.headers, body: JSON.stringify([reading.body]), ...(attempt.query === undefined ? {} : { query: attempt.query }) })));
    }

    const foreign: { what: string; key: string; build: () => { body: string; keys: string[]; headers?: Record<string, string>; query?: string } }[] = [
      { what: 'tenant X key, ?tenant=Y', key: x.key, build: () => ({ ...one(item()), query: `?tenant=${tenants.y}` }) },
      { what: 'tenant X key, X-Tenant: Y', key: x.key, build: () => ({ ...one(item()), headers: { 'x-tenant': tenants.y } }) },
      { what: 'tenant X key, an item naming tenant Y', key: x.key, build: () => one(item(tenants.y)) },
      {
        what: 'tenant X key, envelope naming tenant Y',
        key: x.key,
        build: () => {
          const reading = item();
          return { body: JSON.stringify({ tenant: tenants.y, readings: [reading.body] }), keys: reading.keys };
        },
      },
      {
        what: 'tenant X key, a valid batch with one item of tenant Y (nothing of it may be written)',
        key: x.key,
        build: () => {
          const own = item();
          const other = item(tenants.y);
          const more = item(tenants.x);
          return { body: JSON.stringify([own.body, other.body, more.body]), keys: [...own.keys, ...other.keys, ...more.keys] };
        },
      },
      {
        what: 'tenant X key, NDJSON with a line of tenant Y',
        key: x.key,
        build: () => {
          const own = item();
          const other = item(tenants.y);
          return { body: `${JSON.stringify(own.body)}\n${JSON.stringify(other.body)}\n`, keys: [...own.keys, ...other.keys], headers: { 'content-type': 'application/x-ndjson' } };
        },
      },
      { what: 'tenant Y key, an item naming tenant X', key: y.key, build: () => one(item(tenants.x)) },
    ];
    for (const attempt of foreign) {
      const request = attempt.build();
      const answer = await postReadings(context, { headers: { ...bearer(attempt.key), ...request.headers }, body: request.body, ...(request.query === undefined ? {} : { query: request.query }) });
      pending.push(judge(attempt.what, 403, request.keys, answer));
    }
    await settleAgainstKafka(context, tally, pending, [await httpControl(context)]);
  },
};

function one(reading: { body: Record<string, unknown>; keys: string[] }): { body: string; keys: string[] } {
  return { body: JSON.stringify([reading.body]), keys: reading.keys };
}
