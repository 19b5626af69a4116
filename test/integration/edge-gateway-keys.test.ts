import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayKeyLine, generateGatewayKey, type GatewayIdentity } from '../../src/util/gateway-keys.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { bridgeEnv, createTopics, deleteTopics, eventually, killAllBridges, readTopic, startBridge, testConfig, uniqueName, type BridgeProcess } from './edge-harness.ts';

/**
 * Hashed gateway keys (edge.hashedGatewayKeysFile) against a real bridge: a wrong key is 401, a
 * key of one tenant writing another is 403, a device outside the key's prefix is 403 and nothing
 * of the request is written; a key added to the file works without a restart, and in a rotation
 * the old key works until its not-after time and is then 401 `expired-gateway-key` while the new
 * one goes on. Each refusal is counted under its own reason.
 */
const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('edge-gw-keys');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
const FAST = { N: 1024, r: 8, p: 1 };
const acme = (over: Partial<GatewayIdentity> = {}): GatewayIdentity => ({ gateway: 'gw-acme', tenant: 'acme', devicePrefix: '', notAfter: null, ...over });
const anyDevice = generateGatewayKey().key;
const plant1Only = generateGatewayKey().key;
const oldKey = generateGatewayKey().key;
const newKey = generateGatewayKey().key;
/** The old key's end of overlap: far enough for the overlap checks below, near enough to wait for. */
const OVERLAP_MS = 15_000;
const oldNotAfter = Date.now() + OVERLAP_MS;
const file = join(mkdtempSync(join(tmpdir(), 'gw-keys-it-')), 'gateway-keys');
let bridge: BridgeProcess;

before(async () => {
  writeFileSync(
    file,
    [
      gatewayKeyLine(acme(), anyDevice, FAST),
      gatewayKeyLine(acme({ gateway: 'gw-plant1', devicePrefix: 'plant1-' }), plant1Only, FAST),
      gatewayKeyLine(acme({ gateway: 'gw-rotating', notAfter: oldNotAfter }), oldKey, FAST),
    ].join('\n') + '\n',
  );
  await createTopics(kafka, [
    { topic: names.readings, partitions: 1 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
  bridge = await startBridge(bridgeEnv(config, names, { TP_EDGE__HASHED_GATEWAY_KEYS_FILE: file, TP_EDGE__MQTT_ENABLED: 'false' }));
});

after(async () => {
  await killAllBridges();
  await deleteTopics(kafka, [names.readings, names.deadLetter]);
});

let sequence = 0;
const body = (devices: readonly string[], tenant?: string): string =>
  JSON.stringify(devices.map((device) => ({ device, id: `r-${sequence++}`, ts: Date.now(), metrics: { t: 1 }, ...(tenant ? { tenant } : {}) })));

async function post(key: string, payload: string, headers: Record<string, string> = {}): Promise<{ status: number; body: { error?: string; detail?: string; accepted?: number } }> {
  const response = await fetch(`${bridge.url}/v1/readings`, { method: 'POST', body: payload, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers } });
  return { status: response.status, body: (await response.json()) as { error?: string; detail?: string; accepted?: number } };
}

async function rejected(): Promise<Record<string, number>> {
  const text = await (await fetch(`${bridge.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/tp_edge_rejected_total\{source="http",reason="([^"]+)"\} (\d+)/g)) counts[match[1]!] = Number(match[2]);
  return counts;
}

test('a key from the file is accepted; a wrong secret under its key id and an unknown key are 401 unknown-gateway-key', async () => {
  assert.equal((await post(anyDevice, body(['dev-1']))).status, 202);
  const before = await rejected();
  const wrongSecret = `${anyDevice.slice(0, 17)}${'B'.repeat(anyDevice.length - 17)}`;
  for (const key of [wrongSecret, generateGatewayKey().key, 'demo-gateway-key-0123456789']) assert.equal((await post(key, body(['dev-1']))).status, 401, key);
  assert.equal((await rejected())['unknown-gateway-key'], (before['unknown-gateway-key'] ?? 0) + 3);
});

test('a key of tenant acme writing tenant globex is 403, whether the header or a reading names it', async () => {
  const before = await rejected();
  const byHeader = await post(anyDevice, body(['dev-1']), { 'x-tenant': 'globex' });
  assert.equal(byHeader.status, 403);
  assert.match(byHeader.body.detail ?? '', /may write tenant acme only/);
  assert.equal((await post(anyDevice, body(['dev-1'], 'globex'))).status, 403);
  assert.equal((await rejected())['tenant-mismatch'], (before['tenant-mismatch'] ?? 0) + 2);
});

test("a device outside the key's prefix is 403 device-not-allowed and nothing of the request is accepted", async () => {
  const before = await rejected();
  assert.equal((await post(plant1Only, body(['plant1-a', 'plant1-b']))).status, 202);
  const firstRefusedId = `r-${sequence}`;
  const mixed = await post(plant1Only, body(['plant1-a', 'plant2-x']));
  assert.equal(mixed.status, 403);
  assert.match(mixed.body.detail ?? '', /starting with 'plant1-' only, not 'plant2-x'/);
  assert.equal((await post(plant1Only, body(['xplant1-a']))).status, 403, 'a prefix, not a substring');
  assert.equal((await rejected())['device-not-allowed'], (before['device-not-allowed'] ?? 0) + 2);
  // A 202 after these (Kafka acknowledged it) bounds what the topic holds from before it.
  const marker = `r-${sequence}`;
  assert.equal((await post(plant1Only, body(['plant1-c']))).status, 202);
  const ids = (await readTopic(kafka, names.readings)).flatMap((message) => {
    const decoded = decodeRecord(message.value!);
    return decoded.ok ? decoded.readings.map((reading) => reading.id) : [];
  });
  assert.ok(ids.includes(marker));
  const refused = Array.from({ length: Number(marker.slice(2)) - Number(firstRefusedId.slice(2)) }, (_, i) => `r-${Number(firstRefusedId.slice(2)) + i}`);
  assert.deepEqual(ids.filter((id) => refused.includes(id)), [], 'no reading of a refused request was written');
});

test('rotation: a key added to the file works without a restart; both work in the overlap; after its not-after the old key is 401 expired-gateway-key', async () => {
  assert.equal((await post(newKey, body(['dev-1']))).status, 401, 'not in the file yet');
  appendFileSync(file, `${gatewayKeyLine(acme({ gateway: 'gw-rotating' }), newKey, FAST)}\n`);
  await eventually(() => post(newKey, body(['dev-1'])), (answer) => answer.status === 202, 10_000, 200);
  assert.ok(Date.now() < oldNotAfter, `the overlap (${OVERLAP_MS} ms) ended before the new key was seen; the file reload took too long`);
  assert.equal((await post(oldKey, body(['dev-1']))).status, 202, 'the old key still works during the overlap');

  const before = await rejected();
  const expired = await eventually(() => post(oldKey, body(['dev-1'])), (answer) => answer.status !== 202, OVERLAP_MS + 10_000, 500);
  assert.ok(Date.now() >= oldNotAfter, 'refused only after its not-after time');
  assert.equal(expired.status, 401);
  assert.match(expired.body.detail ?? '', /expired/);
  assert.equal((await rejected())['expired-gateway-key'], (before['expired-gateway-key'] ?? 0) + 1);
  assert.equal((await post(newKey, body(['dev-1']))).status, 202, 'the new key goes on');
});
