import { isUtf8 } from 'node:buffer';
import type { IConnectPacket } from 'mqtt-packet';
import type { CodecRouter } from '../../src/core/codecs/codec.ts';
import type { DeviceIdentity } from './credentials.ts';
import { REASON, checkRoute, type TopicCheck } from './limits.ts';

/**
 * The pure rules of Will messages on the direct endpoint (decision 0014, "Will messages"). There
 * are no subscribers here: "publishing" a will means taking it in as if the connection's account
 * had sent it as a PUBLISH at that moment — readings to Kafka, refusals to the dead letter.
 * No I/O, no clock.
 */

/** A will accepted at CONNECT: what is published, for whom, and how long it may wait. */
export interface Will {
  readonly clientId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  /** MQTT 5 Will Delay Interval (seconds); 0 for MQTT 3.1.1. */
  readonly delaySeconds: number;
  readonly identity: DeviceIdentity;
  /** The topic's route and scope, checked against the identity at CONNECT. */
  readonly check: Extract<TopicCheck, { ok: true }>;
}

/** MQTT 3.1.1 CONNACK "not authorized" (§3.2.2.3): the only will refusal a 3.1.1 client can read. */
const V4_NOT_AUTHORIZED = 5;

export type WillVerdict =
  | { readonly ok: true; readonly will: Will | undefined }
  | { readonly ok: false; readonly code: number; readonly v4Code: number; readonly cause: string; readonly detail: string };

/**
 * Whether a CONNECT's will can be honoured, decided before the connection is accepted so that a
 * device learns it now rather than never:
 * - MQTT 5 Will Retain 1: refused with 0x9A, as MQTT 5 §3.2.2.3.5 requires of a server that
 *   announces Retain Available 0. MQTT 3.1.1 has no such answer; the flag is ignored there
 *   (nothing is retained: there are no subscribers).
 * - MQTT 5 Payload Format Indicator 1 with a payload that is not UTF-8: 0x99 (§3.1.3.2.3 allows it).
 * - A topic the account may not publish on, exactly as for a PUBLISH (checkRoute): 0x87 or 0x90;
 *   MQTT 3.1.1 gets return code 5.
 */
export function acceptWill(packet: IConnectPacket, version: 4 | 5, clientId: string, identity: DeviceIdentity, router: CodecRouter): WillVerdict {
  const will = packet.will;
  if (will === undefined || will === null) return { ok: true, will: undefined };
  const payload = typeof will.payload === 'string' ? Buffer.from(will.payload) : Buffer.from(will.payload ?? []);
  if (version === 5 && will.retain === true) {
    return { ok: false, code: REASON.retainNotSupported, v4Code: V4_NOT_AUTHORIZED, cause: 'will-retain', detail: 'a retained will cannot be honoured: this endpoint retains nothing (CONNACK Retain Available 0)' };
  }
  if (version === 5 && will.properties?.payloadFormatIndicator === true && !isUtf8(payload)) {
    return { ok: false, code: REASON.payloadFormatInvalid, v4Code: V4_NOT_AUTHORIZED, cause: 'will-payload-format', detail: 'the will payload is marked UTF-8 and is not' };
  }
  const check = checkRoute(will.topic, router, identity);
  if (!check.ok) return { ok: false, code: check.code, v4Code: V4_NOT_AUTHORIZED, cause: `will-${check.reason}`, detail: check.detail };
  const delaySeconds = version === 5 ? (will.properties?.willDelayInterval ?? 0) : 0;
  return { ok: true, will: { clientId, topic: will.topic, payload, qos: will.qos ?? 0, delaySeconds, identity, check } };
}

/**
 * How long after its connection ended a will waits (ms): its Will Delay Interval, but no longer
 * than the session lives — a session that ends publishes its will (MQTT 5 §3.1.3.2.2).
 */
export function willDelayMs(delaySeconds: number, sessionExpirySeconds: number): number {
  return Math.min(delaySeconds, sessionExpirySeconds) * 1000;
}

/**
 * A new connection with the client id of an earlier one (a takeover, or a reconnect while that
 * one's will waits): the earlier session ends — and its will is published now — when the new
 * connection starts clean or the earlier session was not kept (expiry 0); otherwise the session
 * continues and its will is cancelled (MQTT 5 §3.1.2.5, [MQTT-3.1.3-9]; Mosquitto 2.0 decides
 * the same way in handle_connect.c).
 */
export function sessionEndsOnReconnect(cleanStart: boolean, previousExpirySeconds: number): boolean {
  return cleanStart || previousExpirySeconds === 0;
}
