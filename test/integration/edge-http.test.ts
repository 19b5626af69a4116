import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { DeadLetterRecord, ReadingRecord } from '../../src/core/readings.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import {
  bridgeEnv,
  createTopics,
  deleteTopics,
  freePort,
  killAllBridges,
  readTopic,
  startBridge,
  testConfig,
  uniqueName,
  type BridgeProcess,
} from './edge-harness.ts';

const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('edge-http');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
const KEY = 'test-gateway-key-0123456789';
const OTHER_KEY = 'other-gateway-key-0123456789';
const gatewayKeys = JSON.stringify([
  { key: KEY, gateway: 'gw-test', tenant: 'acme' },
  { key: OTHER_KEY, gateway: 'gw-other', tenant: 'globex' },
]);
const MAX_BODY = 64 * 1024;
let bridge: BridgeProcess;

before(async () => {
  await createTopics(kafka, [
    { topic: names.readings, partitions: 2 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
  bridge = await startBridge(
    bridgeEnv(config, names, { TP_EDGE__GATEWAY_KEYS: gatewayKeys, TP_EDGE__MAX_HTTP_BODY_BYTES: String(MAX_BODY), TP_EDGE__MQTT_ENABLED: 'false' }),
  );
});

after(async () => {
  await killAllBridges();
  await deleteTopics(kafka, [names.readings, names.deadLetter]);
});

const now = Date.now();
const reading = (device: string, id: string, extra: Record<string, unknown> = {}) => ({ device, id, ts: now, metrics: { t: 1 }, ...extra });

async function post(body: string, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }, path = '/v1/readings', base = bridge.url) {
  const response = await fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: response.status, headers: response.headers, body: (await response.json()) as any };
}

async function readingsInKafka(): Promise<ReadingRecord[]> {
  return (await readTopic(kafka, names.readings))
    .map((message) => decodeRecord(message.value!))
    .flatMap((decoded) => (decoded.ok ? decoded.readings : []));
}

test('202 comes only after Kafka acknowledged: the readings are readable the moment it arrives', async () => {
  const body = JSON.stringify(Array.from({ length: 200 }, (_, i) => reading(`dev-${i % 7}`, `json-${i}`)));
  const answer = await post(body);
  assert.equal(answer.status, 202);
  assert.deepEqual(answer.body, { accepted: 200 });
  // No waiting, no polling: 202 promised they are in Kafka.
  const ids = new Set((await readingsInKafka()).filter((r) => r.id.startsWith('json-')).map((r) => r.id));
  assert.equal(ids.size, 200);
  // One record per device of the body, keyed by it, its readings in the body's order.
  const records = (await readTopic(kafka, names.readings)).flatMap((message) => {
    const decoded = decodeRecord(message.value!);
    const readings = decoded.ok ? decoded.readings.filter((r) => r.id.startsWith('json-')) : [];
    return readings.length > 0 ? [{ key: message.key?.toString(), readings }] : [];
  });
  assert.equal(records.length, 7);
  for (const record of records) {
    assert.ok(record.readings.every((r) => r.device === record.key));
    const order = record.readings.map((r) => Number(r.id.slice('json-'.length)));
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
  }
});

test('NDJSON bodies are accepted; the tenant comes from the key', async () => {
  const body = [reading('dev-1', 'nd-1'), reading('dev-2', 'nd-2')].map((item) => JSON.stringify(item)).join('\n') + '\n';
  const answer = await post(body, { authorization: `Bearer ${KEY}`, 'content-type': 'application/x-ndjson' });
  assert.deepEqual([answer.status, answer.body], [202, { accepted: 2 }]);
  const stored = (await readingsInKafka()).filter((r) => r.id.startsWith('nd-'));
  assert.deepEqual(stored.map((r) => [r.tenant, r.device, r.id]).sort(), [
    ['acme', 'dev-1', 'nd-1'],
    ['acme', 'dev-2', 'nd-2'],
  ]);
});

test('a partly valid body is 202 listing the refused items; an all-invalid body is 400', async () => {
  const partly = await post(JSON.stringify([reading('dev-1', 'p-1'), { device: 'dev-1', id: 'p-2', ts: now, metrics: { t: 'hot' } }, reading('dev-1', 'p-3', { ts: now + 86_400_000 })]));
  assert.equal(partly.status, 202);
  assert.equal(partly.body.accepted, 1);
  assert.deepEqual(partly.body.rejected.map((r: any) => [r.index, r.reason]), [
    [1, 'schema'],
    [2, 'event-time-too-far-ahead'],
  ]);
  assert.ok(partly.body.rejected.every((r: any) => typeof r.detail === 'string' && r.detail.length > 0));

  const malformed = await post('[{"device":"dev-1",');
  assert.equal(malformed.status, 400);
  assert.deepEqual([malformed.body.accepted, malformed.body.rejected[0].reason, malformed.body.rejected[0].index], [0, 'malformed-json', null]);

  const allBad = await post(JSON.stringify([{ device: 'dev-1', id: 'x' }]));
  assert.equal(allBad.status, 400);
  assert.equal(allBad.body.rejected[0].reason, 'schema');

  const deadLetters = (await readTopic(kafka, names.deadLetter)).map((message) => JSON.parse(message.value!.toString()) as DeadLetterRecord);
  assert.ok(deadLetters.some((record) => record.source === 'http' && record.origin === 'gw-test' && record.reason === 'malformed-json'));
  assert.ok(deadLetters.some((record) => record.reason === 'event-time-too-far-ahead' && record.index === 2));
});

test('401 without a key or with an unknown key', async () => {
  const body = JSON.stringify([reading('dev-1', 'a-1')]);
  const missing = await post(body, {});
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await post(body, { authorization: 'Bearer not-a-known-key-000000' })).status, 401);
  assert.equal((await post(body, { authorization: KEY })).status, 401, 'the Bearer scheme is required');
});

test('403 when a valid key names another tenant (query, header or item)', async () => {
  const body = JSON.stringify([reading('dev-1', 'f-1')]);
  assert.equal((await post(body, { authorization: `Bearer ${KEY}` }, '/v1/readings?tenant=globex')).status, 403);
  assert.equal((await post(body, { authorization: `Bearer ${KEY}`, 'x-tenant': 'globex' })).status, 403);
  const foreignItem = await post(JSON.stringify([reading('dev-1', 'f-2'), reading('dev-1', 'f-3', { tenant: 'globex' })]));
  assert.equal(foreignItem.status, 403);
  assert.equal((await post(body, { authorization: `Bearer ${KEY}` }, '/v1/readings?tenant=acme')).status, 202, 'naming its own tenant is fine');
  assert.equal((await readingsInKafka()).filter((r) => r.id === 'f-2').length, 0, 'nothing of a forbidden request is written');
});

test('413 over the body limit, declared or counted while streaming, answered at the limit', async () => {
  const big = JSON.stringify(Array.from({ length: 2000 }, (_, i) => reading('dev-1', `big-${i}`)));
  assert.ok(big.length > MAX_BODY);
  const declared = await post(big);
  assert.equal(declared.status, 413);

  // Chunked (no Content-Length): the bridge counts while reading and answers at the limit.
  const streamed = await new Promise<number>((resolve, reject) => {
    const req = request(`${bridge.url}/v1/readings`, { method: 'POST', headers: { authorization: `Bearer ${KEY}`, 'transfer-encoding': 'chunked' } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    // A client still sending when the server cuts the connection may see EPIPE; the answer counts.
    req.on('error', (error) => setTimeout(() => reject(error), 500));
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let sent = 0;
    const write = (): void => {
      // Keeps sending far past the limit unless the server cut the connection.
      while (sent < 10 * MAX_BODY) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      req.end();
    };
    write();
  });
  assert.equal(streamed, 413);
});

test('503 with Retry-After while saturated; readyz reports it', async () => {
  const saturating = await startBridge(
    bridgeEnv(config, { ...names, run: `${run}-sat` }, {
      TP_EDGE__GATEWAY_KEYS: gatewayKeys,
      TP_EDGE__MQTT_ENABLED: 'false',
      TP_EDGE__MAX_IN_FLIGHT_READINGS: '1',
    }),
  );
  const big = JSON.stringify(Array.from({ length: 1000 }, (_, i) => reading(`dev-${i % 10}`, `sat-${i}`)));
  const small = JSON.stringify([reading('dev-1', 'sat-small')]);
  const bigAnswers: Array<Promise<number>> = [];
  const statuses: number[] = [];
  let retryAfter: string | null = null;
  let running = true;
  for (let i = 0; i < 3; i++) bigAnswers.push(post(big, undefined, '/v1/readings', saturating.url).then((answer) => answer.status));
  void Promise.all(bigAnswers).then(() => (running = false));
  const probes = (async () => {
    for (let i = 0; i < 200 && (running || statuses.length < 5); i++) {
      const answer = await post(small, undefined, '/v1/readings', saturating.url);
      statuses.push(answer.status);
      if (answer.status === 503) retryAfter ??= answer.headers.get('retry-after');
    }
  })();
  const bigStatuses = await Promise.all(bigAnswers);
  await probes;
  const all = [...bigStatuses, ...statuses];
  assert.ok(all.includes(503), `some request met the saturated bridge: ${all.join(',')}`);
  assert.ok(all.includes(202), 'the rest were taken');
  assert.equal(retryAfter ?? '1', '1');
  assert.match(saturating.output(), /"state":"saturated"/);
  await saturating.stop();
});

test('503 with Retry-After when Kafka is unreachable; readyz says why', async () => {
  const deadPort = await freePort();
  const unreachable = await startBridge(
    { ...bridgeEnv(config, { ...names, run: `${run}-nokafka` }, { TP_EDGE__GATEWAY_KEYS: gatewayKeys, TP_EDGE__MQTT_ENABLED: 'false' }), TP_KAFKA__BROKERS: `127.0.0.1:${deadPort}` },
    { waitFor: 'alive' },
  );
  const answer = await post(JSON.stringify([reading('dev-1', 'u-1')]), undefined, '/v1/readings', unreachable.url);
  assert.equal(answer.status, 503);
  assert.equal(answer.headers.get('retry-after'), '5');
  assert.equal(answer.body.error, 'kafka-unavailable');
  const ready = await fetch(`${unreachable.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal(((await ready.json()) as any).state, 'kafka-unavailable');
  assert.equal((await fetch(`${unreachable.url}/healthz`)).status, 200, 'alive all the same');
  assert.equal(await unreachable.stop(), 0, 'stops cleanly even though Kafka never came');
});
