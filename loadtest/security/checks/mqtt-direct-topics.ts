import type { Account } from '../bridge.ts';
import type { SecurityCheck, Tally } from '../check.ts';
import { readingPayload, type RunContext } from '../context.ts';
import { mqttControl, settleAgainstKafka, type PendingAttempt } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { CODE, RawMqtt, hex } from '../raw-mqtt.ts';

/**
 * Direct MQTT, authorisation of what a connected account publishes: device A on device B's topic,
 * a device or a gateway account on another tenant's topic, and the same through the payload (a
 * `device` or `tenant` field naming someone else on the account's own topic). MQTT 5: PUBACK 0x87
 * for the topic, 0x99 for the payload (no valid reading); MQTT 3.1.1 has no reason codes (a plain
 * PUBACK, the refusal in the dead-letter topic). Either way nothing may reach the readings topic.
 */
export const mqttDirectTopics: SecurityCheck = {
  name: 'mqtt-direct-impersonation',
  requires: ['direct-mqtt'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const { accounts, tenants } = context.runBridge;
    const { deviceA: a, deviceB: b, gatewayX: gateway, deviceY: y } = accounts;
    const pending: PendingAttempt[] = [];
    for (const version of [5, 4] as const) {
      const v = version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
      const topicCode = version === 5 ? CODE.notAuthorized : CODE.success;
      const payloadCode = version === 5 ? 0x99 : CODE.success;
      pending.push(
        ...(await attempts(context, a, version, [
          { what: `${v}: device A publishing as device B`, tenant: a.tenant, device: b.device, expected: topicCode },
          { what: `${v}: device A publishing under another tenant`, tenant: tenants.y, device: a.device, expected: topicCode },
          { what: `${v}: device A publishing as tenant Y's device`, tenant: tenants.y, device: y.device, expected: topicCode },
          { what: `${v}: device A's topic, payload naming device B`, tenant: a.tenant, device: a.device, extra: { device: b.device }, also: readingKey(a.tenant, b.device, ''), expected: payloadCode },
          { what: `${v}: device A's topic, payload naming tenant Y`, tenant: a.tenant, device: a.device, extra: { tenant: tenants.y }, also: readingKey(tenants.y, a.device, ''), expected: payloadCode },
        ])),
        ...(await attempts(context, gateway, version, [{ what: `${v}: gateway account of tenant X publishing under tenant Y`, tenant: tenants.y, device: 'dev-any', expected: topicCode }])),
        ...(await attempts(context, y, version, [{ what: `${v}: device of tenant Y publishing as tenant X's device A`, tenant: a.tenant, device: a.device, expected: topicCode }])),
      );
    }
    await settleAgainstKafka(context, tally, pending, [await mqttControl(context, b), await mqttControl(context, a)]);
  },
};

interface Attempt {
  readonly what: string;
  readonly tenant: string;
  readonly device: string;
  readonly expected: number;
  readonly extra?: Record<string, unknown>;
  /** Another key prefix the reading would be written under if the payload's claim were believed (the id is appended). */
  readonly also?: string;
}

async function attempts(context: RunContext, account: Account, version: 4 | 5, list: readonly Attempt[]): Promise<PendingAttempt[]> {
  const bridge = context.runBridge;
  const client = await RawMqtt.open(bridge.host, bridge.mqttPort, version, bridge.tls);
  try {
    const connack = await client.connect({ clientId: context.id('impersonator'), username: account.username, password: account.password });
    if (connack !== CODE.success) throw new Error(`${account.username} could not connect: CONNACK ${hex(connack)}`);
    const pending: PendingAttempt[] = [];
    let messageId = 0;
    for (const attempt of list) {
      const id = context.id('impersonation');
      const keys = [readingKey(attempt.tenant, attempt.device, id), ...(attempt.also === undefined ? [] : [`${attempt.also}${id}`])];
      const code = await client.publish(`${bridge.config.mqtt.topicPrefix}/${attempt.tenant}/${attempt.device}`, readingPayload(id, attempt.extra), ++messageId);
      if (code === attempt.expected) {
        pending.push({ what: attempt.what, keys, verdict: 'refused', how: version === 5 ? `PUBACK ${hex(code)}` : 'plain PUBACK (MQTT 3.1.1 has no reason codes)' });
      } else {
        const verdict = code === CODE.success ? 'admitted' : 'unexpected';
        pending.push({ what: attempt.what, keys, verdict, how: `PUBACK ${hex(code)}, documented ${hex(attempt.expected)}` });
      }
    }
    return pending;
  } finally {
    client.destroy();
  }
}
