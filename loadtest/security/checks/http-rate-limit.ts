import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { httpControl, settleAgainstKafka, type PendingAttempt } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { bearer, postReadings, type HttpAnswer } from '../http-client.ts';

/**
 * HTTP intake, edge.httpLimits rate limits: per device (readings per second, deviceBurst) and per
 * gateway key (requests per second, gatewayBurst). A request over either gets 429 with a
 * Retry-After of whole seconds, and nothing of it is written — not even the readings of other
 * devices in the same request. Requests the refill since the start allows are not counted as
 * attempts (the bucket refills at its rate while the flood runs).
 */
const GATEWAY_FLOOD = 40;

export const httpRateLimit: SecurityCheck = {
  name: 'http-rate-limit',
  requires: ['http-intake'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const limits = bridge.httpLimits;
    tally.note(`limits: ${limits.deviceReadingsPerSecond} readings/s per device (burst ${limits.deviceBurst}), ${limits.gatewayRequestsPerSecond} requests/s per gateway key (burst ${limits.gatewayBurst})`);
    const pending = [...(await deviceFlood(context, tally)), ...(await gatewayFlood(context, tally))];
    await settleAgainstKafka(context, tally, pending, [await httpControl(context)]);
  },
};

function readings(context: RunContext, devices: readonly string[]): { body: string; keys: string[] } {
  const tenant = context.runBridge.tenants.x;
  const items = devices.map((device) => ({ device, id: context.id('rate'), ts: Date.now(), metrics: { v: 1 } }));
  return { body: JSON.stringify(items), keys: items.map((item) => readingKey(tenant, item.device, item.id)) };
}

function judge429(what: string, keys: string[], answer: HttpAnswer, cost: number, refilled: number): PendingAttempt | string {
  if (answer.status === 429) {
    if (!/^[1-9][0-9]*$/.test(answer.retryAfter ?? '')) return { what, keys, verdict: 'unexpected', how: `429 with Retry-After ${JSON.stringify(answer.retryAfter)}, documented whole seconds` };
    return { what, keys, verdict: 'refused', how: '429 with Retry-After' };
  }
  if (answer.status === 202 && cost <= refilled) return `${what}: 202, within the ${refilled.toFixed(1)} tokens refilled since the burst`;
  return { what, keys, verdict: answer.status === 202 ? 'admitted' : 'unexpected', how: `${answer.status}, documented 429` };
}

async function deviceFlood(context: RunContext, tally: Tally): Promise<PendingAttempt[]> {
  const bridge = context.runBridge;
  const { deviceReadingsPerSecond: rate, deviceBurst: burst } = bridge.httpLimits;
  const headers = bearer(bridge.keys.deviceFlood.key);
  const device = 'flooded';
  const started = Date.now();
  const first = await postReadings(context, { headers, body: readings(context, Array.from({ length: burst }, () => device)).body });
  if (first.status !== 202) throw new Error(`the device's first ${burst} readings (its burst) were answered ${first.status}: ${first.text.slice(0, 200)}`);
  const pending: PendingAttempt[] = [];
  const attempts: { what: string; devices: string[] }[] = [
    { what: 'two readings of the flooded device with one of another device', devices: [device, device, 'innocent'] },
    ...Array.from({ length: 5 }, (_, index) => ({ what: `${rate} more readings of the flooded device (${index + 1} of 5)`, devices: Array.from({ length: rate }, () => device) })),
  ];
  for (const attempt of attempts) {
    const request = readings(context, attempt.devices);
    const answer = await postReadings(context, { headers, body: request.body });
    const cost = attempt.devices.filter((name) => name === device).length;
    const outcome = judge429(`device flood: ${attempt.what}`, request.keys, answer, cost, ((Date.now() - started) / 1000) * rate);
    if (typeof outcome === 'string') tally.note(outcome);
    else pending.push(outcome);
  }
  return pending;
}

async function gatewayFlood(context: RunContext, tally: Tally): Promise<PendingAttempt[]> {
  const bridge = context.runBridge;
  const { gatewayRequestsPerSecond: rate, gatewayBurst: burst } = bridge.httpLimits;
  const headers = bearer(bridge.keys.gatewayFlood.key);
  const started = Date.now();
  const requests = Array.from({ length: GATEWAY_FLOOD }, (_, index) => readings(context, [`gw-flood-${index}`]));
  const answers = await Promise.all(requests.map((request) => postReadings(context, { headers, body: request.body })));
  const refilled = ((Date.now() - started) / 1000) * rate;
  const accepted = answers.filter((answer) => answer.status === 202).length;
  const pending: PendingAttempt[] = [];
  answers.forEach((answer, index) => {
    if (answer.status === 202) return;
    const outcome = judge429(`gateway flood request ${index + 1}`, requests[index]!.keys, answer, Number.POSITIVE_INFINITY, 0);
    if (typeof outcome !== 'string') pending.push(outcome);
  });
  const allowed = burst + Math.ceil(refilled);
  if (accepted > allowed) tally.record('admitted', 'gateway flood', `${accepted} of ${GATEWAY_FLOOD} requests accepted, over the ${allowed} the bucket allows (burst ${burst} + ${refilled.toFixed(1)} refilled)`);
  if (pending.length === 0) tally.record('admitted', 'gateway flood', `no request of ${GATEWAY_FLOOD} refused`);
  tally.note(`gateway flood: ${accepted} of ${GATEWAY_FLOOD} accepted, ${pending.length} refused`);
  return pending;
}
