import type { IConnackPacket } from 'mqtt-packet';
import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { CODE, RawMqtt, hex } from '../raw-mqtt.ts';

/**
 * Direct MQTT, slow clients (slowloris): connections that hold a place without sending must be
 * closed within the configured limits —
 *   before CONNECT: within mqtt.listen.connectTimeoutMs (nothing sent, half a CONNECT, a CONNECT
 *   trickled a byte at a time, a CONNECT announcing more bytes than it sends);
 *   after CONNECT: after 1.5 × the keep-alive the connection runs with (the client's, capped at
 *   maxKeepAliveSeconds; MQTT 5 clients asking none get the maximum), MQTT 5 with DISCONNECT 0x8D.
 * Each wait is bounded: the limit plus SLACK_MS; a connection still open then was admitted wrongly.
 */
const SLACK_MS = 1500;

export const mqttDirectSlow: SecurityCheck = {
  name: 'mqtt-direct-slowloris',
  requires: ['direct-mqtt'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const { listen } = context.runBridge;
    tally.note(`limits: connectTimeoutMs ${listen.connectTimeoutMs}, maxKeepAliveSeconds ${listen.maxKeepAliveSeconds}`);
    await Promise.all([
      ...connectTimeoutAttempts(context, tally),
      ...keepAliveAttempts(context, tally),
      keepAliveZeroObservation(context, tally),
    ]);
  },
};

function connectTimeoutAttempts(context: RunContext, tally: Tally): Promise<void>[] {
  const bridge = context.runBridge;
  const bound = bridge.listen.connectTimeoutMs + SLACK_MS;
  const connect = (client: RawMqtt): Buffer =>
    client.encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: context.id('slow'), keepalive: 30, username: bridge.accounts.deviceA.username, password: Buffer.from(bridge.accounts.deviceA.password) });
  const attempts: { what: string; act: (client: RawMqtt) => Promise<void> | void }[] = [
    ...Array.from({ length: 10 }, (_, index) => ({ what: `TCP connection sending nothing (${index + 1} of 10)`, act: () => undefined })),
    { what: 'half a CONNECT, then silence', act: (client) => client.sendBytes(connect(client).subarray(0, 8)) },
    {
      what: 'a CONNECT trickled one byte every 200 ms',
      act: async (client) => {
        const bytes = connect(client);
        for (let at = 0; at < bytes.length - 1 && !client.isClosed; at++) {
          client.sendBytes(bytes.subarray(at, at + 1));
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      },
    },
    // Fixed header of a CONNECT announcing 100 000 bytes (varint a0 8d 06), then nothing.
    { what: 'a CONNECT announcing 100 kB, then silence', act: (client) => client.sendBytes(Buffer.from([0x10, 0xa0, 0x8d, 0x06, 0x00, 0x04])) },
  ];
  // On a TLS listener the handshake itself is a place to stall: plain TCP connections that never start one.
  const plain = bridge.tls === undefined ? [] : Array.from({ length: 5 }, (_, index) => ({ what: `TCP connection to the TLS listener, no handshake (${index + 1} of 5)`, act: () => undefined, tls: false }));
  return [...attempts.map((attempt) => ({ ...attempt, tls: true })), ...plain].map(async ({ what, act, tls }) => {
    const client = await RawMqtt.open(bridge.host, bridge.mqttPort, 5, tls ? bridge.tls : undefined);
    try {
      void act(client);
      classifyClose(tally, what, await client.closedWithin(bound + 3000), bound, `connectTimeoutMs ${bridge.listen.connectTimeoutMs}`, client.packets.some((packet) => packet.cmd === 'connack'));
    } finally {
      client.destroy();
    }
  });
}

function keepAliveAttempts(context: RunContext, tally: Tally): Promise<void>[] {
  const bridge = context.runBridge;
  const max = bridge.listen.maxKeepAliveSeconds;
  const attempts: { what: string; version: 4 | 5; keepalive: number; effective: number; halfPublish?: boolean }[] = [
    { what: 'MQTT 5, keep-alive 1 s, then silent', version: 5, keepalive: 1, effective: 1 },
    { what: 'MQTT 3.1.1, keep-alive 1 s, then silent', version: 4, keepalive: 1, effective: 1 },
    { what: `MQTT 5, keep-alive 0 (none asked: the server's ${max} s applies), then silent`, version: 5, keepalive: 0, effective: max },
    { what: `MQTT 5, keep-alive 600 s (capped at ${max} s), then silent`, version: 5, keepalive: 600, effective: max },
    { what: `MQTT 3.1.1, keep-alive 600 s (capped at ${max} s), then silent`, version: 4, keepalive: 600, effective: max },
    { what: 'MQTT 5, keep-alive 1 s, half a PUBLISH, then silent', version: 5, keepalive: 1, effective: 1, halfPublish: true },
  ];
  return attempts.map(async (attempt) => {
    const account = bridge.accounts.deviceA;
    const client = await RawMqtt.open(bridge.host, bridge.mqttPort, attempt.version, bridge.tls);
    try {
      const code = await client.connect({ clientId: context.id('silent'), username: account.username, password: account.password, keepalive: attempt.keepalive });
      if (code !== CODE.success) throw new Error(`${attempt.what}: CONNACK ${hex(code)}`);
      if (attempt.halfPublish) {
        const whole = client.encode({ cmd: 'publish', topic: `${bridge.config.mqtt.topicPrefix}/${account.tenant}/${account.device}`, payload: Buffer.alloc(200, 0x20), qos: 1, messageId: 1, dup: false, retain: false });
        client.sendBytes(whole.subarray(0, 40));
      }
      const silentSince = Date.now();
      const limitMs = attempt.effective * 1500;
      const bound = limitMs + SLACK_MS;
      const closed = await client.closedWithin(bound + 3000);
      const silentFor = closed === undefined ? undefined : client.opened + closed - silentSince;
      const told = attempt.version === 5 ? client.disconnectCode() : undefined;
      const serverKeepAlive = (client.packets.find((packet) => packet.cmd === 'connack') as IConnackPacket | undefined)?.properties?.serverKeepAlive;
      if (attempt.version === 5 && attempt.keepalive !== attempt.effective && serverKeepAlive !== attempt.effective) tally.note(`${attempt.what}: CONNACK server keep alive ${serverKeepAlive ?? 'absent'}, expected ${attempt.effective}`);
      if (silentFor !== undefined && silentFor <= bound && attempt.version === 5 && told !== CODE.keepAliveTimeout) {
        tally.record('unexpected', attempt.what, `closed after ${silentFor} ms of silence, but with DISCONNECT ${hex(told)} (documented 0x8d)`);
        return;
      }
      classifyClose(tally, attempt.what, silentFor, bound, `1.5 × ${attempt.effective} s keep-alive`, false, attempt.version === 5 ? `DISCONNECT ${hex(told)}, ` : '');
    } finally {
      client.destroy();
    }
  });
}

/**
 * MQTT 3.1.1 lets a client ask for no keep-alive at all, and then the server has no timer to apply
 * (documented; the bridge cannot tell such a client it applies one). Not an attempt: noted, so that
 * the report says how long such a connection stays.
 */
async function keepAliveZeroObservation(context: RunContext, tally: Tally): Promise<void> {
  const bridge = context.runBridge;
  const account = bridge.accounts.deviceA;
  const client = await RawMqtt.open(bridge.host, bridge.mqttPort, 4, bridge.tls);
  try {
    const code = await client.connect({ clientId: context.id('silent'), username: account.username, password: account.password, keepalive: 0 });
    if (code !== CODE.success) return;
    const watched = bridge.listen.maxKeepAliveSeconds * 1500 + SLACK_MS;
    const closed = await client.closedWithin(watched);
    tally.note(
      closed === undefined
        ? `observed: an MQTT 3.1.1 client asking keep-alive 0 is not timed out (still open after ${watched} ms; documented — only mqtt.listen.maxConnections bounds such connections)`
        : `observed: an MQTT 3.1.1 client asking keep-alive 0 was closed after ${closed} ms`,
    );
  } finally {
    client.destroy();
  }
}

function classifyClose(tally: Tally, what: string, closedAfterMs: number | undefined, boundMs: number, limit: string, answered: boolean, prefix = ''): void {
  if (answered) tally.record('admitted', what, 'the bridge answered a CONNECT it never received whole');
  else if (closedAfterMs === undefined) tally.record('admitted', what, `still open ${boundMs + 3000} ms later (${limit})`);
  else if (closedAfterMs > boundMs) tally.record('admitted', what, `closed only after ${closedAfterMs} ms (${limit}, bound ${boundMs} ms)`);
  else tally.record('refused', what, `${prefix}closed within ${limit} + ${SLACK_MS} ms`);
}
