import type { SecurityCheck, Tally } from '../check.ts';
import { readingPayload, type RunContext } from '../context.ts';
import { mqttControl, settleAgainstKafka, type PendingAttempt } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { CODE, RawMqtt, hex, publishPacket } from '../raw-mqtt.ts';

/**
 * Direct MQTT, a flood over mqtt.listen.maxMessagesPerSecondPerClient: FLOOD messages of QoS 1 in
 * one write. The bucket holds one second's worth, so the first `rate` pass (plus what refills while
 * the burst is read) and the rest are refused — MQTT 5: PUBACK 0x97 and not written; MQTT 3.1.1:
 * the connection is closed and nothing past the limit written.
 */
const FLOOD = 100;

export const mqttDirectRate: SecurityCheck = {
  name: 'mqtt-direct-rate-limit',
  requires: ['direct-mqtt'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const rate = bridge.listen.maxMessagesPerSecondPerClient;
    if (rate === 0) throw new Error('mqtt.listen.maxMessagesPerSecondPerClient is 0 (no limit) in the run\'s configuration');
    tally.note(`limit: ${rate} messages/s per connection; ${FLOOD} QoS 1 messages sent in one write, MQTT 5 and 3.1.1`);
    const pending = [...(await flood(context, tally, 5)), ...(await flood(context, tally, 4))];
    await settleAgainstKafka(context, tally, pending, [await mqttControl(context, bridge.accounts.deviceA)]);
  },
};

async function flood(context: RunContext, tally: Tally, version: 4 | 5): Promise<PendingAttempt[]> {
  const bridge = context.runBridge;
  const account = bridge.accounts.deviceB;
  const rate = bridge.listen.maxMessagesPerSecondPerClient;
  const client = await RawMqtt.open(bridge.host, bridge.mqttPort, version, bridge.tls);
  const label = version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
  try {
    const connack = await client.connect({ clientId: context.id('flood'), username: account.username, password: account.password });
    if (connack !== CODE.success) throw new Error(`${account.username} could not connect: CONNACK ${hex(connack)}`);
    const ids = Array.from({ length: FLOOD }, () => context.id('flood'));
    const topic = `${bridge.config.mqtt.topicPrefix}/${account.tenant}/${account.device}`;
    const sent = Date.now();
    client.sendAll(ids.map((id, index) => publishPacket(topic, readingPayload(id), index + 1)));
    const codes = await Promise.all(ids.map((_, index) => client.pubackCode(index + 1, 15_000)));
    // Tokens refilled while the burst was read and answered: a generous upper bound on what may pass beyond the bucket.
    const refill = Math.ceil(((Date.now() - sent) / 1000) * rate);
    const budget = rate + refill;
    const accepted = codes.filter((code) => code === CODE.success).length;
    const keyOf = (index: number): string => readingKey(account.tenant, account.device, ids[index]!);
    const pending: PendingAttempt[] = [];
    if (version === 5) {
      codes.forEach((code, index) => {
        if (code === CODE.quotaExceeded) pending.push({ what: `${label} flood message ${index + 1}`, keys: [keyOf(index)], verdict: 'refused', how: 'PUBACK 0x97' });
      });
      const unanswered = codes.filter((code) => code === undefined).length;
      if (unanswered > 0) tally.record('unexpected', `${label} flood`, `${unanswered} messages never answered`);
    } else {
      const closed = await client.closedWithin(5000);
      // 3.1.1: past the limit the connection is closed; whatever it did not acknowledge must not be in Kafka either.
      codes.forEach((code, index) => {
        // The first `budget` may have been written and not acknowledged when the connection closed: legitimate either way.
        if (code === undefined && index >= budget) pending.push({ what: `${label} flood message ${index + 1}`, keys: [keyOf(index)], verdict: closed === undefined ? 'unexpected' : 'refused', how: closed === undefined ? 'not acknowledged, but the connection stayed open' : 'connection closed, not acknowledged' });
      });
    }
    if (accepted > budget) tally.record('admitted', `${label} flood`, `${accepted} of ${FLOOD} acknowledged as written, over the limit's ${budget} (bucket ${rate} + ${refill} refilled)`);
    if (pending.length === 0) tally.record('admitted', `${label} flood`, `no message refused (${accepted} acknowledged)`);
    tally.note(`${label}: ${accepted} acknowledged, ${pending.length} refused`);
    return pending;
  } finally {
    client.destroy();
  }
}
