import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { loadConfig } from '../../src/config/load.ts';
import { ConfigSchema } from '../../src/config/schema.ts';
import { redactSecrets, secretPaths } from '../../src/config/secrets.ts';
import { ConfigError, errorMessage } from '../../src/core/errors.ts';
import { createLogger } from '../../src/util/log.ts';

/**
 * A secret must never leave the process in words: not in a validation message (whatever shape the
 * bad value has), not in a log line (whatever object holds it), not in `config`'s output. The
 * real loader and the real logger run here; the logger writes into a sink that is searched.
 */

/** Distinctive enough that finding it in a message cannot be a coincidence. */
const secretArb = fc.stringMatching(/^[A-Za-z0-9]{20,40}$/).map((tail) => `S3cr3t${tail}`);

function sinkLogger(): { logger: ReturnType<typeof createLogger>; lines: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('secret-test', 'debug', sink), lines: () => chunks.join('') };
}

/** Every way a secret-bearing value can be malformed, as the environment variable that carries it. */
type Malformed = (secret: string) => Record<string, string>;
const MALFORMED_ENV: Record<string, Malformed> = {
  'gateway key without a tenant': (s) => ({ TP_EDGE__GATEWAY_KEYS: JSON.stringify([{ key: s, gateway: 'gw' }]) }),
  'gateway key with a bad tenant': (s) => ({ TP_EDGE__GATEWAY_KEYS: JSON.stringify([{ key: s, gateway: 'gw', tenant: 'not a tenant!' }]) }),
  'gateway key with an unknown field': (s) => ({ TP_EDGE__GATEWAY_KEYS: JSON.stringify([{ key: s, gateway: 'gw', tenant: 't', scope: 'all' }]) }),
  'gateway key too short': (s) => ({ TP_EDGE__GATEWAY_KEYS: JSON.stringify([{ key: s.slice(0, 12), gateway: 'gw', tenant: 't' }]) }),
  'gateway key not JSON': (s) => ({ TP_EDGE__GATEWAY_KEYS: `[{key:${s},gateway:gw,tenant:t}]` }),
  'gateway key a bare string': (s) => ({ TP_EDGE__GATEWAY_KEYS: s }),
  'gateway keys an object': (s) => ({ TP_EDGE__GATEWAY_KEYS: JSON.stringify({ key: s, gateway: 'gw', tenant: 't' }) }),
  'second gateway key malformed': (s) => ({
    TP_EDGE__GATEWAY_KEYS: JSON.stringify([{ key: 'a-valid-key-0123456789', gateway: 'ok', tenant: 't' }, { key: s, gateway: '', tenant: 't' }]),
  }),
};

/** Malformed secrets from a YAML file (any JSON shape where a string belongs). */
const MALFORMED_YAML: Record<string, (secret: string) => string> = {
  'mqtt.password a list': (s) => `mqtt:\n  password: [${s}]\n`,
  'clickhouse.password a mapping': (s) => `clickhouse:\n  password:\n    value: ${s}\n`,
  'gateway key a number-like mapping': (s) => `edge:\n  gatewayKeys:\n    - key: { nested: ${s} }\n      gateway: gw\n      tenant: t\n`,
};

function assertNotLeaked(secret: string, run: () => unknown, label: string): void {
  const { logger, lines } = sinkLogger();
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown instanceof ConfigError, `${label}: expected a ConfigError, got ${String(thrown)}`);
  // What edge/main.ts and the aggregator log when start-up fails.
  logger.fatal({ err: errorMessage(thrown), code: thrown.code, context: thrown.context }, 'bridge failed to start');
  const message = errorMessage(thrown);
  assert.equal(message.includes(secret), false, `${label}: the error message holds the secret: ${message}`);
  assert.equal(JSON.stringify(thrown.context).includes(secret), false, `${label}: the error context holds the secret`);
  assert.equal(lines().includes(secret), false, `${label}: a log line holds the secret: ${lines()}`);
  assert.match(message, /config key '[^']+'/, `${label}: the message still names the key`);
}

test('a malformed secret-bearing environment variable never appears in the error message, its context or the log', () => {
  fc.assert(
    fc.property(secretArb, fc.constantFrom(...Object.keys(MALFORMED_ENV)), (secret, shape) => {
      assertNotLeaked(secret, () => loadConfig({ env: MALFORMED_ENV[shape]!(secret) }), shape);
    }),
    { numRuns: 200 },
  );
});

test('a malformed secret in the YAML file never appears in the error message or the log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-secrets-'));
  try {
    fc.assert(
      fc.property(secretArb, fc.constantFrom(...Object.keys(MALFORMED_YAML)), (secret, shape) => {
        const file = join(dir, 'config.yaml');
        writeFileSync(file, MALFORMED_YAML[shape]!(secret));
        assertNotLeaked(secret, () => loadConfig({ file, env: {} }), shape);
      }),
      { numRuns: 60 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every secret of a valid configuration is redacted in log lines, whatever object carries it', () => {
  fc.assert(
    fc.property(secretArb, secretArb, secretArb, (gatewayKey, mqttPassword, clickhousePassword) => {
      const config = loadConfig({
        env: {
          TP_EDGE__GATEWAY_KEYS: JSON.stringify([{ key: gatewayKey, gateway: 'gw', tenant: 't' }]),
          TP_MQTT__PASSWORD: mqttPassword,
          TP_CLICKHOUSE__PASSWORD: clickhousePassword,
        },
      });
      const { logger, lines } = sinkLogger();
      logger.info(config, 'the configuration at the top level');
      logger.info({ config }, 'the configuration under a key');
      logger.info({ edge: config.edge, mqtt: config.mqtt, clickhouse: config.clickhouse }, 'its sections');
      logger.info({ gatewayKeys: config.edge.gatewayKeys }, 'the key list alone');
      logger.info({ resolved: { config } }, 'two levels down');
      for (const secret of [gatewayKey, mqttPassword, clickhousePassword]) {
        assert.equal(lines().includes(secret), false, `a log line holds a secret: ${lines()}`);
      }
      assert.ok(lines().includes('"gateway":"gw"'), 'what is not secret is still logged');
    }),
    { numRuns: 30 },
  );
});

test("the config command's output shows no secret and keeps every other value", () => {
  const key = 'S3cr3tGatewayKeyForTheConfigCommand';
  const config = loadConfig({ env: { TP_EDGE__GATEWAY_KEYS: JSON.stringify([{ key, gateway: 'gw', tenant: 't' }]), TP_MQTT__PASSWORD: 'S3cr3tMqttPassword' } });
  const printed = JSON.stringify(redactSecrets(config));
  assert.equal(printed.includes(key), false);
  assert.equal(printed.includes('S3cr3tMqttPassword'), false);
  assert.ok(printed.includes('"gateway":"gw"'));
  assert.deepEqual((redactSecrets(config) as typeof config).kafka, config.kafka);
});

test('the schema marks exactly the secrets, and has no secret defaults', () => {
  assert.deepEqual(secretPaths(ConfigSchema), ['kafka.security.password', 'mqtt.password', 'edge.gatewayKeys[].key', 'edge.tls.key', 'clickhouse.roles.reader.password', 'clickhouse.roles.admin.password', 'clickhouse.password']);
  const defaults = loadConfig({ env: {} });
  assert.equal(defaults.mqtt.password, '');
  assert.equal(defaults.kafka.security.password, '');
  assert.equal(defaults.clickhouse.password, '');
  assert.equal(defaults.clickhouse.roles.reader.password, '');
  assert.equal(defaults.clickhouse.roles.admin.password, '');
  assert.deepEqual(defaults.edge.gatewayKeys, []);
});

test('a secret is read from the file named by <VARIABLE>_FILE, without its trailing newline', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-secret-file-'));
  try {
    const keys = join(dir, 'gateway-keys');
    const password = join(dir, 'mqtt-password');
    writeFileSync(keys, `${JSON.stringify([{ key: 'from-a-file-0123456789', gateway: 'gw', tenant: 't' }])}\n`);
    writeFileSync(password, 'S3cr3tFromAFile\n');
    const config = loadConfig({ env: { TP_EDGE__GATEWAY_KEYS_FILE: keys, TP_MQTT__PASSWORD_FILE: password } });
    assert.equal(config.edge.gatewayKeys[0]?.key, 'from-a-file-0123456789');
    assert.equal(config.mqtt.password, 'S3cr3tFromAFile');
    assert.throws(() => loadConfig({ env: { TP_MQTT__PASSWORD_FILE: join(dir, 'missing') } }), /TP_MQTT__PASSWORD_FILE.*cannot be read/);
    assert.throws(() => loadConfig({ env: { TP_MQTT__PASSWORD_FILE: password, TP_MQTT__PASSWORD: 'x' } }), /both/);
    assert.throws(() => loadConfig({ env: { TP_KAFKA__CLIENT_ID_FILE: password } }), /names no configuration key|not a secret/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a mapping where a list belongs is refused, not merged into the default list', () => {
  // TypeBox's Value.Default turned {"key":…} for edge.gatewayKeys into an empty list that validated.
  for (const [env, key] of [
    [{ TP_EDGE__GATEWAY_KEYS: JSON.stringify({ key: 'S3cr3tAAAAbbbbCCCCdddd', gateway: 'gw', tenant: 't' }) }, 'edge.gatewayKeys'],
    [{ TP_KAFKA__BROKERS: JSON.stringify({ first: 'kafka-1:9092' }) }, 'kafka.brokers'],
    [{ TP_AGGREGATOR__STATUS_BRIDGES: JSON.stringify({ a: 'http://x:1' }) }, 'aggregator.statusBridges'],
  ] as const) {
    assert.throws(() => loadConfig({ env }), (error: unknown) => error instanceof ConfigError && error.message.includes(`'${key}'`) && error.message.includes('expected a list') && !error.message.includes('S3cr3t'));
  }
});

test('HTTP timeouts that contradict each other fail at start-up, naming the key', () => {
  assert.throws(() => loadConfig({ env: { TP_EDGE__HTTP_LIMITS__HEADERS_TIMEOUT_MS: '20000', TP_EDGE__HTTP_LIMITS__REQUEST_TIMEOUT_MS: '10000' } }), /edge\.httpLimits\.requestTimeoutMs/);
});
