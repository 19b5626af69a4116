import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bridgeProcessEnv } from '../../loadtest/support/edge-harness.ts';

/**
 * A bridge started by the tests' and benchmarks' harness runs against the stack its launcher names
 * with TP_STACK__* (a private stack: bench:edge, a test on other ports), but the bridge's own schema
 * has no `stack` section and refuses those variables: they must not reach it.
 */
test("the launcher's TP_STACK__ variables do not reach the bridge; the caller's settings win", () => {
  const parent = { PATH: '/usr/bin', TP_STACK__DATA_DIR: '/tmp/private', TP_STACK__KAFKA_BASE_PORT: '49092', TP_STACK__KAFKA_PROTOCOL: 'plaintext' };
  const env = bridgeProcessEnv(parent, { TP_MQTT__MODE: 'direct' }, 18080);
  assert.deepEqual(Object.keys(env).filter((name) => name.toUpperCase().startsWith('TP_STACK__')), []);
  assert.equal(env['PATH'], '/usr/bin');
  assert.equal(env['TP_MQTT__MODE'], 'direct');
  assert.equal(env['TP_EDGE__HTTP_PORT'], '18080');
  // The private stack's credentials, not the default stack's: its plaintext Kafka gives no login.
  assert.equal(env['TP_KAFKA__SECURITY__PROTOCOL'], 'plaintext');
});
