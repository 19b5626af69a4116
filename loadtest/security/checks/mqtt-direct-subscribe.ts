import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { mqttControl } from '../audit.ts';
import { CODE, RawMqtt, hex } from '../raw-mqtt.ts';

/**
 * Direct MQTT: the endpoint takes telemetry in and hands none out, so every SUBSCRIBE of a device
 * or gateway account is refused — MQTT 5: 0x87 per filter, 0x9E for a `$share/…` filter; MQTT
 * 3.1.1: 0x80 — and, once other accounts' readings were acknowledged, none was delivered to it.
 */
export const mqttDirectSubscribe: SecurityCheck = {
  name: 'mqtt-direct-subscribe',
  requires: ['direct-mqtt'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const { deviceA, deviceB, gatewayX } = bridge.accounts;
    const prefix = bridge.config.mqtt.topicPrefix;
    const filters = ['#', `${prefix}/#`, `${prefix}/+/+`, `${prefix}/${deviceB.tenant}/${deviceB.device}`, `${prefix}/${deviceA.tenant}/${deviceA.device}`, '$SYS/#', `$share/${bridge.config.mqtt.shareGroup}/${prefix}/+/+`, `$share/${context.runId}/#`];
    const intruders: { client: RawMqtt; label: string }[] = [];
    try {
      for (const [account, version] of [[deviceA, 5], [gatewayX, 5], [deviceA, 4]] as const) {
        const label = `${account.username} (MQTT ${version === 5 ? '5' : '3.1.1'})`;
        const client = await RawMqtt.open(bridge.host, bridge.mqttPort, version, bridge.tls);
        intruders.push({ client, label });
        const connack = await client.connect({ clientId: context.id('subscriber'), username: account.username, password: account.password });
        if (connack !== CODE.success) throw new Error(`${label} could not connect: CONNACK ${hex(connack)}`);
        let messageId = 0;
        // One filter per SUBSCRIBE, and all of them in one SUBSCRIBE too (codes per filter, in order).
        const answers: { filter: string; code: number | undefined }[] = [];
        for (const filter of filters) answers.push({ filter, code: (await client.subscribe([filter], ++messageId))?.[0] });
        const together = await client.subscribe(filters, ++messageId);
        filters.forEach((filter, index) => answers.push({ filter: `${filter} (in one SUBSCRIBE of ${filters.length})`, code: together?.[index] }));
        for (const { filter, code } of answers) {
          const expected = version === 4 ? CODE.v4SubscribeFailure : filter.startsWith('$share/') ? CODE.sharedSubscriptionsNotSupported : CODE.notAuthorized;
          const what = `${label} SUBSCRIBE ${filter}`;
          if (code === expected) tally.record('refused', what, `SUBACK ${hex(code)}`);
          else if (code !== undefined && code < 0x80) tally.record('admitted', what, `SUBACK ${hex(code)}: granted`);
          else tally.record('unexpected', what, `SUBACK ${hex(code)}, documented ${hex(expected)}`);
        }
      }
      // Readings of other accounts, acknowledged after every SUBSCRIBE was answered: none may reach an intruder.
      await mqttControl(context, deviceB);
      await mqttControl(context, deviceA);
      for (const { client, label } of intruders) {
        const delivered = client.deliveries();
        if (delivered.length > 0) tally.record('admitted', `${label}: deliveries`, `${delivered.length} message(s) delivered, first on ${delivered[0]!.topic}`);
        else tally.note(`${label}: no message delivered after two acknowledged readings`);
      }
    } finally {
      for (const { client } of intruders) client.destroy();
    }
  },
};
