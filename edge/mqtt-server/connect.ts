import { randomBytes } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { errorMessage } from '../../src/core/errors.ts';
import { certificateIdentity } from './certificate-identity.ts';
import type { ClientConnection, Session } from './connection.ts';
import type { EndpointContext } from './context.ts';
import { REASON, effectiveKeepAlive, reasonLabel } from './limits.ts';
import { sessionOwner } from './session.ts';
import { acceptWill, sessionEndsOnReconnect } from './will.ts';

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

  // A client id in use belongs to its identity (session.ts): another account must not close its
  // connection, continue or end its session, nor cancel or trigger its waiting will.
  const holder = context.clients.get(clientId)?.identity ?? keptSession(context, clientId)?.owner;
  if (holder !== undefined && sessionOwner(holder) !== sessionOwner(identity)) {
    context.metrics.connects.labels('client-id-in-use').inc();
    context.metrics.refusals.labels(reasonLabel(REASON.clientIdentifierNotValid), 'connect').inc();
    context.logger.warn({ clientId, username: identity.username, holder: holder.username }, 'CONNECT refused: the client id is in use by another identity');
    refuseConnect(connection, REASON.clientIdentifierNotValid, V4.identifierRejected, 'client-id-in-use');
    return;
  }

  // A will that cannot be honoured is refused now: silence when the device is gone would be worse.
  const verdict = acceptWill(packet, version, clientId, identity, context.codecs);
  if (!verdict.ok) {
    context.metrics.connects.labels('will-refused').inc();
    context.metrics.refusals.labels(reasonLabel(verdict.code), 'will').inc();
    context.wills.count('refused');
    context.logger.info({ clientId, username: identity.username, topic: packet.will?.topic, reason: verdict.cause, detail: verdict.detail }, 'CONNECT refused for its will');
    refuseConnect(connection, verdict.code, verdict.v4Code, verdict.cause);
    return;
  }

  // Session takeover (MQTT 5 §3.1.4): the newer connection wins, the older one is closed. The
  // older one's will, and one still waiting for its delay, go out only if its session ends here.
  const sessionEnds = sessionEndsOnReconnect(clean, context.sessions.get(clientId)?.expirySeconds ?? 0);
  const previous = context.clients.get(clientId);
  if (previous !== undefined && previous !== connection) {
    context.metrics.connects.labels('taken-over').inc();
    if (!sessionEnds) context.wills.discard(previous, 'cancelled');
    previous.close('session-taken-over', REASON.sessionTakenOver);
  }
  context.wills.reconnected(clientId, sessionEnds);
  const existing = context.sessions.get(clientId);
  const sessionPresent = !clean && existing !== undefined;
  const session: Session = sessionPresent ? existing! : { clientId, awaitingPubrel: new Set(), owner: identity, expirySeconds: 0, expiresAt: undefined };
  session.owner = identity;
  const requestedExpiry = version === 5 ? (packet.properties?.sessionExpiryInterval ?? 0) : clean ? 0 : context.listen.maxSessionExpirySeconds;
  session.expirySeconds = Math.min(requestedExpiry, context.listen.maxSessionExpirySeconds);
  session.expiresAt = undefined;
  context.sessions.set(clientId, session);

  connection.clientId = clientId;
  connection.identity = identity;
  connection.session = session;
  connection.will = verdict.will;
  if (verdict.will !== undefined) context.wills.count('received');
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

/** The session kept for `clientId`, unless its expiry passed: the sweep (server.ts) runs only every 30 s, and an expired session is neither present nor anyone's. */
function keptSession(context: EndpointContext, clientId: string): Session | undefined {
  const session = context.sessions.get(clientId);
  if (session?.expiresAt === undefined || session.expiresAt > context.now()) return session;
  context.sessions.delete(clientId);
  return undefined;
}

function refuseConnect(connection: ClientConnection, code: number, v4Code: number, cause: string): void {
  const packet: IConnackPacket =
    connection.version === 5 ? { cmd: 'connack', reasonCode: code, sessionPresent: false } : { cmd: 'connack', returnCode: v4Code, sessionPresent: false };
  connection.endWith(packet, cause);
}
