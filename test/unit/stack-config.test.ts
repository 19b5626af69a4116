import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.ts';
import { undocumentedKeys } from '../../src/config/reference.ts';
import { loadStackConfig, servicesConfig, servicesEnv } from '../../src/stack/config.ts';
import { LocalStackConfigSchema, StackSchema } from '../../src/stack/config-schema.ts';
import { configForLocalStack } from '../../src/stack/stack.ts';
import { credentialLine } from '../../src/util/credential-hash.ts';
import { parseCredentials, verifyPassword } from '../../edge/mqtt-server/credentials.ts';

/**
 * The local stack's own section lives in its own schema, read by the local-stack CLI alone, from the
 * same file and TP_ variables as documented (docs/development/local-stack.md: `stack.mqttMode:
 * broker`, `TP_STACK__MQTT_MODE=broker`); what it hands the services they accept.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

test('stack.* comes from the configuration file and from TP_STACK__ variables', () => {
  const file = join(mkdtempSync(join(tmpdir(), 'tp-stack-')), 'local.yaml');
  writeFileSync(file, 'stack:\n  mqttMode: broker\n  mosquittoPort: 21883\nkafka:\n  partitions: 6\n');
  const fromFile = loadStackConfig({ file, env: {} });
  assert.equal(fromFile.stack.mqttMode, 'broker');
  assert.equal(fromFile.kafka.partitions, 6);
  assert.equal(loadStackConfig({ file, env: { TP_STACK__MOSQUITTO_PORT: '21999' } }).stack.mosquittoPort, 21999);
  assert.equal(loadStackConfig({ env: { TP_STACK__MQTT_MODE: 'broker' } }).stack.mqttMode, 'broker');
  assert.throws(() => loadStackConfig({ env: { TP_STACK__MQTT_MODE: 'sideways' } }), /stack\.mqttMode/);
  assert.throws(() => loadStackConfig({ env: {}, overrides: { stack: { kafkaNodez: 3 } } }), /stack/);
});

test('what the local stack hands its services (file and environment) the services accept', () => {
  const local = configForLocalStack(loadStackConfig({ env: {}, overrides: { stack: { mqttMode: 'broker' } } }));
  const file = join(mkdtempSync(join(tmpdir(), 'tp-services-')), 'pipeline.yaml');
  writeFileSync(file, stringify(servicesConfig(local)));
  const env = servicesEnv({ TP_STACK__MQTT_MODE: 'broker', tp_stack__data_dir: 'x', TP_KAFKA__PARTITIONS: '3', PATH: '/bin' });
  assert.deepEqual(Object.keys(env).sort(), ['PATH', 'TP_KAFKA__PARTITIONS']);
  const services = loadConfig({ file, env: env as NodeJS.ProcessEnv });
  assert.equal(services.mqtt.mode, 'broker');
  assert.equal(services.kafka.partitions, 3);
  assert.equal('stack' in services, false);
});

test('every local-stack key has a meaning', () => {
  assert.deepEqual(undocumentedKeys(StackSchema), []);
  assert.deepEqual(undocumentedKeys(LocalStackConfigSchema), []);
});

test('the local stack writes device accounts the edge verifies, without importing the edge', async () => {
  const line = credentialLine({ username: 'u', tenant: 'demo', device: 'd-1' }, 'pw', { N: 1024, r: 8, p: 1 });
  const entry = parseCredentials(`${line}\n`, 'test').get('u')!;
  assert.equal(await verifyPassword('pw', entry.hash), true);
  assert.equal(await verifyPassword('other', entry.hash), false);
  assert.doesNotMatch(readFileSync(join(ROOT, 'src/stack/device-credentials.ts'), 'utf8'), /from '(\.\.\/)+edge\//);
});
