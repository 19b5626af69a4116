import type { IPublishPacket } from 'mqtt-packet';
import { LOCAL_MQTT_USERS } from '../../../src/stack/mosquitto.ts';
import type { SecurityCheck, Tally } from '../check.ts';
import { readingPayload, type RunContext } from '../context.ts';
import { CODE, RawMqtt, hex, publishPacket } from '../raw-mqtt.ts';

/**
 * Broker mode, the local stack's Mosquitto (dynamic-security plugin): no account but the bridge's
 * may subscribe. A device that joined the bridges' `$share` group would be handed its share of
 * every device's messages. Every device, fleet and probe account tries `$share/<group>/telemetry/+/+`
 * (the stack's group and the run's), `#` and other telemetry filters — MQTT 5: SUBACK 0x87,
 * MQTT 3.1.1: 0x80 — and then CONTROL_MESSAGES are published while the bridge account holds the
 * run's share group: once it received them all, no intruder may have received any.
 *
 * Published at QoS 0, so that no persistent session of an absent bridge queues them; under a
 * tenant of the run's own, so that a bridge of the stack that happens to be connected writes them
 * as that tenant's readings, recognisably.
 */
const CONTROL_MESSAGES = 20;

export const mosquittoAcl: SecurityCheck = {
  name: 'mosquitto-subscribe-acl',
  requires: ['stack-mosquitto'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const url = new URL(context.stack.mqtt.url);
    const host = url.hostname;
    const port = Number(url.port || 1883);
    const prefix = context.stack.mqtt.topicPrefix;
    const runGroup = `security${context.runId}`;
    const tenant = `sec${context.runId}`;
    const filters = [`$share/${context.stack.mqtt.shareGroup}/${prefix}/+/+`, `$share/${runGroup}/${prefix}/+/+`, `$share/${runGroup}/#`, '#', `${prefix}/#`, `${prefix}/+/+`, `${prefix}/${tenant}/+`];
    const opened: RawMqtt[] = [];
    const open = async (username: string, version: 4 | 5): Promise<RawMqtt> => {
      const client = await RawMqtt.open(host, port, version, undefined);
      opened.push(client);
      const code = await client.connect({ clientId: context.id(`acl-${username}`), username, password: LOCAL_MQTT_USERS[username]! });
      if (code !== CODE.success) throw new Error(`${username} could not connect to Mosquitto: CONNACK ${hex(code)}`);
      return client;
    };
    try {
      const bridge = await open('bridge', 5);
      const granted = await bridge.subscribe([`$share/${runGroup}/${prefix}/+/+`], 1);
      if (granted?.[0] !== 1) throw new Error(`the bridge account's share-group subscription was answered ${hex(granted?.[0])}, not QoS 1: the control cannot receive`);
      const intruders: { client: RawMqtt; label: string }[] = [];
      for (const [username, version] of [['sensor-1', 5], ['sensor-2', 4], ['fleet', 5], ['probe', 5]] as const) {
        if (LOCAL_MQTT_USERS[username] === undefined) continue;
        const label = `${username} (MQTT ${version === 5 ? '5' : '3.1.1'})`;
        const client = await open(username, version);
        intruders.push({ client, label });
        let messageId = 0;
        for (const filter of filters) {
          const code = (await client.subscribe([filter], ++messageId))?.[0];
          const expected = version === 5 ? CODE.notAuthorized : CODE.v4SubscribeFailure;
          const what = `${label} SUBSCRIBE ${filter}`;
          if (code === expected) tally.record('refused', what, `SUBACK ${hex(code)}`);
          else if (code !== undefined && code < 0x80) tally.record('admitted', what, `SUBACK ${hex(code)}: granted`);
          else tally.record('unexpected', what, `SUBACK ${hex(code)}, documented ${hex(expected)}`);
        }
      }

      const publisher = await open('fleet', 5);
      const topic = `${prefix}/${tenant}/acl-control`;
      publisher.sendAll(Array.from({ length: CONTROL_MESSAGES }, () => publishPacket(topic, readingPayload(context.id('acl')), 0, 0)));
      const isRunMessage = (packet: IPublishPacket): boolean => packet.topic === topic;
      const deadline = Date.now() + 15_000;
      const stolen = (): number => intruders.reduce((sum, { client }) => sum + client.deliveries().filter(isRunMessage).length, 0);
      // Every message reaches either the control or (if its subscription was wrongly granted) an intruder.
      const settled = (): boolean => bridge.deliveries().filter(isRunMessage).length + stolen() >= CONTROL_MESSAGES;
      // The intruders' packets do not wake the bridge's client: it is asked again every 100 ms.
      while (!settled() && Date.now() < deadline) await bridge.until(settled, 100);
      const received = bridge.deliveries().filter(isRunMessage).length;
      for (const { client, label } of intruders) {
        const got = client.deliveries();
        if (got.length > 0) tally.record('admitted', `${label}: deliveries`, `${got.length} message(s) handed to a device account, first on ${got[0]!.topic}`);
      }
      if (received < CONTROL_MESSAGES && stolen() === 0) tally.record('unexpected', 'control', `the bridge account received ${received} of ${CONTROL_MESSAGES} messages in 15 s; no delivery check possible`);
      else tally.note(`the bridge account received ${received} of ${CONTROL_MESSAGES} control messages; intruders ${stolen()}`);
    } finally {
      for (const client of opened) client.destroy();
    }
  },
};
