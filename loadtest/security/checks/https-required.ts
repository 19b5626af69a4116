import { errorMessage } from '../../../src/core/errors.ts';
import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { httpControl, settleAgainstKafka } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { sendRequest } from '../transport.ts';

/**
 * HTTP intake where HTTPS is required (edge.tls.mode 'required'): a plain HTTP request with a valid
 * gateway key on the HTTPS port is closed during the handshake — no HTTP answer at all — and
 * nothing of it is written.
 */
export const httpsRequired: SecurityCheck = {
  name: 'https-required',
  requires: ['http-intake', 'https'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const plainUrl = bridge.httpUrl.replace(/^https:/, 'http:');
    const pending = [];
    for (const path of ['/v1/readings', '/v1/readings?tenant=' + bridge.tenants.x]) {
      const id = context.id('plain');
      const keys = [readingKey(bridge.tenants.x, 'plain', id)];
      const what = `plain HTTP POST ${path} with a valid key`;
      try {
        const reply = await sendRequest(`${plainUrl}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bridge.keys.x.key}`, 'content-type': 'application/json' },
          body: JSON.stringify([{ device: 'plain', id, ts: Date.now(), metrics: { v: 1 } }]),
          timeoutMs: 5000,
        });
        context.answered(`plain HTTP ${reply.status}`, reply.text);
        pending.push({ what, keys, verdict: reply.status >= 200 && reply.status < 300 ? ('admitted' as const) : ('unexpected' as const), how: `answered ${reply.status} over plain HTTP (documented: closed during the handshake)` });
      } catch (error) {
        pending.push({ what, keys, verdict: 'refused' as const, how: `closed without an HTTP answer (${errorMessage(error).slice(0, 40)})` });
      }
    }
    await settleAgainstKafka(context, tally, pending, [await httpControl(context)]);
  },
};
