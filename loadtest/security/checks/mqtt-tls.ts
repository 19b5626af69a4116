import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../../src/core/errors.ts';
import { createStandaloneCa, issueDeviceCertificate } from '../../../src/stack/tls.ts';
import type { SecurityCheck, Tally } from '../check.ts';
import { readingPayload, type RunContext } from '../context.ts';
import { mqttControl, settleAgainstKafka, type PendingAttempt } from '../audit.ts';
import { readingKey } from '../kafka-audit.ts';
import { CODE, RawMqtt, hex, publishPacket } from '../raw-mqtt.ts';
import type { ClientTls } from '../transport.ts';

/**
 * Direct MQTT over TLS with device certificates (edge.tls): plaintext MQTT on the TLS listener, a
 * client certificate of a CA nobody configured, an expired one of the right CA — each closed
 * before any MQTT is answered (no CONNACK) and nothing of the PUBLISH behind the CONNECT written;
 * and the valid certificate of device A (whose subject is the identity, whatever username and
 * password come with it) publishing as device B or another tenant — MQTT 5 PUBACK 0x87, 3.1.1 a
 * plain PUBACK, nothing written.
 */
const CLOSE_BOUND_MS = 5000;

export const mqttTls: SecurityCheck = {
  name: 'mqtt-direct-tls',
  requires: ['direct-mqtt', 'mqtt-tls'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const { tenants } = bridge;
    const dir = join(bridge.runDir, 'certificates');
    const ca = bridge.tls!.ca;
    const load = (files: { certFile: string; keyFile: string }): ClientTls => {
      const key = readFileSync(files.keyFile, 'utf8');
      context.addPrivateKey(`private key ${files.keyFile}`, key);
      return { ca, cert: readFileSync(files.certFile, 'utf8'), key };
    };
    const deviceA = load(issueDeviceCertificate(context.stack.stack, { tenant: tenants.x, device: 'dev-a', dir }));
    const expired = load(issueDeviceCertificate(context.stack.stack, { tenant: tenants.x, device: 'dev-b', dir: join(dir, 'expired'), days: -1 }));
    const untrusted = load(issueDeviceCertificate(context.stack.stack, { tenant: tenants.x, device: 'dev-b', dir: join(dir, 'untrusted'), ca: createStandaloneCa(join(dir, 'untrusted-ca'), 'a CA nobody configured') }));
    const pending: PendingAttempt[] = [
      await refusedBeforeMqtt(context, 'plaintext MQTT on the TLS listener, valid password', undefined, true),
      await refusedBeforeMqtt(context, 'certificate of an untrusted CA (device B)', untrusted, false),
      await refusedBeforeMqtt(context, 'expired certificate of the configured CA (device B)', expired, false),
    ];
    for (const version of [5, 4] as const) {
      pending.push(...(await impersonation(context, deviceA, version, undefined)));
      // The gateway account's password beside A's certificate: the certificate decides who this is.
      pending.push(...(await impersonation(context, deviceA, version, bridge.accounts.gatewayX)));
    }
    await settleAgainstKafka(context, tally, pending, [await mqttControl(context, bridge.accounts.deviceB)]);
  },
};

/** CONNECT (with device B's password when `withPassword`) and a PUBLISH as device B in one write: no CONNACK may come, the connection must close. */
async function refusedBeforeMqtt(context: RunContext, what: string, tls: ClientTls | undefined, withPassword: boolean): Promise<PendingAttempt> {
  const bridge = context.runBridge;
  const b = bridge.accounts.deviceB;
  const id = context.id('tls');
  const keys = [readingKey(b.tenant, b.device, id)];
  let client: RawMqtt;
  try {
    client = await RawMqtt.open(bridge.host, bridge.mqttPort, 5, tls);
  } catch (error) {
    return { what, keys, verdict: 'refused', how: `handshake refused (${errorMessage(error).slice(0, 60)})` };
  }
  try {
    client.sendAll([
      { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: context.id('tls'), keepalive: 30, ...(withPassword ? { username: b.username, password: Buffer.from(b.password) } : {}) },
      publishPacket(`${bridge.config.mqtt.topicPrefix}/${b.tenant}/${b.device}`, readingPayload(id), 1),
    ]);
    const closed = await client.closedWithin(CLOSE_BOUND_MS);
    const connack = client.packets.find((packet) => packet.cmd === 'connack') as { reasonCode?: number } | undefined;
    if (connack !== undefined && (connack.reasonCode ?? 0) === CODE.success) return { what, keys, verdict: 'admitted', how: 'CONNACK 0x00: connected' };
    if (connack !== undefined) return { what, keys, verdict: 'unexpected', how: `CONNACK ${hex(connack.reasonCode)}: MQTT was read (documented: closed before any MQTT)` };
    if (closed === undefined) return { what, keys, verdict: 'admitted', how: `still open ${CLOSE_BOUND_MS} ms later` };
    return { what, keys, verdict: 'refused', how: 'closed before any MQTT answer' };
  } finally {
    client.destroy();
  }
}

/** Device A's certificate: connected as A (CONNACK 0x00), then publishing as B and under tenant Y. */
async function impersonation(context: RunContext, certificate: ClientTls, version: 4 | 5, password: { username: string; password: string } | undefined): Promise<PendingAttempt[]> {
  const bridge = context.runBridge;
  const prefix = bridge.config.mqtt.topicPrefix;
  const { tenants } = bridge;
  const client = await RawMqtt.open(bridge.host, bridge.mqttPort, version, certificate);
  const label = `MQTT ${version === 5 ? '5' : '3.1.1'}, certificate of device A${password === undefined ? '' : ` with ${password.username}'s password`}`;
  try {
    const connack = await client.connect({ clientId: context.id('cert'), ...(password === undefined ? {} : { username: password.username, password: password.password }) });
    if (connack !== CODE.success) throw new Error(`${label}: CONNACK ${hex(connack)}, the certificate of the configured CA was not accepted`);
    const expected = version === 5 ? CODE.notAuthorized : CODE.success;
    const pending: PendingAttempt[] = [];
    let messageId = 0;
    for (const [what, tenant, device] of [
      ['publishing as device B', tenants.x, 'dev-b'],
      ['publishing under tenant Y', tenants.y, 'dev-a'],
    ] as const) {
      const id = context.id('cert');
      const code = await client.publish(`${prefix}/${tenant}/${device}`, readingPayload(id), ++messageId);
      const keys = [readingKey(tenant, device, id)];
      if (code === expected) pending.push({ what: `${label}: ${what}`, keys, verdict: 'refused', how: version === 5 ? `PUBACK ${hex(code)}` : 'plain PUBACK (MQTT 3.1.1 has no reason codes)' });
      else pending.push({ what: `${label}: ${what}`, keys, verdict: code === CODE.success ? 'admitted' : 'unexpected', how: `PUBACK ${hex(code)}, documented ${hex(expected)}` });
    }
    return pending;
  } finally {
    client.destroy();
  }
}
