import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStackConfig } from '../../src/stack/config.ts';
import { KAFKA_PRINCIPALS, kafkaPrincipalEnv, localKafkaPasswords, localKafkaSecretsFile, withLocalCredentials } from '../../src/stack/local-credentials.ts';
import { localTlsFiles } from '../../src/stack/tls.ts';

/**
 * The local Kafka's principals: one generated password each (mode 0600, stable), the stack's admin
 * for tools and tests, each service's own login by environment, and no login at all when
 * stack.kafkaProtocol is 'plaintext'. A private data folder and an unused broker port, so the
 * running stack's files are not touched.
 */
function privateStack(kafkaProtocol: 'sasl_ssl' | 'plaintext' = 'sasl_ssl') {
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-kafka-creds-'));
  const config = loadStackConfig({ env: {}, overrides: { stack: { dataDir, kafkaProtocol, kafkaBasePort: 20_000 + Math.floor(Math.random() * 20_000) } } });
  return { config, cleanup: () => (rmSync(dataDir, { recursive: true, force: true }), rmSync(localKafkaSecretsFile(config.stack), { force: true })) };
}

test('one password per principal, generated once, readable by the owner only', () => {
  const { config, cleanup } = privateStack();
  try {
    const first = localKafkaPasswords(config.stack);
    assert.deepEqual(Object.keys(first), [...KAFKA_PRINCIPALS]);
    assert.equal(new Set(Object.values(first)).size, KAFKA_PRINCIPALS.length);
    assert.deepEqual(localKafkaPasswords(config.stack), first);
    assert.equal(statSync(localKafkaSecretsFile(config.stack)).mode & 0o777, 0o600);
  } finally {
    cleanup();
  }
});

test("the stack's configuration logs in as admin over SASL_SSL with the local CA; a service gets its own login", () => {
  const { config, cleanup } = privateStack();
  try {
    const local = withLocalCredentials(config);
    const passwords = localKafkaPasswords(config.stack);
    assert.deepEqual(local.kafka.security, { protocol: 'sasl_ssl', mechanism: 'SCRAM-SHA-512', username: 'admin', password: passwords.admin, caFile: localTlsFiles(config.stack).caFile });
    const bridge = kafkaPrincipalEnv(config.stack, 'bridge');
    assert.equal(bridge['TP_KAFKA__SECURITY__USERNAME'], 'bridge');
    assert.equal(bridge['TP_KAFKA__SECURITY__PASSWORD'], passwords.bridge);
    // A login the configuration names is kept.
    const own = withLocalCredentials({ ...config, kafka: { ...config.kafka, security: { ...config.kafka.security, username: 'mine', password: 'x' } } });
    assert.equal(own.kafka.security.username, 'mine');
  } finally {
    cleanup();
  }
});

test("stack.kafkaProtocol 'plaintext' gives every client plaintext and no password", () => {
  const { config, cleanup } = privateStack('plaintext');
  try {
    assert.deepEqual(withLocalCredentials(config).kafka.security, { protocol: 'plaintext', mechanism: 'SCRAM-SHA-512', username: '', password: '', caFile: '' });
    assert.equal(kafkaPrincipalEnv(config.stack, 'aggregator')['TP_KAFKA__SECURITY__PROTOCOL'], 'plaintext');
  } finally {
    cleanup();
  }
});
