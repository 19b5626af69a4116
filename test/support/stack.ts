import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { configForLocalStack } from '../../src/stack/stack.ts';

/**
 * The configuration integration tests run with: the local stack's endpoints (started by
 * `npm test` through deploy/stack/test.sh), with any TP_* environment overrides applied.
 */
export function testConfig(overrides?: Record<string, unknown>): Config {
  return configForLocalStack(loadConfig({ overrides }));
}

/** A name unique to this test run, for topics, groups, databases and client ids. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}
