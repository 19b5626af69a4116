import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../src/config/load.ts';
import { configKeys, undocumentedKeys } from '../../src/config/reference.ts';

/**
 * The services' configuration holds production settings only: no fault injection, no local-stack
 * section, and no setting read from an environment variable outside the TP_ schema. Test hooks
 * live in test-only entry points that the container image does not contain.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  return assert.fail('expected the configuration to be refused');
}

test('no key of the services configuration is a test hook or a local-stack setting', () => {
  const paths = configKeys().map((key) => key.path);
  assert.deepEqual(paths.filter((path) => /crash|^stack\.|fault|inject/i.test(path)), []);
});

test('a fault-injection or local-stack key is refused by the services, naming it', () => {
  assert.match(refusal(() => loadConfig({ env: { TP_AGGREGATOR__CRASH_AT: 'after-commit:1' } })), /TP_AGGREGATOR__CRASH_AT/);
  assert.match(refusal(() => loadConfig({ env: { TP_STACK__MQTT_MODE: 'broker' } })), /TP_STACK__MQTT_MODE/);
  const file = join(mkdtempSync(join(tmpdir(), 'tp-prod-')), 'pipeline.yaml');
  writeFileSync(file, 'aggregator:\n  crashAt: "before-flush:1"\n');
  assert.match(refusal(() => loadConfig({ file, env: {} })), /crashAt/);
});

test('the log level is a configuration key with a meaning, read from TP_LOG__LEVEL and checked', () => {
  assert.equal(loadConfig({ env: {} }).log.level, 'info');
  assert.equal(loadConfig({ env: { TP_LOG__LEVEL: 'debug' } }).log.level, 'debug');
  assert.match(refusal(() => loadConfig({ env: { TP_LOG__LEVEL: 'loud' } })), /log\.level/);
  assert.deepEqual(undocumentedKeys(), []);
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

test('what the image runs (src/, edge/) reads no setting from an environment variable outside the schema', () => {
  // TP_CONFIG names the file; the TP_ schema is read by src/config/load.ts; besides, only the
  // operating system's own variables (the local-stack CLI finds its binaries and caches by them).
  const offenders = [...sources(join(ROOT, 'src')), ...sources(join(ROOT, 'edge'))]
    .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/process\.env\[['"](\w+)['"]\]|process\.env\.(\w+)/g)].map((match) => `${file.slice(ROOT.length)}: ${match[1] ?? match[2]}`))
    .filter((hit) => !/: (TP_CONFIG|PATH|HOME|XDG_CACHE_HOME)$/.test(hit));
  assert.deepEqual(offenders, []);
});
