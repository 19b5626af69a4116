import type { DeviceIdentity } from './credentials.ts';

/**
 * The pure rules of sessions on the direct endpoint (decision 0014, "Client ids, retain, payload
 * format, session expiry"): who a client id belongs to, and what a client's DISCONNECT may change of
 * its session's lifetime. No I/O, no clock.
 */

/**
 * Whom a client id — its live connection, its kept session and the will waiting with it — belongs
 * to: a device (tenant and device, whichever of its accounts or its certificate logged in, so that
 * a rotated password or a move to a certificate keeps the session), or one gateway account (two
 * gateways of a tenant may each publish for every device, but neither may end or continue the
 * other's session). Names hold no '/' (NAME_PATTERN, the username pattern), so the keys cannot collide.
 */
export function sessionOwner(identity: DeviceIdentity): string {
  return identity.device === '*' ? `${identity.tenant}/*/${identity.username}` : `${identity.tenant}/${identity.device}`;
}

export type ExpiryOnDisconnect = { readonly ok: true; readonly seconds: number } | { readonly ok: false };

/**
 * The session expiry (seconds) after a client's MQTT 5 DISCONNECT (§3.14.2.2.2): the interval it
 * sets, capped by mqtt.listen.maxSessionExpirySeconds as at CONNECT; absent, the current one.
 * `current` is the expiry the session runs with (the CONNECT's, or the cap CONNACK announced
 * instead). A non-zero interval on a session that had 0 is a protocol error: the server does not
 * treat such a DISCONNECT as valid (DISCONNECT 0x82).
 */
export function expiryOnDisconnect(current: number, requested: number | undefined, maximum: number): ExpiryOnDisconnect {
  if (requested === undefined) return { ok: true, seconds: current };
  if (current === 0 && requested !== 0) return { ok: false };
  return { ok: true, seconds: Math.min(requested, maximum) };
}
