import type { SecurityCheck, Tally } from '../check.ts';
import { readingPayload, type RunContext } from '../context.ts';
import { mqttControl, settleAgainstKafka, type PendingAttempt } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { CODE, RawMqtt, hex, publishPacket } from '../raw-mqtt.ts';

/**
 * Direct MQTT, authentication: a wrong password, an unknown user, another account's password, no
 * credentials, and a PUBLISH before any CONNECT. Each CONNECT carries a PUBLISH right behind it in
 * the same write (what a client that does not wait for its CONNACK sends): the bridge must answer
 * CONNACK 0x86 (MQTT 3.1.1: return code 4), close, and write nothing of that PUBLISH.
 */
export const mqttDirectAuth: SecurityCheck = {
  name: 'mqtt-direct-auth',
  requires: ['direct-mqtt'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const { accounts } = context.runBridge;
    const a = accounts.deviceA;
    const cases: { what: string; version: 4 | 5; username?: string; password?: string }[] = [
      { what: 'MQTT 5, wrong password', version: 5, username: a.username, password: context.wrongSecret(`wrong password for ${a.username}`) },
      { what: 'MQTT 3.1.1, wrong password', version: 4, username: a.username, password: context.wrongSecret(`wrong password for ${a.username}`) },
      { what: 'MQTT 5, unknown user', version: 5, username: `nobody-${context.runId}`, password: context.wrongSecret('password of an unknown user') },
      { what: 'MQTT 3.1.1, unknown user', version: 4, username: `nobody-${context.runId}`, password: context.wrongSecret('password of an unknown user') },
      { what: "MQTT 5, another account's password", version: 5, username: a.username, password: accounts.deviceB.password },
      { what: 'MQTT 5, empty password', version: 5, username: a.username, password: '' },
      { what: 'MQTT 5, no credentials', version: 5 },
      { what: 'MQTT 3.1.1, no credentials', version: 4 },
    ];
    const pending: PendingAttempt[] = await Promise.all(cases.map((attempt) => badConnect(context, attempt, a.tenant, a.device)));
    pending.push(await publishWithoutConnect(context, a.tenant, a.device));
    await settleAgainstKafka(context, tally, pending, [await mqttControl(context, a)]);
  },
};

async function badConnect(context: RunContext, attempt: { what: string; version: 4 | 5; username?: string; password?: string }, tenant: string, device: string): Promise<PendingAttempt> {
  const bridge = context.runBridge;
  const expected = attempt.version === 5 ? CODE.badUsernameOrPassword : CODE.v4BadCredentials;
  const id = context.id('bad-connect');
  const client = await RawMqtt.open(bridge.host, bridge.mqttPort, attempt.version, bridge.tls);
  try {
    client.sendAll([
      {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: attempt.version,
        clean: true,
        clientId: context.id('intruder'),
        keepalive: 30,
        ...(attempt.username === undefined ? {} : { username: attempt.username }),
        ...(attempt.password === undefined ? {} : { password: Buffer.from(attempt.password) }),
      },
      publishPacket(`${bridge.config.mqtt.topicPrefix}/${tenant}/${device}`, readingPayload(id), 1),
    ]);
    const connack = await client.next((packet): packet is { cmd: 'connack'; reasonCode?: number; returnCode?: number } & typeof packet => packet.cmd === 'connack', 10_000);
    const code = connack === undefined ? undefined : attempt.version === 5 ? (connack.reasonCode ?? 0) : (connack.returnCode ?? 0);
    const closedAfter = await client.closedWithin(3000);
    const puback = client.packets.find((packet) => packet.cmd === 'puback');
    const keys = [readingKey(tenant, device, id)];
    if (code === CODE.success || puback !== undefined) return { what: attempt.what, keys, verdict: 'admitted', how: `CONNACK ${hex(code)}${puback ? ', and its PUBLISH was acknowledged' : ''}` };
    if (code !== expected) return { what: attempt.what, keys, verdict: 'unexpected', how: `CONNACK ${hex(code)}, documented ${hex(expected)}` };
    if (closedAfter === undefined) return { what: attempt.what, keys, verdict: 'unexpected', how: `CONNACK ${hex(code)}, but the connection stayed open 3 s after it` };
    return { what: attempt.what, keys, verdict: 'refused', how: `CONNACK ${hex(code)} and closed` };
  } finally {
    client.destroy();
  }
}

/** MQTT requires CONNECT first (MQTT 5 §3.1): a PUBLISH on a fresh connection closes it, unread. */
async function publishWithoutConnect(context: RunContext, tenant: string, device: string): Promise<PendingAttempt> {
  const bridge = context.runBridge;
  const id = context.id('no-connect');
  const client = await RawMqtt.open(bridge.host, bridge.mqttPort, 4, bridge.tls);
  try {
    client.send(publishPacket(`${bridge.config.mqtt.topicPrefix}/${tenant}/${device}`, readingPayload(id), 1));
    const closedAfter = await client.closedWithin(3000);
    const what = 'PUBLISH before CONNECT';
    const keys = [readingKey(tenant, device, id)];
    if (client.packets.some((packet) => packet.cmd === 'puback')) return { what, keys, verdict: 'admitted', how: 'acknowledged' };
    if (closedAfter === undefined) return { what, keys, verdict: 'unexpected', how: 'connection still open after 3 s' };
    return { what, keys, verdict: 'refused', how: 'connection closed, no answer' };
  } finally {
    client.destroy();
  }
}
