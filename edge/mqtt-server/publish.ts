import type { IPublishPacket, IPubrelPacket } from 'mqtt-packet';
import type { AckTicket } from '../ack-queue.ts';
import type { PublishListener } from '../publisher.ts';
import type { AckPlan, ClientConnection } from './connection.ts';
import type { EndpointContext } from './context.ts';
import { messageCode, readMessage, sendMessage } from './ingest.ts';
import { REASON, checkRoute, reasonLabel, type TopicCheck } from './limits.ts';

/**
 * PUBLISH and PUBREL. A QoS 1 message is answered with PUBACK, a QoS 2 one with PUBREC, only
 * once Kafka acknowledged every record of it (its readings, or the dead letter of its refusal),
 * through the connection's in-order queue (ack-queue.ts): many messages are in flight at once,
 * and their acknowledgements still leave in the order the messages arrived (MQTT 5 §4.6).
 *
 * Refusals still go through Kafka (the dead-letter topic) before they are answered: a device told
 * "refused" can rely on the evidence being kept. MQTT 5 devices get the reason code (0x87 topic
 * of another device or tenant, 0x90 topic not `<prefix>/<tenant>/<device>`, 0x99 no valid reading
 * in the payload); MQTT 3.1.1 has no reason codes, so those devices get a plain PUBACK/PUBREC
 * (MQTT 3.1.1 §3.3.5 allows a positive acknowledgement of a refused message) and the refusal
 * shows only in the dead-letter topic and the metrics.
 */
export function handlePublish(context: EndpointContext, connection: ClientConnection, packet: IPublishPacket): void {
  const { qos } = packet;
  const messageId = packet.messageId ?? 0;
  const receivedAt = context.now();
  context.edgeMetrics.hot.mqtt.messages++;

  if (packet.properties?.topicAlias !== undefined) {
    // CONNACK announced no topic aliases (topic alias maximum 0): using one is a protocol error.
    refuse(context, REASON.topicAliasInvalid);
    connection.close('topic-alias', REASON.topicAliasInvalid);
    return;
  }
  if (packet.retain && connection.version === 5) {
    // CONNACK announced Retain Available 0 (MQTT 5 §3.3.1.3). MQTT 3.1.1 cannot be told: its flag is ignored, nothing subscribes here.
    refuse(context, REASON.retainNotSupported);
    connection.close('retain-not-supported', REASON.retainNotSupported);
    return;
  }
  if (qos > 0 && !connection.window.take()) {
    if (connection.version === 5) {
      refuse(context, REASON.receiveMaximumExceeded);
      connection.close('receive-maximum-exceeded', REASON.receiveMaximumExceeded);
      return;
    }
    // MQTT 3.1.1 clients were never told the limit: the rest of a chunk read before the pause below is taken.
  }
  if (connection.window.full) connection.pause('window');

  if (!connection.rate.allow(receivedAt)) {
    refuse(context, REASON.quotaExceeded);
    if (connection.version === 4) {
      connection.close('rate-limit');
      return;
    }
    if (qos > 0) answer(connection, messageId, { qos: qos as 1 | 2, code: REASON.quotaExceeded });
    return;
  }

  if (qos === 2 && connection.session!.awaitingPubrel.has(messageId)) {
    // A resent QoS 2 message whose PUBREC the device missed: it is already in Kafka.
    answer(connection, messageId, { qos: 2, code: REASON.success });
    return;
  }

  const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
  const check = topicCheck(context, connection, packet.topic);
  let ticket: AckTicket | undefined;
  if (qos > 0) {
    // Settled by the publication's outcome (after-kafka), or at once (on-receipt, at-most-once).
    ticket = connection.acks.add(messageId, connection.serial, context.ackMode === 'after-kafka' ? settleTicket(context, connection) : undefined);
  }
  const listener: PublishListener = ticket === undefined || context.ackMode === 'on-receipt' ? IGNORE_OUTCOME : ticket;
  const message = readMessage(context, check, packet.topic, payload, receivedAt, packet.properties?.payloadFormatIndicator === true);
  const code = messageCode(check, message);
  if (code !== REASON.success) refuse(context, code);
  sendMessage(context, connection.identity!, check, packet.topic, payload, receivedAt, message, listener);
  if (ticket === undefined) return;
  connection.acks.pubackReady(ticket, { qos: qos as 1 | 2, code } satisfies AckPlan);
  if (context.ackMode === 'on-receipt') connection.acks.settle(ticket, true);
}

/** PUBREL of a QoS 2 message: the device may forget it; answered with PUBCOMP. */
export function handlePubrel(connection: ClientConnection, packet: IPubrelPacket): void {
  const messageId = packet.messageId ?? 0;
  const known = connection.session!.awaitingPubrel.delete(messageId);
  if (connection.pubrelHeld.delete(messageId)) releaseWindow(connection);
  connection.writeAck('pubcomp', messageId, known ? REASON.success : REASON.packetIdentifierNotFound);
}

/**
 * The release function of a connection's ack queue: the acknowledgement leaves now (its turn came
 * and Kafka acknowledged it). A QoS 2 message then waits for PUBREL, holding its window place.
 */
export function releaseAck(connection: ClientConnection, ticket: AckTicket): void {
  const plan = ticket.puback as AckPlan;
  if (plan.qos === 1) {
    connection.writeAck('puback', ticket.messageId, plan.code);
    releaseWindow(connection);
    return;
  }
  connection.writeAck('pubrec', ticket.messageId, plan.code);
  if (plan.code < 0x80) {
    connection.session!.awaitingPubrel.add(ticket.messageId);
    connection.pubrelHeld.add(ticket.messageId);
  } else {
    releaseWindow(connection);
  }
}

function releaseWindow(connection: ClientConnection): void {
  connection.window.release();
  if (!connection.window.full) connection.resume('window');
}

/** An answer that needs no Kafka round trip, still in its turn behind the messages before it. */
function answer(connection: ClientConnection, messageId: number, plan: AckPlan): void {
  const ticket = connection.acks.add(messageId, connection.serial, undefined);
  connection.acks.pubackReady(ticket, plan);
  connection.acks.settle(ticket, true);
}

/**
 * A message whose records Kafka did not take (delivery timeout) is never acknowledged. Closing the
 * connection makes the device send it again (MQTT requires a resend of unacknowledged messages on
 * reconnect); while Kafka is away the new connection is not read, so the resend waits.
 */
function settleTicket(context: EndpointContext, connection: ClientConnection): (ticket: AckTicket, ok: boolean) => void {
  return (connection.settle ??= (ticket: AckTicket, ok: boolean): void => {
    if (!connection.isOpen) return;
    connection.acks.settle(ticket, ok);
    if (ok) return;
    connection.close('kafka-failed', REASON.serverBusy);
  });
}

/**
 * Allowed topics a connection keeps the check of. A gateway account's connection cycles through its
 * devices' topics, so keeping only the last one missed every time (the route's matching was 15 % of
 * a publish). Only allowed, short topics are kept, so that a client cannot fill the memory with
 * long topics (at most TOPIC_CHECKS_KEPT × TOPIC_CHECK_MAX_LENGTH characters per connection).
 */
export const TOPIC_CHECKS_KEPT = 1024;
const TOPIC_CHECK_MAX_LENGTH = 256;

function topicCheck(context: EndpointContext, connection: ClientConnection, topic: string): TopicCheck {
  const kept = connection.topicChecks.get(topic);
  if (kept !== undefined) return kept;
  const check = checkRoute(topic, context.codecs, connection.identity!);
  if (!check.ok || topic.length > TOPIC_CHECK_MAX_LENGTH) return check;
  if (connection.topicChecks.size >= TOPIC_CHECKS_KEPT) connection.topicChecks.clear();
  connection.topicChecks.set(topic, check);
  return check;
}

function refuse(context: EndpointContext, code: number): void {
  context.metrics.refusals.labels(reasonLabel(code), 'publish').inc();
}

/** QoS 0 messages have nothing to acknowledge. */
const IGNORE_OUTCOME = (): void => undefined;
