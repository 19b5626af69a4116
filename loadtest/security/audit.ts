import type { Account } from './bridge.ts';
import type { Tally, Verdict } from './check.ts';
import { readingPayload, type RunContext } from './context.ts';
import { readingKey } from './kafka-audit.ts';
import { bearer, postReadings } from './http-client.ts';
import { CODE, RawMqtt, hex } from './raw-mqtt.ts';

/**
 * Attempts that carried readings are settled against Kafka: an attempt refused at the door is
 * still "admitted" when any of its readings is in the readings topic. The proof that the topic was
 * read late enough is a control reading sent after the attempts by a legitimate client and
 * acknowledged by the bridge (PUBACK after Kafka's ack; HTTP 202 after it): the run's topic has one
 * partition, so what was produced before the control is in the topic once the control is.
 */
export interface PendingAttempt {
  readonly what: string;
  /** `tenant/device/id` of the readings the attempt carried. */
  readonly keys: readonly string[];
  /** The verdict from the answer alone (before the audit). */
  readonly verdict: Verdict;
  readonly how: string;
}

export async function settleAgainstKafka(context: RunContext, tally: Tally, attempts: readonly PendingAttempt[], controls: readonly string[]): Promise<void> {
  const found = await context.readings();
  const absentControls = controls.filter((key) => !found.has(key));
  for (const attempt of attempts) {
    const written = attempt.keys.filter((key) => found.has(key));
    if (written.length > 0) tally.record('admitted', attempt.what, `${attempt.how}, yet ${written.length} of its readings are in Kafka (${written[0]})`);
    else if (absentControls.length > 0 && attempt.verdict === 'refused') tally.record('unexpected', attempt.what, `${attempt.how}, but the acknowledged control reading ${absentControls[0]} is not in Kafka: nothing can be concluded`);
    else tally.record(attempt.verdict, attempt.what, attempt.how);
  }
  tally.note(`audit: ${attempts.reduce((sum, attempt) => sum + attempt.keys.length, 0)} attempted readings looked for in ${context.runBridge.readingsTopic} after ${controls.length} control reading(s) were acknowledged`);
}

/** A legitimate reading of `account` over MQTT, acknowledged (PUBACK 0x00 after Kafka's ack); its key. */
export async function mqttControl(context: RunContext, account: Account): Promise<string> {
  const bridge = context.runBridge;
  const client = await RawMqtt.open(bridge.host, bridge.mqttPort, 5, bridge.tls);
  try {
    const connack = await client.connect({ clientId: context.id('control'), username: account.username, password: account.password });
    if (connack !== CODE.success) throw new Error(`the control account ${account.username} was refused: CONNACK ${hex(connack)}`);
    const id = context.id('control');
    const code = await client.publish(`${bridge.config.mqtt.topicPrefix}/${account.tenant}/${account.device}`, readingPayload(id), 1);
    if (code !== CODE.success) throw new Error(`the control reading was not acknowledged: PUBACK ${hex(code)}`);
    return readingKey(account.tenant, account.device, id);
  } finally {
    client.destroy();
  }
}

/** A legitimate reading posted with the run's tenant-X gateway key, answered 202; its key. */
export async function httpControl(context: RunContext): Promise<string> {
  const bridge = context.runBridge;
  const id = context.id('control');
  const device = 'control';
  const answer = await postReadings(context, { headers: bearer(bridge.keys.x.key), body: JSON.stringify([{ device, id, ts: Date.now(), metrics: { v: 1 } }]) });
  if (answer.status !== 202) throw new Error(`the control request was answered ${answer.status}: ${answer.text.slice(0, 200)}`);
  return readingKey(bridge.tenants.x, device, id);
}
