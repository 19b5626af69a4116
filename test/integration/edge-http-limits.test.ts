import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { DeadLetterRecord } from '../../src/core/readings.ts';
import { bridgeEnv, createTopics, deleteTopics, eventually, killAllBridges, readTopic, startBridge, testConfig, uniqueName, type BridgeProcess } from './edge-harness.ts';

/**
 * The HTTP intake's abuse limits against a real bridge: slow clients are closed within the
 * configured timeouts, connections beyond the caps are closed at once, a flood over the rate limit
 * gets 429 with Retry-After, and 403 and 413 are counted and dead-lettered. Every refusal shows in
 * tp_edge_rejected_total{source="http"}.
 */
const decodeDeadLetter = (value: Buffer): DeadLetterRecord => JSON.parse(value.toString('utf8')) as DeadLetterRecord;
const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('edge-http-limits');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
const KEY = 'limits-gateway-key-0123456789';
const HEADERS_TIMEOUT_MS = 2000;
const BODY_IDLE_MS = 2000;
const MAX_BODY = 16 * 1024;
let bridge: BridgeProcess;

before(async () => {
  await createTopics(kafka, [
    { topic: names.readings, partitions: 1 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
  bridge = await startBridge(
    bridgeEnv(config, names, {
      TP_EDGE__GATEWAY_KEYS: JSON.stringify([{ key: KEY, gateway: 'gw-limits', tenant: 'acme' }]),
      TP_EDGE__MQTT_ENABLED: 'false',
      TP_EDGE__MAX_HTTP_BODY_BYTES: String(MAX_BODY),
      TP_EDGE__HTTP_LIMITS__HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      TP_EDGE__HTTP_LIMITS__BODY_IDLE_TIMEOUT_MS: String(BODY_IDLE_MS),
      TP_EDGE__HTTP_LIMITS__REQUEST_TIMEOUT_MS: '5000',
      TP_EDGE__HTTP_LIMITS__MAX_CONNECTIONS: '400',
      TP_EDGE__HTTP_LIMITS__MAX_CONNECTIONS_PER_SOURCE: '300',
      // The slow clients must reach the body timeout, not the gateway's limit; the flood is one device's.
      TP_EDGE__HTTP_LIMITS__GATEWAY_REQUESTS_PER_SECOND: '1000',
      TP_EDGE__HTTP_LIMITS__GATEWAY_BURST: '1000',
      TP_EDGE__HTTP_LIMITS__DEVICE_READINGS_PER_SECOND: '5',
      TP_EDGE__HTTP_LIMITS__DEVICE_BURST: '10',
    }),
  );
});

after(async () => {
  await killAllBridges();
  await deleteTopics(kafka, [names.readings, names.deadLetter]);
});

async function rejected(): Promise<Record<string, number>> {
  const text = await (await fetch(`${bridge.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/tp_edge_rejected_total\{source="http",reason="([^"]+)"\} (\d+)/g)) counts[match[1]!] = Number(match[2]);
  return counts;
}

/** Opens a raw connection and reports when the server closed it (ms after open). */
function slowClient(first: string): Promise<{ socket: Socket; closed: Promise<number> }> {
  const url = new URL(bridge.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname, () => {
      const opened = Date.now();
      socket.write(first);
      socket.resume(); // 'close' comes only once the server's end of stream was read
      resolve({ socket, closed: new Promise((done) => socket.once('close', () => done(Date.now() - opened))) });
    });
    socket.on('error', () => undefined); // a reset is one way of being closed; 'close' follows
    socket.once('error', (error) => (socket.connecting ? reject(error) : undefined));
  });
}

test('200 slow-body and 50 slow-header connections are all closed within the configured timeouts, and counted', async () => {
  const before = await rejected();
  const slowBody = await Promise.all(
    Array.from({ length: 200 }, () =>
      slowClient(`POST /v1/readings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[`),
    ),
  );
  const slowHeader = await Promise.all(Array.from({ length: 50 }, () => slowClient('POST /v1/readings HTTP/1.1\r\nHost: x\r\n')));
  const bodyClosed = await Promise.all(slowBody.map((client) => client.closed));
  const headerClosed = await Promise.all(slowHeader.map((client) => client.closed));
  // Body: idle timeout, then at most the 1 s linger that lets a client read its 408; headers: Node checks each second.
  assert.ok(Math.max(...bodyClosed) < BODY_IDLE_MS + 2500, `a slow-body connection stayed ${Math.max(...bodyClosed)} ms`);
  assert.ok(Math.max(...headerClosed) < HEADERS_TIMEOUT_MS + 2500, `a slow-header connection stayed ${Math.max(...headerClosed)} ms`);
  const after = await rejected();
  assert.ok((after['body-timeout'] ?? 0) - (before['body-timeout'] ?? 0) >= 200 - 20, `body-timeout counted ${after['body-timeout']}`);
  assert.ok((after['header-timeout'] ?? 0) - (before['header-timeout'] ?? 0) >= 50, `header-timeout counted ${after['header-timeout']}`);
});

test('connections beyond the per-source cap are closed at once and counted', async () => {
  const before = await rejected();
  const clients = await Promise.all(Array.from({ length: 320 }, () => slowClient('GET /healthz HTTP/1.1\r\nHost: x\r\n')));
  const early = await Promise.all(clients.map((client) => Promise.race([client.closed, new Promise<number>((done) => setTimeout(() => done(Infinity), 500))])));
  const closedAtOnce = early.filter((ms) => ms < 500).length;
  assert.ok(closedAtOnce >= 20, `${closedAtOnce} of 320 were closed at once (cap 300)`);
  for (const client of clients) client.socket.destroy();
  const after = await rejected();
  assert.ok((after['source-connection-cap'] ?? 0) - (before['source-connection-cap'] ?? 0) >= 20);
});

test("a flood over a device's rate limit gets 429 with Retry-After, and is counted", async () => {
  const before = await rejected();
  const body = (): string => JSON.stringify([{ device: 'd-flood', id: uniqueName('r'), ts: Date.now(), metrics: { t: 1 } }]);
  const statuses = await Promise.all(
    Array.from({ length: 60 }, async () => {
      const response = await fetch(`${bridge.url}/v1/readings`, { method: 'POST', body: body(), headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } });
      await response.arrayBuffer();
      return { status: response.status, retryAfter: response.headers.get('retry-after') };
    }),
  );
  const limited = statuses.filter((answer) => answer.status === 429);
  assert.ok(limited.length >= 40, `only ${limited.length} of 60 got 429 (burst 10)`);
  assert.ok(statuses.some((answer) => answer.status === 202), 'the burst was admitted');
  for (const answer of limited) assert.match(answer.retryAfter ?? '', /^[1-9][0-9]*$/);
  const after = await rejected();
  assert.equal((after['rate-limited'] ?? 0) - (before['rate-limited'] ?? 0), limited.length);
});

test('403 and 413 are counted in tp_edge_rejected_total and dead-lettered, without the key', async () => {
  const before = await rejected();
  const foreign = JSON.stringify([{ tenant: 'globex', device: 'd-403', id: uniqueName('r'), ts: Date.now(), metrics: { t: 1 } }]);
  const forbidden = await fetch(`${bridge.url}/v1/readings`, { method: 'POST', body: foreign, headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } });
  assert.equal(forbidden.status, 403);
  const big = `[${'1,'.repeat(MAX_BODY)}1]`;
  // Chunked, so that the limit is found while reading (a declared length is refused unread).
  const stream = new ReadableStream({ start(controller) { controller.enqueue(new TextEncoder().encode(big)); controller.close(); } });
  const tooLarge = await fetch(`${bridge.url}/v1/readings`, { method: 'POST', body: stream, duplex: 'half', headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' } } as RequestInit);
  assert.equal(tooLarge.status, 413);
  const after = await eventually(rejected, (counts) => (counts['tenant-mismatch'] ?? 0) > (before['tenant-mismatch'] ?? 0) && (counts['payload-too-large'] ?? 0) > (before['payload-too-large'] ?? 0), 10_000, 200);
  assert.ok(after['tenant-mismatch']! > (before['tenant-mismatch'] ?? 0));
  const letters = await eventually(
    async () => (await readTopic(kafka, names.deadLetter)).map((message) => decodeDeadLetter(message.value!)),
    (found) => found.some((letter) => letter.reason === 'tenant-mismatch') && found.some((letter) => letter.reason === 'payload-too-large'),
    15_000,
  );
  for (const letter of letters) {
    assert.equal(letter.source, 'http');
    assert.equal(letter.origin, 'gw-limits');
    assert.equal(JSON.stringify(letter).includes(KEY), false, 'a dead letter holds the gateway key');
  }
});
