import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadConfig } from '../../src/config/load.ts';
import { connectionProperties, kafkaTransportText, securityProperties } from '../../src/kafka/connection.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';

/**
 * kafka.security → librdkafka, in one function every client uses: the mapping of each protocol,
 * the contradictions refused before any connection, and no client anywhere that builds its
 * connection properties itself (it would connect in plaintext whatever kafka.security says).
 */
const securityOf = (security: Record<string, unknown>) => loadConfig({ env: {}, overrides: { kafka: { security } } }).kafka.security;

test('sasl_ssl maps to SCRAM-SHA-512 over TLS with the CA file; ssl and plaintext carry no login', () => {
  assert.deepEqual(securityProperties(securityOf({ username: 'bridge', password: 'pw', caFile: '/ca.pem' })), {
    'security.protocol': 'sasl_ssl',
    'sasl.mechanisms': 'SCRAM-SHA-512',
    'sasl.username': 'bridge',
    'sasl.password': 'pw',
    'ssl.ca.location': '/ca.pem',
  });
  assert.deepEqual(securityProperties(securityOf({ protocol: 'ssl', caFile: '/ca.pem', username: 'ignored', password: 'ignored' })), { 'security.protocol': 'ssl', 'ssl.ca.location': '/ca.pem' });
  assert.deepEqual(securityProperties(securityOf({ protocol: 'plaintext' })), { 'security.protocol': 'plaintext' });
  // No CA file: librdkafka's default, the system's CAs.
  assert.equal('ssl.ca.location' in securityProperties(securityOf({ username: 'u', password: 'p' })), false);
  assert.equal(connectionProperties({ brokers: ['a:1', 'b:2'], security: securityOf({ protocol: 'plaintext' }) })['metadata.broker.list'], 'a:1,b:2');
});

test('the default is sasl_ssl, and a login without a username or password fails before connecting, naming the key and no secret', () => {
  assert.equal(loadConfig({ env: {} }).kafka.security.protocol, 'sasl_ssl');
  assert.throws(() => securityProperties(securityOf({})), /kafka\.security\.protocol 'sasl_ssl' needs kafka\.security\.username and kafka\.security\.password/);
  assert.throws(() => securityProperties(securityOf({ username: 'bridge' })), (error: Error) => /the password of 'bridge' is empty/.test(error.message));
  const error = (() => {
    try {
      securityProperties(securityOf({ password: 'sup3r-secret' }));
    } catch (caught) {
      return caught as Error;
    }
    return undefined;
  })();
  assert.ok(error && !error.message.includes('sup3r-secret'), error?.message);
});

test('guarantees explain and the status page call plaintext Kafka plaintext', () => {
  assert.match(kafkaTransportText(securityOf({ protocol: 'plaintext' })), /\*\*plaintext\*\*.*kafka\.security\.protocol 'plaintext'/);
  assert.match(kafkaTransportText(securityOf({ username: 'aggregator', password: 'x' })), /\*\*SASL_SSL\*\* \(SCRAM-SHA-512\).*'aggregator'/);
  assert.doesNotMatch(kafkaTransportText(securityOf({ username: 'aggregator', password: 'x' })), /\bx\b/);
});

/** Every TypeScript file of the repository's code, tests and load tests. */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name.startsWith('.')) return [];
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

test('no Kafka client builds its connection itself: every one goes through src/kafka/connection.ts', () => {
  const own = join(REPO_ROOT, 'src', 'kafka', 'connection.ts');
  const offenders = ['src', 'edge', 'loadtest', 'test', 'deploy']
    .flatMap((dir) => sources(join(REPO_ROOT, dir)))
    .filter((file) => file !== own && file !== join(REPO_ROOT, 'test', 'unit', 'kafka-connection.test.ts'))
    .filter((file) => /'metadata\.broker\.list'|'bootstrap\.servers'|kafkaJS:\s*\{\s*brokers/.test(readFileSync(file, 'utf8')))
    .map((file) => relative(REPO_ROOT, file));
  assert.deepEqual(offenders, []);
});
