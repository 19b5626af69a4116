import { randomBytes } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { errorMessage } from '../../src/core/errors.ts';
import { certificateIdentity } from './certificate-identity.ts';
import type { ClientConnection, Session } from './connection.ts';
import type { EndpointContext } from './context.ts';
import { REASON, effectiveKeepAlive, reasonLabel } from './limits.ts';

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3): the only refusals a 3.1.1 client can read. */
const V4 = { accepted: 0, badProtocol: 1, identifierRejected: 2, serverUnavailable: 3, badCredentials: 4, notAuthorized: 5 } as const;

/**
 * CONNECT: protocol version, connection cap, client id, credentials, then session and takeover.
 * The socket is not read while the password is verified (scrypt runs off the event loop); packets
 * that arrived with the CONNECT wait in the connection and are handled after the CONNACK.
 */
export async function handleConnect(context: EndpointContext, connection: ClientConnection, packet: IConnectPacket, dispatchPending: () => void): Promise<void> {
  if (connection.state !== 'awaiting-connect') {
    connection.close('second-connect', REASON.protocolError);
    return;
  }
  const version = packet.protocolVersion;
  if (version !== 4 && version !== 5) {
    context.metrics.connects.labels('unsupported-protocol').inc();
    // MQTT 3.1 (protocol level 3) and unknown levels get the 3.1.1 refusal, which every version reads.
    connection.endWith({ cmd: 'connack', returnCode: V4.badProtocol, sessionPresent: false }, 'unsupported-protocol');
    return;
  }
  connection.version = version;
  if (context.stopping() || context.clients.size >= context.listen.maxConnections) {
    context.metrics.connects.labels('quota-exceeded').inc();
    refuseConnect(connection, REASON.quotaExceeded, V4.serverUnavailable, context.stopping() ? 'bridge-stopping' : 'connection-limit');
    return;
  }
  const clean = packet.clean !== false;
  let clientId = packet.clientId ?? '';
  let assigned: string | undefined;
  if (clientId === '') {
    if (version === 4 && !clean) {
      context.metrics.connects.labels('bad-client-id').inc();
      refuseConnect(connection, REASON.clientIdentifierNotValid, V4.identifierRejected, 'bad-client-id');
      return;
    }
    clientId = assigned = `auto-${randomBytes(9).toString('base64url')}`;
  }

  connection.state = 'authenticating';
  connection.pause('auth');
  // A verified client certificate is the identity (its username and password are not looked at);
  // devices without one log in with an account of the credential file.
  let identity = certificateIdentity(connection.socket);
  if (identity === 'bad-subject') identity = undefined; // closed after the handshake (server.ts); not reached
  try {
    identity ??= await context.credentials.authenticate(packet.username, packet.password);
  } catch (error) {
    context.logger.error({ err: errorMessage(error), clientId }, 'authentication failed with an error');
    identity = undefined;
  }
  if (!connection.isOpen) return;
  if (identity === undefined) {
    context.metrics.connects.labels('bad-credentials').inc();
    context.metrics.refusals.labels(reasonLabel(REASON.badUsernameOrPassword), 'connect').inc();
    refuseConnect(connection, REASON.badUsernameOrPassword, V4.badCredentials, 'bad-credentials');
    return;
  }

  // Session takeover (MQTT 5 §3.1.4): the newer connection wins, the older one is closed.
  const previous = context.clients.get(clientId);
  if (previous !== undefined && previous !== connection) {
    context.metrics.connects.labels('taken-over').inc();
    previous.close('session-taken-over', REASON.sessionTakenOver);
  }
  const existing = context.sessions.get(clientId);
  const sessionPresent = !clean && existing !== undefined;
  const session: Session = sessionPresent ? existing! : { clientId, awaitingPubrel: new Set(), expirySeconds: 0, expiresAt: undefined };
  const requestedExpiry = version === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : clean ? 0 : context.listen.maxSessionExpirySeconds;
  session.expirySeconds = Math.min(requestedExpiry, context.listen.maxSessionExpirySeconds);
  session.expiresAt = undefined;
  context.sessions.set(clientId, session);

  connection.clientId = clientId;
  connection.identity = identity;
  connection.session = session;
  connection.state = 'connected';
  context.clients.set(clientId, connection);

  const keepAlive = effectiveKeepAlive(packet.keepalive ?? 0, context.listen.maxKeepAliveSeconds, version);
  const connack: IConnackPacket = { cmd: 'connack', sessionPresent };
  if (version === 5) {
    connack.reasonCode = REASON.success;
    connack.properties = {
      receiveMaximum: context.listen.receiveMaximum,
      maximumPacketSize: context.listen.maxPacketBytes,
      retainAvailable: false,
      wildcardSubscriptionAvailable: false,
      subscriptionIdentifiersAvailable: false,
      sharedSubscriptionAvailable: false,
      topicAliasMaximum: 0,
      ...(keepAlive !== (packet.keepalive ?? 0) ? { serverKeepAlive: keepAlive } : {}),
      ...(session.expirySeconds !== requestedExpiry ? { sessionExpiryInterval: session.expirySeconds } : {}),
      ...(assigned === undefined ? {} : { assignedClientIdentifier: assigned }),
    };
  } else {
    connack.returnCode = V4.accepted;
  }
  connection.write(connack);
  context.metrics.connects.labels('accepted').inc();
  connection.setKeepAlive(keepAlive, () => connection.close('keep-alive-timeout', REASON.keepAliveTimeout));
  dispatchPending();
  connection.resume('auth');
}

function refuseConnect(connection: ClientConnection, code: number, v4Code: number, cause: string): void {
  const packet: IConnackPacket =
    connection.version === 5 ? { cmd: 'connack', reasonCode: code, sessionPresent: false } : { cmd: 'connack', returnCode: v4Code, sessionPresent: false };
  connection.endWith(packet, cause);
}
