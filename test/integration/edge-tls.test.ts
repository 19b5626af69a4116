import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createBridge, type Bridge } from '../../edge/bridge.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/util/log.ts';
import { writeCredentialFile } from '../../src/stack/device-credentials.ts';
import { createStandaloneCa, ensureLocalTls, issueDeviceCertificate, localTlsFiles, type DeviceCertificate } from '../../src/stack/tls.ts';
import { createTopics, deleteTopics, eventually, freePort, readTopic, testConfig, uniqueName } from './edge-harness.ts';

/**
 * TLS on the bridge's device- and gateway-facing listeners against the real Kafka: HTTPS intake,
 * MQTT over TLS with username/password and with device client certificates (identity from the
 * certificate, topic held to it: 0x87 otherwise, counted and dead-lettered), and the refusals:
 * plaintext clients on a TLS port, a certificate of another CA, an expired certificate.
 */
const base = testConfig();
const kafka = base.kafka;
const run = uniqueName('tls');
const readings = `${run}-readings`;
const deadLetter = `${run}-dead-letter`;
const tenant = run.replace(/[^A-Za-z0-9_-]/g, '_');
const gatewayKey = 'tls-test-gateway-key-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'edge-tls-'));
const stack = { ...base.stack, dataDir: dir };
const files = localTlsFiles(stack);

let bridge: Bridge;
let httpPort = 0;
let mqttPort = 0;
let ca: Buffer;
let certified: DeviceCertificate;
let expired: DeviceCertificate;
let foreign: DeviceCertificate;

before(async () => {
  ensureLocalTls(stack);
  ca = readFileSync(files.caFile);
  certified = issueDeviceCertificate(stack, { tenant, device: 'c1' });
  expired = issueDeviceCertificate(stack, { tenant, device: 'old', days: -1 });
  foreign = issueDeviceCertificate(stack, { tenant, device: 'c1', dir: join(dir, 'foreign'), ca: createStandaloneCa(join(dir, 'other-ca'), 'another CA') });
  const credentialsFile = join(dir, 'devices');
  writeCredentialFile(credentialsFile, [{ username: 'u1', password: 'u1-secret', tenant, device: 'u1' }]);
  await createTopics(kafka, [
    { topic: readings, partitions: 2 },
    { topic: deadLetter, partitions: 1 },
  ]);
  [httpPort, mqttPort] = [await freePort(), await freePort()];
  const config = loadConfig({
    env: {},
    overrides: {
      kafka: { brokers: kafka.brokers, security: kafka.security, readingsTopic: readings, deadLetterTopic: deadLetter },
      mqtt: { mode: 'direct', credentialsFile, listen: { port: mqttPort, connectTimeoutMs: 500, maxConnections: 10 } },
      edge: {
        httpPort,
        httpLimits: { headersTimeoutMs: 500 },
        gatewayKeys: [{ key: gatewayKey, gateway: 'gw-tls', tenant }],
        tls: { mode: 'required', certFile: files.certFile, keyFile: files.keyFile, clientCaFile: files.caFile },
      },
    },
  });
  bridge = createBridge(config, createLogger('edge-tls-test', 'warn'));
  await bridge.start();
});

after(async () => {
  await bridge?.stop(5000);
  await deleteTopics(kafka, [readings, deadLetter]);
  rmSync(dir, { recursive: true, force: true });
});

async function metric(series: RegExp): Promise<number> {
  const text = await bridge.metrics.registry.metrics();
  let total = 0;
  for (const line of text.split('\n')) if (!line.startsWith('#') && series.test(line)) total += Number(line.split(' ').pop());
  return total;
}

function httpsPost(path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: httpPort, path, method: 'POST', ca, headers: { 'content-type': 'application/json', ...headers } }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => (text += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Connects over MQTT 5; resolves with the client once CONNACK arrived, rejects with the error otherwise. */
async function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, clientId: uniqueName('dev'), ...options });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('connection closed before CONNACK')));
    });
  } catch (error) {
    client.end(true);
    throw error;
  }
  return client;
}

/** The PUBACK reason code of one QoS 1 publish (0: accepted). */
function publishCode(client: MqttClient, topic: string, id: string): Promise<number> {
  const body = JSON.stringify({ id, ts: Date.now(), metrics: { v: 1 } });
  return new Promise((resolve) =>
    client.publish(topic, body, { qos: 1 }, (error, packet) => resolve(error ? ((error as { code?: number }).code ?? -1) : ((packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0))),
  );
}

const mqtts = (): string => `mqtts://127.0.0.1:${mqttPort}`;

async function readingIds(): Promise<string[]> {
  const messages = await readTopic(kafka, readings);
  return messages.map((message) => message.value?.toString('latin1') ?? '').filter((value) => value.includes(tenant));
}

test('HTTPS intake: a reading is accepted (202) and written to Kafka; plain HTTP on the port is refused and counted', async () => {
  const body = JSON.stringify([{ device: 'gw-dev', id: 'https-1', ts: Date.now(), metrics: { v: 1 } }]);
  const answer = await httpsPost('/v1/readings', body, { authorization: `Bearer ${gatewayKey}` });
  assert.equal(answer.status, 202, answer.body);
  assert.deepEqual(JSON.parse(answer.body), { accepted: 1 });
  const written = await eventually(readingIds, (values) => values.some((value) => value.includes('https-1')), 20_000);
  assert.ok(written.some((value) => value.includes('https-1')), 'the HTTPS reading is in the readings topic');

  const before = await metric(/tp_edge_tls_handshake_failures_total\{listener="http",reason="handshake-failed"\}/);
  const plain = await fetch(`http://127.0.0.1:${httpPort}/v1/readings`, { method: 'POST', body, headers: { authorization: `Bearer ${gatewayKey}` } }).then(
    (response) => response.status,
    (error: Error) => error.message,
  );
  assert.equal(plain, 'fetch failed', 'a plaintext request gets no HTTP answer');
  const counted = await eventually(() => metric(/tp_edge_tls_handshake_failures_total\{listener="http",reason="handshake-failed"\}/), (value) => value > before, 5000, 50);
  assert.ok(counted > before);
});

test('MQTTS with username/password: a device publishes its own topic', async () => {
  const client = await connect(mqtts(), { username: 'u1', password: 'u1-secret', ca });
  try {
    assert.equal(await publishCode(client, `telemetry/${tenant}/u1`, 'pw-1'), 0);
  } finally {
    client.end(true);
  }
});

test('MQTTS with a device certificate: identity from the certificate; another device or tenant is 0x87, counted and dead-lettered', async () => {
  const refusedBefore = await metric(/tp_edge_mqtt_direct_refusals_total\{reason_code="0x87",packet="publish"\}/);
  // No username or password: the certificate alone identifies the device.
  const client = await connect(mqtts(), { ca, cert: readFileSync(certified.certFile), key: readFileSync(certified.keyFile) });
  try {
    assert.equal(await publishCode(client, `telemetry/${tenant}/c1`, 'cert-1'), 0);
    assert.equal(await publishCode(client, `telemetry/${tenant}/c2`, 'cert-other-device'), 0x87);
    assert.equal(await publishCode(client, `telemetry/another_tenant/c1`, 'cert-other-tenant'), 0x87);
  } finally {
    client.end(true);
  }
  assert.equal(await metric(/tp_edge_mqtt_direct_refusals_total\{reason_code="0x87",packet="publish"\}/), refusedBefore + 2);
  const letters = await eventually(
    async () => (await readTopic(kafka, deadLetter)).map((message) => JSON.parse(message.value!.toString()) as { reason: string; origin: string }),
    (values) => values.length >= 2,
    20_000,
  );
  assert.deepEqual(letters.map((letter) => `${letter.reason} ${letter.origin}`).sort(), [`device-mismatch telemetry/${tenant}/c2`, 'tenant-mismatch telemetry/another_tenant/c1']);
  const written = await eventually(readingIds, (values) => values.some((value) => value.includes('cert-1')), 20_000);
  assert.ok(written.some((value) => value.includes('cert-1')));
  assert.ok(!written.some((value) => value.includes('cert-other')), 'refused readings are not in the readings topic');
});

test('plaintext MQTT on the TLS port gets no CONNACK, and is counted', async () => {
  const before = await metric(/tp_edge_tls_handshake_failures_total\{listener="mqtt",reason="handshake-failed"\}/);
  await assert.rejects(connect(`mqtt://127.0.0.1:${mqttPort}`, { username: 'u1', password: 'u1-secret' }));
  assert.ok((await eventually(() => metric(/tp_edge_tls_handshake_failures_total\{listener="mqtt",reason="handshake-failed"\}/), (value) => value > before, 5000, 50)) > before);
});

test('a certificate of another CA, and an expired one, end the connection before MQTT, and are counted', async () => {
  for (const [certificate, reason] of [
    [foreign, 'untrusted-certificate'],
    [expired, 'expired-certificate'],
  ] as const) {
    const series = new RegExp(`tp_edge_tls_handshake_failures_total\\{listener="mqtt",reason="${reason}"\\}`);
    const before = await metric(series);
    // A username that would be accepted: the certificate's refusal must win over it.
    await assert.rejects(connect(mqtts(), { ca, cert: readFileSync(certificate.certFile), key: readFileSync(certificate.keyFile), username: 'u1', password: 'u1-secret' }), reason);
    assert.equal(await eventually(() => metric(series), (value) => value > before, 5000, 50), before + 1, reason);
  }
});

test('a connection that never completes its TLS handshake is closed within the connect timeout (MQTT) and the header timeout (HTTPS), and counted', async () => {
  for (const [listener, port] of [
    ['mqtt', mqttPort],
    ['http', httpPort],
  ] as const) {
    const series = new RegExp(`tp_edge_tls_handshake_failures_total\\{listener="${listener}",reason="handshake-failed"\\}`);
    const before = await metric(series);
    const started = Date.now();
    // TCP only: not a byte of a ClientHello. Node's own handshake timeout would hold it for 120 s.
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const socket = connectTcp(port, '127.0.0.1');
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`${listener}: a silent connection was still open after 5 s`));
      }, 5000);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(Date.now() - started);
      });
    });
    assert.ok(closedAfter < 3000, `${listener}: closed after ${closedAfter} ms`);
    assert.ok((await eventually(() => metric(series), (value) => value > before, 5000, 50)) > before, `${listener}: counted`);
  }
});

test('connections still in their TLS handshake count against the connection cap: beyond it they are closed at once', async () => {
  // mqtt.listen.maxConnections is 10 here, plus the endpoint's 64 sockets of room for refusals: of
  // 90 silent connections at least 16 must be closed at once, not after the 500 ms handshake timeout.
  const lifetimes = await Promise.all(
    Array.from({ length: 90 }, () =>
      new Promise<number>((resolve) => {
        const opened = Date.now();
        connectTcp(mqttPort, '127.0.0.1')
          .on('error', () => undefined)
          .once('close', () => resolve(Date.now() - opened));
      }),
    ),
  );
  const early = lifetimes.filter((ms) => ms < 250).length;
  assert.ok(early >= 16, `closed within 250 ms: ${early} of 90 (lifetimes ${[...lifetimes].sort((a, b) => a - b).join(', ')})`);  // Once they are gone the count is back down: a device connects again.
  const client = await connect(mqtts(), { username: 'u1', password: 'u1-secret', ca });
  client.end(true);
});
