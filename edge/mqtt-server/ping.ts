import type { ClientConnection } from './connection.ts';
import type { EndpointContext } from './context.ts';

/** PINGREQ: the device is alive (any packet resets its keep-alive; this one asks for an answer). */
export function handlePingreq(connection: ClientConnection): void {
  connection.write({ cmd: 'pingresp' });
}

/**
 * DISCONNECT from the device. Its unacknowledged messages are not lost: it resends them on its
 * next connection; what Kafka already has appears twice there and once in ClickHouse (by id).
 */
export function handleDisconnect(context: EndpointContext, connection: ClientConnection): void {
  void context;
  connection.close('client-disconnect');
}
