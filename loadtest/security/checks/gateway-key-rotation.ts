import { readFileSync, writeFileSync } from 'node:fs';
import { gatewayKeyLine, generateGatewayKey } from '../../../src/util/gateway-keys.ts';
import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { httpControl, settleAgainstKafka, type PendingAttempt } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { bearer, postReadings, type HttpAnswer } from '../http-client.ts';

/**
 * Hashed gateway keys (edge.hashedGatewayKeysFile) and their rotation: the old key of a rotation
 * (past its not-after time) and a key whose line was replaced by its successor's are 401 with
 * `WWW-Authenticate: Bearer`; so is the successor's key id with the old key's secret. A key scoped
 * to a device prefix writing another device is 403, and nothing of that request is written.
 */
const RELOAD_WAIT_MS = 15_000;

export const gatewayKeyRotation: SecurityCheck = {
  name: 'gateway-key-rotation',
  requires: ['http-intake', 'gateway-key-rotation'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const { expired, successor, scoped, file } = bridge.hashedKeys;
    const tenant = bridge.tenants.x;
    const pending: PendingAttempt[] = [];
    const post = async (what: string, key: string, devices: readonly string[], expected: 401 | 403): Promise<void> => {
      const items = devices.map((device) => ({ device, id: context.id('rotation'), ts: Date.now(), metrics: { v: 1 } }));
      const answer = await postReadings(context, { headers: bearer(key), body: JSON.stringify(items) });
      pending.push(judge(what, items.map((item) => readingKey(tenant, item.device, item.id)), answer, expected));
    };

    await post('the old key of a rotation, past its not-after time', expired.key, ['rotated'], 401);
    const spliced = `${successor.key.slice(0, 17)}${expired.key.slice(17)}`;
    context.addSecret("the successor's key id with the old key's secret", spliced);
    await post("the successor's key id with the old key's secret", spliced, ['rotated'], 401);
    await post(`a key scoped to devices '${scoped.devicePrefix}…' writing another device`, scoped.key, ['other'], 403);
    await post(`a key scoped to devices '${scoped.devicePrefix}…': one reading of its own, one of another device`, scoped.key, [`${scoped.devicePrefix}1`, 'other'], 403);

    // Rotation by replacement: the successor's line gives way to a new key's; once the new key works, the replaced one must not.
    const successorWorks = await postReadings(context, { headers: bearer(successor.key), body: JSON.stringify([{ device: 'rotated', id: context.id('rotation'), ts: Date.now(), metrics: { v: 1 } }]) });
    if (successorWorks.status !== 202) throw new Error(`the successor key was answered ${successorWorks.status} before its rotation: ${successorWorks.text.slice(0, 200)}`);
    const next = generateGatewayKey().key;
    context.addSecret('the key rotated in by the check', next);
    writeFileSync(file, readFileSync(file, 'utf8').replace(successor.line, gatewayKeyLine({ gateway: successor.gateway, tenant, devicePrefix: '', notAfter: null }, next)));
    const deadline = Date.now() + RELOAD_WAIT_MS;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await postReadings(context, { headers: bearer(next), body: JSON.stringify([{ device: 'rotated', id: context.id('rotation'), ts: Date.now(), metrics: { v: 1 } }]) })).status;
      if (status === 202) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (status !== 202) throw new Error(`the key written into ${file} was not accepted within ${RELOAD_WAIT_MS} ms (last answer ${status})`);
    await post('a key whose line was replaced by its successor’s (replayed after the rotation)', successor.key, ['rotated'], 401);
    await settleAgainstKafka(context, tally, pending, [await httpControl(context)]);
  },
};

function judge(what: string, keys: string[], answer: HttpAnswer, expected: 401 | 403): PendingAttempt {
  if (answer.status >= 200 && answer.status < 300) return { what, keys, verdict: 'admitted', how: `${answer.status} ${answer.text.slice(0, 120)}` };
  if (answer.status !== expected) return { what, keys, verdict: 'unexpected', how: `${answer.status}, documented ${expected}` };
  if (expected === 401 && !/^Bearer\b/.test(answer.wwwAuthenticate ?? '')) return { what, keys, verdict: 'unexpected', how: `401 without WWW-Authenticate: Bearer (${answer.wwwAuthenticate})` };
  return { what, keys, verdict: 'refused', how: String(expected) };
}
