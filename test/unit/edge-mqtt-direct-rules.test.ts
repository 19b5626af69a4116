import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../src/core/errors.ts';
import { CredentialStore, credentialLine, parseCredentials, verifyPassword } from '../../edge/mqtt-server/credentials.ts';
import { REASON, RateLimit, ReceiveWindow, checkTopic, effectiveKeepAlive, keepAliveTimeoutMs } from '../../edge/mqtt-server/limits.ts';
import { createLogger } from '../../src/util/log.ts';

/** Cheap scrypt parameters: the tests check the format and the comparison, not the cost. */
const FAST = { N: 1024, r: 8, p: 1 };
const logger = createLogger('test', 'silent');

test('a credential line verifies its own password and no other', async () => {
  const line = credentialLine({ username: 'dev-1', tenant: 'acme', device: 'dev-1' }, 'right horse', FAST);
  const entry = parseCredentials(line, 'creds').get('dev-1')!;
  assert.deepEqual({ tenant: entry.tenant, device: entry.device }, { tenant: 'acme', device: 'dev-1' });
  assert.equal(await verifyPassword('right horse', entry.hash), true);
  for (const wrong of ['right hors', 'right horse ', '', 'RIGHT HORSE']) assert.equal(await verifyPassword(wrong, entry.hash), false, wrong);
});

test('two lines of one password differ (a random salt each), and both verify', async () => {
  const identity = { username: 'u', tenant: 't', device: '*' };
  const a = credentialLine(identity, 'pw', FAST);
  const b = credentialLine(identity, 'pw', FAST);
  assert.notEqual(a, b);
  for (const line of [a, b]) assert.equal(await verifyPassword('pw', parseCredentials(line, 'x').get('u')!.hash), true);
});

test('every malformed credential line fails the whole file with its line number', () => {
  const good = credentialLine({ username: 'ok', tenant: 't', device: 'd' }, 'pw', FAST);
  const hash = good.split(':')[3]!;
  const bad = [
    'only:three:fields',
    `bad name!:t:d:${hash}`,
    `u:bad/tenant:d:${hash}`,
    `u:t:dev+ice:${hash}`,
    'u:t:d:bcrypt$10$abc',
    'u:t:d:scrypt$1000$8$1$c2FsdHNhbHQ=$a2V5a2V5a2V5a2V5a2V5', // N not a power of two
    'u:t:d:scrypt$1024$8$1$c2E=$a2V5a2V5a2V5a2V5a2V5', // salt too short
    `ok:t:d:${hash}`, // duplicate of line 2
  ];
  for (const line of bad) {
    const text = `# comment\n${good}\n\n${line}\n`;
    assert.throws(() => parseCredentials(text, 'devices'), (error: unknown) => error instanceof ConfigError && /devices:4/.test(error.message), line);
  }
  assert.equal(parseCredentials(`# only comments\n\n${good}\n`, 'devices').size, 1);
});

test('the credential store picks up a changed file and keeps the old accounts when the new file is broken', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'creds-'));
  const file = join(dir, 'devices');
  const reloads: string[] = [];
  writeFileSync(file, `${credentialLine({ username: 'dev', tenant: 't', device: 'dev' }, 'old', FAST)}\n`);
  const store = new CredentialStore(file, logger, { reloaded: (outcome) => reloads.push(outcome) });
  assert.equal((await store.authenticate('dev', Buffer.from('old')))?.device, 'dev');

  writeFileSync(file, `${credentialLine({ username: 'dev', tenant: 't', device: 'dev' }, 'new', FAST)}\n`);
  store.reload();
  assert.equal(await store.authenticate('dev', Buffer.from('old')), undefined, 'the cached verification of the old password is forgotten');
  assert.equal((await store.authenticate('dev', Buffer.from('new')))?.tenant, 't');

  writeFileSync(file, 'dev:t:dev:garbage\n');
  store.reload();
  assert.equal((await store.authenticate('dev', Buffer.from('new')))?.tenant, 't', 'a broken file leaves the accounts as they were');
  assert.deepEqual(reloads, ['ok', 'invalid']);
  assert.equal(await store.authenticate(undefined, Buffer.from('new')), undefined);
  assert.equal(await store.authenticate('nobody', Buffer.from('new')), undefined);
});

test('the credential store reloads by itself when the file changes (no restart)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'creds-'));
  const file = join(dir, 'devices');
  writeFileSync(file, `${credentialLine({ username: 'a', tenant: 't', device: 'a' }, 'pw', FAST)}\n`);
  const store = new CredentialStore(file, logger, { reloaded: () => undefined }, 50);
  store.watch();
  try {
    writeFileSync(file, `${credentialLine({ username: 'b', tenant: 't', device: 'b' }, 'pw', FAST)}\n`);
    const deadline = Date.now() + 5000;
    while ((await store.authenticate('b', Buffer.from('pw'))) === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await store.authenticate('b', Buffer.from('pw')))?.device, 'b');
    assert.equal(await store.authenticate('a', Buffer.from('pw')), undefined);
  } finally {
    store.close();
  }
});

test('a topic is allowed only for the identity’s tenant and device (or any device of its tenant for a gateway)', () => {
  const device = { username: 'd1', tenant: 'acme', device: 'd1' };
  const gateway = { username: 'gw', tenant: 'acme', device: '*' };
  const cases: Array<[typeof device, string, number | 'ok', string?]> = [
    [device, 'telemetry/acme/d1', 'ok'],
    [device, 'telemetry/acme/d2', REASON.notAuthorized, 'device-mismatch'],
    [device, 'telemetry/other/d1', REASON.notAuthorized, 'tenant-mismatch'],
    [device, 'telemetry/other/d2', REASON.notAuthorized, 'tenant-mismatch'],
    [gateway, 'telemetry/acme/anything', 'ok'],
    [gateway, 'telemetry/other/anything', REASON.notAuthorized, 'tenant-mismatch'],
    [device, 'telemetry/acme', REASON.topicNameInvalid, 'bad-topic'],
    [device, 'telemetry/acme/d1/extra', REASON.topicNameInvalid, 'bad-topic'],
    [device, 'other/acme/d1', REASON.topicNameInvalid, 'bad-topic'],
    [device, 'telemetryx/acme/d1', REASON.topicNameInvalid, 'bad-topic'],
    [device, 'telemetry/acme/d 1', REASON.topicNameInvalid, 'bad-topic'],
    [gateway, 'telemetry/acme/+', REASON.topicNameInvalid, 'bad-topic'],
    [gateway, 'telemetry//d1', REASON.topicNameInvalid, 'bad-topic'],
  ];
  for (const [identity, topic, expected, reason] of cases) {
    const check = checkTopic(topic, 'telemetry', identity);
    if (expected === 'ok') {
      assert.ok(check.ok, topic);
      continue;
    }
    assert.ok(!check.ok, topic);
    assert.equal(check.code, expected, topic);
    assert.equal(check.reason, reason, topic);
  }
});

test('the receive window counts messages in and out, and says when it is exceeded', () => {
  const window = new ReceiveWindow(3);
  assert.deepEqual([window.take(), window.take(), window.full, window.take(), window.full], [true, true, false, true, true]);
  assert.equal(window.take(), false, 'a fourth unacknowledged message exceeds a maximum of 3');
  window.release();
  window.release();
  assert.equal(window.inFlight, 2);
  assert.equal(window.full, false);
  for (let i = 0; i < 5; i++) window.release();
  assert.equal(window.inFlight, 0, 'never below zero');
});

test('the rate limit allows a second’s worth, then refills with time; 0 is unlimited', () => {
  const limit = new RateLimit(10, 0);
  let allowed = 0;
  for (let i = 0; i < 25; i++) if (limit.allow(0)) allowed++;
  assert.equal(allowed, 10);
  assert.equal(limit.allow(50), false, '50 ms refill half a token');
  assert.equal(limit.allow(100), true, '100 ms refill one');
  const unlimited = new RateLimit(0, 0);
  for (let i = 0; i < 1000; i++) assert.equal(unlimited.allow(0), true);
});

test('keep-alive: capped by the maximum, none asked means the maximum only when MQTT 5 can say so, timeout 1.5×', () => {
  assert.equal(effectiveKeepAlive(60, 300, 4), 60);
  assert.equal(effectiveKeepAlive(600, 300, 5), 300);
  assert.equal(effectiveKeepAlive(600, 300, 4), 300);
  assert.equal(effectiveKeepAlive(0, 300, 5), 300);
  assert.equal(effectiveKeepAlive(0, 300, 4), 0);
  assert.equal(keepAliveTimeoutMs(10), 15_000);
  assert.equal(keepAliveTimeoutMs(0), 0);
});
