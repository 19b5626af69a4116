import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayKeyStore } from '../../edge/gateway-key-store.ts';
import { loadStackConfig } from '../../src/stack/config.ts';
import { localClickhouseSecretsFile, localCredentialsEnv, localGatewayKeysFile, localSecrets, localSecretsFile, withLocalCredentials } from '../../src/stack/local-credentials.ts';
import { createLogger } from '../../src/util/log.ts';

/**
 * The local stack's generated credentials: made once, kept (mode 0600), completed when an older
 * file lacks a secret; the bridge gets the gateway key's hash, the clients the key; every ClickHouse
 * role gets a password. A private data folder and an unused port, so the running stack's files are
 * not touched.
 */
function privateStack() {
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-local-creds-'));
  const config = loadStackConfig({ env: {}, overrides: { stack: { dataDir, clickhouseHttpPort: 1024 + Math.floor(Math.random() * 500) } } });
  const cleanup = (): void => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(localClickhouseSecretsFile(config.stack), { force: true });
  };
  return { config, cleanup };
}

test('generated once, the same on every later call, files readable by the owner only', () => {
  const { config, cleanup } = privateStack();
  try {
    const first = localSecrets(config.stack);
    const again = localSecrets(config.stack);
    assert.deepEqual(again, first);
    assert.match(first.gatewayKey, /^tpk_[0-9a-f]{12}_/);
    assert.equal(new Set([first.clickhouse.ingest, first.clickhouse.reader, first.clickhouse.admin]).size, 3);
    for (const file of [localSecretsFile(config.stack), localClickhouseSecretsFile(config.stack), localGatewayKeysFile(config.stack)]) {
      assert.equal(statSync(file).mode & 0o777, 0o600, file);
    }
  } finally {
    cleanup();
  }
});

test('the key file verifies the demo key the clients get, and holds no plaintext', async () => {
  const { config, cleanup } = privateStack();
  try {
    const { gatewayKey } = localSecrets(config.stack);
    const text = readFileSync(localGatewayKeysFile(config.stack), 'utf8');
    assert.ok(!text.includes(gatewayKey.slice(17)), 'the secret part is not in the file');
    const store = new GatewayKeyStore(localGatewayKeysFile(config.stack), createLogger('test', 'silent'));
    const auth = await store.authenticate(gatewayKey, Date.now());
    assert.equal(auth.kind === 'ok' && `${auth.identity.gateway}/${auth.identity.tenant}`, 'gw-demo/demo');
  } finally {
    cleanup();
  }
});

test('an older file lacking a secret is completed; the secrets it had are kept', () => {
  const { config, cleanup } = privateStack();
  try {
    const file = localClickhouseSecretsFile(config.stack);
    localSecrets(config.stack);
    writeFileSync(file, JSON.stringify({ ingest: 'kept-ingest', reader: 'kept-reader', admin: 'kept-admin' }), { mode: 0o600 });
    const completed = localSecrets(config.stack).clickhouse;
    assert.deepEqual([completed.ingest, completed.reader, completed.admin], ['kept-ingest', 'kept-reader', 'kept-admin']);
    assert.match(completed.defaultUserHash, /^[0-9a-f]{64}$/);
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { defaultUserHash: string }).defaultUserHash, completed.defaultUserHash);
  } finally {
    cleanup();
  }
});

test('the local configuration: the hashed key file (no plaintext keys), and a password for every ClickHouse role', () => {
  const { config, cleanup } = privateStack();
  try {
    const local = withLocalCredentials(config);
    const secrets = localSecrets(config.stack);
    assert.equal(local.edge.hashedGatewayKeysFile, localGatewayKeysFile(config.stack));
    assert.deepEqual(local.edge.gatewayKeys, []);
    assert.deepEqual(
      [local.clickhouse.password, local.clickhouse.roles.reader.password, local.clickhouse.roles.admin.password],
      [secrets.clickhouse.ingest, secrets.clickhouse.reader, secrets.clickhouse.admin],
    );
    const env = localCredentialsEnv({ TP_STACK__DATA_DIR: config.stack.dataDir, TP_STACK__CLICKHOUSE_HTTP_PORT: String(config.stack.clickhouseHttpPort) });
    assert.equal(env['TP_EDGE__HASHED_GATEWAY_KEYS_FILE'], localGatewayKeysFile(config.stack));
    assert.equal(env['TP_CLICKHOUSE__ROLES__READER__PASSWORD'], secrets.clickhouse.reader);
    assert.equal(localCredentialsEnv({ TP_STACK__DATA_DIR: config.stack.dataDir, TP_EDGE__GATEWAY_KEYS: '[]' })['TP_EDGE__HASHED_GATEWAY_KEYS_FILE'], undefined, "a test's own keys are left alone");
  } finally {
    cleanup();
  }
});
