import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { loadStackConfig } from '../../src/stack/config.ts';
import { demoCredentialsFile } from '../../src/stack/device-credentials.ts';
import { configForLocalStack } from '../../src/stack/stack.ts';

/**
 * The local stack (stack up --bridges, the demo, the load tests, the chaos run) runs direct mode
 * unless stack.mqttMode says broker; a deployment's own configuration keeps mqtt.mode's default.
 */
test('the local stack runs direct mode by default, with the demo device accounts', () => {
  const local = configForLocalStack(loadStackConfig({ env: {} }));
  assert.equal(local.mqtt.mode, 'direct');
  assert.equal(local.mqtt.credentialsFile, demoCredentialsFile(local.stack));
});

test('stack.mqttMode broker runs the local stack in broker mode, against its Mosquitto (its TLS listener unless plaintext is said)', () => {
  const local = configForLocalStack(loadStackConfig({ env: {}, overrides: { stack: { mqttMode: 'broker', mosquittoPort: 21883, mosquittoTlsPort: 28883 } } }));
  assert.equal(local.mqtt.mode, 'broker');
  assert.equal(local.mqtt.url, 'mqtts://127.0.0.1:28883');
  const plain = configForLocalStack(loadStackConfig({ env: {}, overrides: { stack: { mqttMode: 'broker', mosquittoPort: 21883 }, edge: { tls: { mode: 'plaintext' } } } }));
  assert.equal(plain.mqtt.url, 'mqtt://127.0.0.1:21883');
});

test('the local stack mode wins over mqtt.mode, as its other endpoints do; outside it, mqtt.mode decides', () => {
  const config = loadConfig({ env: {}, overrides: { mqtt: { mode: 'broker' } } });
  assert.equal(configForLocalStack(loadStackConfig({ env: {}, overrides: { mqtt: { mode: 'broker' } } })).mqtt.mode, 'direct');
  assert.equal(config.mqtt.mode, 'broker');
  assert.equal(loadConfig({ env: {} }).mqtt.mode, 'broker', "a deployment that sets nothing keeps broker mode (see the report's decision)");
});
