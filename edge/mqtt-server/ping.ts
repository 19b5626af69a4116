import type { IDisconnectPacket } from 'mqtt-packet';
import type { ClientConnection } from './connection.ts';
import type { EndpointContext } from './context.ts';
import { REASON, reasonLabel } from './limits.ts';
import { expiryOnDisconnect } from './session.ts';

/** PINGREQ: the device is alive (any packet resets its keep-alive; this one asks for an answer). */
export function handlePingreq(connection: ClientConnection): void {
  connection.write({ cmd: 'pingresp' });
}

/**
 * DISCONNECT from the device. Its unacknowledged messages are not lost: it resends them on its
 * next connection; what Kafka already has appears twice there and once in ClickHouse (by id).
 * Only reason 0x00 (and every MQTT 3.1.1 DISCONNECT) discards the will; 0x04 "disconnect with
 * will message", or an error the device reports, ends the connection with its will published
 * (MQTT 5 §3.14.2.1, §3.1.2.5). An MQTT 5 DISCONNECT may change the session's expiry (session.ts).
 */
export function handleDisconnect(context: EndpointContext, connection: ClientConnection, packet: IDisconnectPacket): void {
  if (connection.version === 5) {
    // Its Session Expiry Interval bounds the kept session and the waiting will from now (server.ts closed()).
    const session = connection.session!;
    const expiry = expiryOnDisconnect(session.expirySeconds, packet.properties?.sessionExpiryInterval, context.listen.maxSessionExpirySeconds);
    if (!expiry.ok) {
      // Not a valid DISCONNECT (§3.14.2.2.2): the connection ends on a protocol error, its will published.
      context.metrics.refusals.labels(reasonLabel(REASON.protocolError), 'disconnect').inc();
      connection.close('protocol-error', REASON.protocolError);
      return;
    }
    session.expirySeconds = expiry.seconds;
  }
  const code = connection.version === 5 ? (packet.reasonCode ?? REASON.success) : REASON.success;
  if (code === REASON.success) {
    context.wills.discard(connection, 'discarded');
    connection.close('client-disconnect');
    return;
  }
  connection.close(code === REASON.disconnectWithWill ? 'client-disconnect-with-will' : 'client-disconnect-error');
}
