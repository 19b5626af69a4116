import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { NAME_PATTERN } from '../../src/core/names.ts';
import type { DeviceIdentity } from './credentials.ts';

/**
 * A device's identity from its TLS client certificate (edge.tls.clientCaFile): the subject's CN is
 * the device, its O the tenant, as the local stack issues them (`npm run cli -- tls device`). Such a
 * device may publish only on `<prefix>/<tenant>/<device>` (the same check as an account's); a
 * certificate never names a gateway (`*`). Only a certificate the configured CA verified counts: the
 * server closed every other one after the handshake (edge/tls.ts refusedCertificate).
 *
 * Returns undefined when the connection is not TLS or presented no verified certificate, and
 * 'bad-subject' when the certificate does not name one device and one tenant.
 */
export function certificateIdentity(socket: Socket): DeviceIdentity | 'bad-subject' | undefined {
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const peer = socket.getPeerCertificate();
  if (peer === null || peer.subject === undefined) return undefined;
  const device = single(peer.subject.CN);
  const tenant = single(peer.subject.O);
  if (device === undefined || tenant === undefined || !NAME_PATTERN.test(device) || !NAME_PATTERN.test(tenant)) return 'bad-subject';
  return { username: `CN=${device},O=${tenant}`, tenant, device };
}

/** A subject field that occurs exactly once (Node gives an array for a repeated one). */
function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
