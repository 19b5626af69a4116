import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import type { ClientConnection } from './connection.ts';
import type { EndpointContext } from './context.ts';
import { SparkplugHost } from '../codecs/sparkplug-host.ts';
import { REASON, reasonLabel } from './limits.ts';

/** MQTT 5 UNSUBACK: "no subscription existed" (§3.11.3). */
const NO_SUBSCRIPTION_EXISTED = 0x11;
/** MQTT 3.1.1 SUBACK return code "Failure" (§3.9.3). */
const V4_FAILURE = 0x80;

/**
 * The endpoint takes telemetry in and delivers only Sparkplug rebirth requests: with a Sparkplug
 * rule in mqtt.codecs, an account may subscribe to exactly `spBv1.0/<group>/NCMD/<node>` of a node
 * it may publish for (granted at QoS 0, see edge/codecs/sparkplug-host.ts). Every other
 * subscription is refused: MQTT 5
 * shared subscriptions with 0x9E "shared subscriptions not supported", any other filter with 0x87
 * "not authorized"; MQTT 3.1.1 clients get 0x80 "failure" for each filter. The connection stays.
 */
export function handleSubscribe(context: EndpointContext, connection: ClientConnection, packet: ISubscribePacket): void {
  const granted = packet.subscriptions.map(({ topic }) => {
    const identity = connection.identity!;
    if (context.sparkplug !== undefined && SparkplugHost.mayRead(topic, identity.tenant, identity.device)) {
      context.sparkplug.subscribe(topic, connection);
      return 0;
    }
    const code = connection.version === 4 ? V4_FAILURE : topic.startsWith('$share/') ? REASON.sharedSubscriptionsNotSupported : REASON.notAuthorized;
    context.metrics.refusals.labels(reasonLabel(code), 'subscribe').inc();
    return code;
  });
  connection.write({ cmd: 'suback', messageId: packet.messageId!, granted });
}

/** Nothing was ever subscribed: MQTT 5 says so per filter, MQTT 3.1.1 has only the bare UNSUBACK. */
export function handleUnsubscribe(connection: ClientConnection, packet: IUnsubscribePacket): void {
  if (connection.version === 5) {
    connection.write({ cmd: 'unsuback', messageId: packet.messageId!, granted: packet.unsubscriptions.map(() => NO_SUBSCRIPTION_EXISTED) } as never);
  } else {
    connection.write({ cmd: 'unsuback', messageId: packet.messageId! } as never);
  }
}
