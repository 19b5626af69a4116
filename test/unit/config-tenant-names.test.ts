import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { parseTelemetryTopic } from '../../src/core/validation.ts';

/**
 * A gateway key's tenant and a topic's tenant are the same kind of name: the configuration must
 * accept exactly the tenants the core accepts, or a key could name a tenant no reading can carry.
 */
const KEY = 'k'.repeat(16);
const candidates = [
  'acme', 'a', 'A-b_c.d', '_x', '-x', '0', 'x'.repeat(64), 'x'.repeat(65), '.hidden', '..', 'a b', 'a/b', 'ä', 'a+b', '', 'a.', 'tenant.1',
];

function configAccepts(tenant: string): boolean {
  try {
    loadConfig({ env: {}, overrides: { edge: { gatewayKeys: [{ key: KEY, gateway: 'g', tenant }] } } });
    return true;
  } catch {
    return false;
  }
}

for (const tenant of candidates) {
  test(`tenant ${JSON.stringify(tenant)}: the configuration and the core agree`, () => {
    const coreAccepts = parseTelemetryTopic(`telemetry/${tenant}/device-1`, 'telemetry') !== undefined;
    assert.equal(configAccepts(tenant), coreAccepts, `config accepts ${configAccepts(tenant)}, core accepts ${coreAccepts}`);
  });
}
