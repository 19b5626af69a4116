import { parseTelemetryTopic, type DeviceOrigin } from '../../src/core/validation.ts';
import type { RejectionReason } from '../../src/core/readings.ts';
import type { CodecRouter, PayloadCodec } from '../../src/core/codecs/codec.ts';
import type { DeviceIdentity } from './credentials.ts';

/**
 * The pure rules of the direct endpoint: who may publish on which topic, how many unacknowledged
 * messages a connection may hold, how fast a client may publish, when a silent client is gone.
 * No I/O, no clock: time comes in as a parameter.
 */

/** MQTT 5 reason codes the endpoint sends (MQTT 5 §2.4). */
export const REASON = {
  success: 0x00,
  /** DISCONNECT from a client: "disconnect with will message" (§3.14.2.1). */
  disconnectWithWill: 0x04,
  unspecified: 0x80,
  malformedPacket: 0x81,
  protocolError: 0x82,
  unsupportedProtocolVersion: 0x84,
  clientIdentifierNotValid: 0x85,
  badUsernameOrPassword: 0x86,
  notAuthorized: 0x87,
  serverBusy: 0x89,
  serverShuttingDown: 0x8b,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicNameInvalid: 0x90,
  packetIdentifierNotFound: 0x92,
  receiveMaximumExceeded: 0x93,
  topicAliasInvalid: 0x94,
  packetTooLarge: 0x95,
  quotaExceeded: 0x97,
  payloadFormatInvalid: 0x99,
  retainNotSupported: 0x9a,
  sharedSubscriptionsNotSupported: 0x9e,
} as const;

export function reasonLabel(code: number): string {
  return `0x${code.toString(16).padStart(2, '0')}`;
}

export type TopicCheck =
  | { readonly ok: true; readonly origin: DeviceOrigin; /** The codec of the topic (mqtt.codecs); undefined from checkTopic: JSON. */ readonly codec?: PayloadCodec }
  | { readonly ok: false; readonly code: number; readonly reason: RejectionReason; readonly detail: string };

/**
 * Whether `identity` may publish on `topic`: the topic must be `<prefix>/<tenant>/<device>` with
 * safe names (else 0x90), its tenant the identity's tenant and its device the identity's device,
 * or any device of the tenant for a gateway account '*' (else 0x87).
 */
export function checkTopic(topic: string, prefix: string, identity: DeviceIdentity): TopicCheck {
  const origin = parseTelemetryTopic(topic, prefix);
  if (origin === undefined) return { ok: false, code: REASON.topicNameInvalid, reason: 'bad-topic', detail: `topic is not ${prefix}/<tenant>/<device> with safe names` };
  if (origin.tenant !== identity.tenant) {
    return { ok: false, code: REASON.notAuthorized, reason: 'tenant-mismatch', detail: `account ${identity.username} of tenant ${identity.tenant} may not publish for tenant ${origin.tenant}` };
  }
  if (identity.device !== '*' && origin.device !== identity.device) {
    return { ok: false, code: REASON.notAuthorized, reason: 'device-mismatch', detail: `account ${identity.username} of device ${identity.device} may not publish for device ${origin.device}` };
  }
  return { ok: true, origin };
}

/**
 * checkTopic for every codec of mqtt.codecs: the first rule matching the topic decides its codec,
 * and the codec the tenant and device (a Sparkplug edge node) the topic names; the account must
 * own them as above (0x87), and a topic no rule reads, or not of its codec's shape, is 0x90.
 */
export function checkRoute(topic: string, router: CodecRouter, identity: DeviceIdentity): TopicCheck {
  const route = router.route(topic);
  if (!route.ok) return { ok: false, code: REASON.topicNameInvalid, reason: route.reason, detail: route.detail };
  const origin = route.scope;
  if (origin.tenant !== identity.tenant) {
    return { ok: false, code: REASON.notAuthorized, reason: 'tenant-mismatch', detail: `account ${identity.username} of tenant ${identity.tenant} may not publish for tenant ${origin.tenant}` };
  }
  if (identity.device !== '*' && origin.device !== identity.device) {
    return { ok: false, code: REASON.notAuthorized, reason: 'device-mismatch', detail: `account ${identity.username} of device ${identity.device} may not publish for device ${origin.device}` };
  }
  return { ok: true, origin, codec: route.codec };
}

/**
 * Unacknowledged QoS 1/2 messages of one connection against its receive maximum. A QoS 1 message
 * counts until its PUBACK is sent, a QoS 2 one until its PUBCOMP (MQTT 5 §4.9).
 */
export class ReceiveWindow {
  private held = 0;

  constructor(readonly maximum: number) {}

  get inFlight(): number {
    return this.held;
  }

  /** True when no further message may arrive without exceeding the maximum. */
  get full(): boolean {
    return this.held >= this.maximum;
  }

  /** Counts a message in; false when it exceeds the maximum (the message is counted anyway). */
  take(): boolean {
    this.held++;
    return this.held <= this.maximum;
  }

  release(): void {
    if (this.held > 0) this.held--;
  }
}

/** A token bucket of one second's worth of messages; `perSecond` 0 means unlimited. */
export class RateLimit {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = perSecond;
    this.last = now;
  }

  allow(now: number): boolean {
    if (this.perSecond === 0) return true;
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(this.perSecond, this.tokens + (elapsed * this.perSecond) / 1000);
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

/**
 * The keep-alive a connection runs with (seconds): the client's, capped by the server's maximum;
 * a client asking none gets the maximum when it can be told (MQTT 5 server keep alive), none otherwise.
 */
export function effectiveKeepAlive(requested: number, maximum: number, version: 4 | 5): number {
  if (requested === 0) return version === 5 ? maximum : 0;
  return Math.min(requested, maximum);
}

/** A connection silent for one and a half keep-alives is gone (MQTT 5 §3.1.2.10); 0: never. */
export function keepAliveTimeoutMs(keepAliveSeconds: number): number {
  return keepAliveSeconds * 1500;
}
