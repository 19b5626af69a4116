import { createServer } from 'node:net';
import { loadStackConfig } from '../../src/stack/config.ts';
import type { LocalStackConfig } from '../../src/stack/config-schema.ts';
import { configForLocalStack } from '../../src/stack/stack.ts';

/**
 * The configuration integration tests and load tests run with: the local stack's endpoints
 * (started by `npm test` through deploy/stack/test.sh), with any TP_* environment overrides applied.
 */
export function testConfig(overrides?: Record<string, unknown>): LocalStackConfig {
  return configForLocalStack(loadStackConfig({ overrides }));
}

/** A name unique to this test run, for topics, groups, databases and client ids. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** A TCP port free on 127.0.0.1 now (the kernel's choice), for a server the test starts next. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}
