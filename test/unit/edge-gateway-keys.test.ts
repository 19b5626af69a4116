import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayAuthenticator, GatewayKeyStore, MAX_CONCURRENT_VERIFICATIONS, type GatewayAuth } from '../../edge/gateway-key-store.ts';
import { gatewayKeyLine, generateGatewayKey, keyIdOf, parseGatewayKeys, withNotAfter, type GatewayIdentity } from '../../src/util/gateway-keys.ts';
import { createLogger } from '../../src/util/log.ts';

/**
 * The hashed gateway key file and its store: parsing (a bad line refuses the whole file), lookup
 * by key id and scrypt, not-after for rotation, reload on change and on SIGHUP, and the bound on
 * scrypt work for keys never verified.
 */
const FAST = { N: 1024, r: 8, p: 1 }; // test speed; the file format carries the parameters
const logger = createLogger('test', 'silent');
const T0 = Date.parse('2026-12-05T12:00:00Z');
const identity = (over: Partial<GatewayIdentity> = {}): GatewayIdentity => ({ gateway: 'gw-a', tenant: 'acme', devicePrefix: '', notAfter: null, ...over });

function keyFile(lines: readonly string[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gw-keys-')), 'gateway-keys');
  writeFileSync(file, `# test keys\n${lines.join('\n')}\n`);
  return file;
}

const kind = async (auth: GatewayAuth | Promise<GatewayAuth>): Promise<string> => (await auth).kind;

test('a generated key has its key id inside, and its line round-trips through the parser', () => {
  const { key, keyId } = generateGatewayKey();
  assert.equal(keyIdOf(key), keyId);
  const parsed = parseGatewayKeys(gatewayKeyLine(identity({ devicePrefix: 'plant1-', notAfter: T0 }), key, FAST), 'f');
  const entry = parsed.get(keyId);
  assert.ok(entry);
  assert.deepEqual({ gateway: entry.gateway, tenant: entry.tenant, devicePrefix: entry.devicePrefix, notAfter: entry.notAfter }, identity({ devicePrefix: 'plant1-', notAfter: T0 }));
  assert.equal(parseGatewayKeys(gatewayKeyLine(identity(), key, FAST), 'f').get(keyId)?.devicePrefix, '', "'*' is every device");
});

test('keys without the tpk_<12 hex>_ shape have no key id', () => {
  for (const presented of ['', 'tpk_', 'tpk_0123456789ab', 'tpk_0123456789abX', 'tpk_0123456789AB_secret', 'xyz_0123456789ab_secret', 'demo-gateway-key-0123456789']) {
    assert.equal(keyIdOf(presented), undefined, presented);
  }
});

test('any bad line refuses the whole file, naming the line', () => {
  const good = gatewayKeyLine(identity(), generateGatewayKey().key, FAST);
  const [gateway, tenant, prefix, keyId, hash] = good.split(' ') as [string, string, string, string, string];
  const bad: Record<string, string> = {
    'too few fields': `${gateway} ${tenant} ${prefix} ${keyId}`,
    'too many fields': `${good} 2026-12-31T23:00:00Z extra`,
    'unsafe tenant': `${gateway} ac/me ${prefix} ${keyId} ${hash}`,
    'unsafe gateway': `g:w ${tenant} ${prefix} ${keyId} ${hash}`,
    'unsafe prefix': `${gateway} ${tenant} pl/ant ${keyId} ${hash}`,
    'short key id': `${gateway} ${tenant} ${prefix} 0123 ${hash}`,
    'not scrypt': `${gateway} ${tenant} ${prefix} ${keyId} sha1$abc`,
    'local time': `${good} 2026-12-31T23:00:00`,
    'not a time': `${good} tomorrow`,
    'impossible date': `${good} 2026-13-45T23:00:00Z`,
  };
  for (const [what, line] of Object.entries(bad)) {
    assert.throws(() => parseGatewayKeys(`# ok\n${good.replace(keyId, 'aaaaaaaaaaaa')}\n${line}\n`, 'keys'), /keys:3: /, what);
  }
  assert.throws(() => parseGatewayKeys(`${good}\n${good}\n`, 'keys'), /keys:2: key id '[0-9a-f]+' appears twice/);
});

test('the right key is its gateway; a wrong secret under a known key id, an unknown id and a plain string are unknown', async () => {
  const { key } = generateGatewayKey();
  const store = new GatewayKeyStore(keyFile([gatewayKeyLine(identity(), key, FAST)]), logger);
  const auth = await store.authenticate(key, T0);
  assert.equal(auth.kind, 'ok');
  assert.equal(auth.kind === 'ok' && auth.identity.tenant, 'acme');
  const wrongSecret = `${key.slice(0, 17)}${'A'.repeat(key.length - 17)}`;
  assert.equal(keyIdOf(wrongSecret), keyIdOf(key));
  assert.equal(await kind(store.authenticate(wrongSecret, T0)), 'unknown');
  assert.equal(await kind(store.authenticate(generateGatewayKey().key, T0)), 'unknown');
  assert.equal(await kind(store.authenticate('demo-gateway-key-0123456789', T0)), 'unknown');
});

test('a key verified once is answered without scrypt (synchronously) until the file changes', async () => {
  const { key } = generateGatewayKey();
  const store = new GatewayKeyStore(keyFile([gatewayKeyLine(identity(), key, FAST)]), logger);
  const first = store.authenticate(key, T0);
  assert.ok(first instanceof Promise, 'the first sight of a key runs scrypt');
  assert.equal((await first).kind, 'ok');
  const again = store.authenticate(key, T0);
  assert.ok(!(again instanceof Promise), 'a verified key is a map hit');
  assert.equal(again.kind, 'ok');
});

test('rotation: during the overlap both keys work; after the old key\'s not-after only the new one does', async () => {
  const old = generateGatewayKey();
  const fresh = generateGatewayKey();
  const notAfter = T0 + 60_000;
  const store = new GatewayKeyStore(keyFile([gatewayKeyLine(identity({ notAfter }), old.key, FAST), gatewayKeyLine(identity(), fresh.key, FAST)]), logger);
  assert.equal(await kind(store.authenticate(old.key, T0)), 'ok');
  assert.equal(await kind(store.authenticate(fresh.key, T0)), 'ok');
  assert.equal(await kind(store.authenticate(old.key, notAfter)), 'ok', 'not-after is the last moment the key works');
  assert.equal(await kind(store.authenticate(old.key, notAfter + 1)), 'expired');
  assert.equal(await kind(store.authenticate(fresh.key, notAfter + 1)), 'ok');
});

test('an edited file is reloaded without a restart: a removed key stops working, an added one works', async () => {
  const first = generateGatewayKey();
  const second = generateGatewayKey();
  const file = keyFile([gatewayKeyLine(identity(), first.key, FAST)]);
  const store = new GatewayKeyStore(file, logger);
  assert.equal(await kind(store.authenticate(first.key, T0)), 'ok');
  assert.equal(await kind(store.authenticate(second.key, T0)), 'unknown');
  writeFileSync(file, `${gatewayKeyLine(identity(), second.key, FAST)}\n`);
  store.reload();
  assert.equal(await kind(store.authenticate(first.key, T0)), 'unknown', 'the verified-key memo went with the old file');
  assert.equal(await kind(store.authenticate(second.key, T0)), 'ok');
});

test('SIGHUP reloads the file at once; a file that no longer parses keeps the previous keys', async () => {
  const first = generateGatewayKey();
  const second = generateGatewayKey();
  const file = keyFile([gatewayKeyLine(identity(), first.key, FAST)]);
  const store = new GatewayKeyStore(file, logger, 3_600_000);
  store.watch();
  try {
    writeFileSync(file, `${gatewayKeyLine(identity(), second.key, FAST)}\n`);
    process.emit('SIGHUP', 'SIGHUP');
    assert.equal(await kind(store.authenticate(second.key, T0)), 'ok');
    writeFileSync(file, 'not a key line\n');
    process.emit('SIGHUP', 'SIGHUP');
    assert.equal(await kind(store.authenticate(second.key, T0)), 'ok');
    assert.equal(store.size, 1);
  } finally {
    store.close();
  }
  assert.equal(process.listenerCount('SIGHUP'), 0, 'close() removes its SIGHUP listener');
});

test('withNotAfter sets one key id\'s not-after and leaves every other line as it was', () => {
  const a = gatewayKeyLine(identity(), generateGatewayKey().key, FAST);
  const b = gatewayKeyLine(identity({ gateway: 'gw-b' }), generateGatewayKey().key, FAST);
  const text = `# comment\n${a}\n${b}\n`;
  const idB = b.split(' ')[3]!;
  const edited = withNotAfter(withNotAfter(text, idB, T0), idB, T0 + 1000);
  assert.equal(edited, `# comment\n${a}\n${b} ${new Date(T0 + 1000).toISOString()}\n`);
  assert.equal(parseGatewayKeys(edited, 'f').get(idB)?.notAfter, T0 + 1000);
  assert.throws(() => withNotAfter(text, 'ffffffffffff', T0), /no line of key id/);
});

test('a burst of one new key shares one verification; wrong secrets beyond the bound cost no scrypt', async () => {
  const { key } = generateGatewayKey();
  const store = new GatewayKeyStore(keyFile([gatewayKeyLine(identity(), key, FAST)]), logger);
  const burst = await Promise.all(Array.from({ length: 50 }, () => store.authenticate(key, T0)));
  assert.ok(burst.every((auth) => auth.kind === 'ok'), 'all 50 requests of the new key are let in');

  const other = generateGatewayKey();
  const store2 = new GatewayKeyStore(keyFile([gatewayKeyLine(identity(), other.key, FAST)]), logger);
  const wrong = (index: number): string => `${other.key.slice(0, 17)}${String(index).padStart(other.key.length - 17, 'x')}`;
  const answers = Array.from({ length: MAX_CONCURRENT_VERIFICATIONS + 5 }, (_, index) => store2.authenticate(wrong(index), T0));
  assert.equal(answers.filter((answer) => answer instanceof Promise).length, MAX_CONCURRENT_VERIFICATIONS, 'only the bound runs scrypt');
  assert.ok((await Promise.all(answers)).every((auth) => auth.kind === 'unknown'));
});

test('the authenticator tries plaintext edge.gatewayKeys first, then the file; a header that is not Bearer is unknown', async () => {
  const { key } = generateGatewayKey();
  const store = new GatewayKeyStore(keyFile([gatewayKeyLine(identity({ tenant: 'from-file' }), key, FAST)]), logger);
  const auth = new GatewayAuthenticator([{ key: 'plain-gateway-key-0123456789', gateway: 'gw-plain', tenant: 'plain' }], store);
  const plain = await auth.authenticate('Bearer plain-gateway-key-0123456789', T0);
  assert.equal(plain.kind === 'ok' && plain.identity.tenant, 'plain');
  const hashed = await auth.authenticate(`Bearer ${key}`, T0);
  assert.equal(hashed.kind === 'ok' && hashed.identity.tenant, 'from-file');
  for (const header of [undefined, '', `Basic ${key}`, `bearer ${key}`, 'Bearer ']) assert.equal(await kind(auth.authenticate(header, T0)), 'unknown', String(header));
});
