import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StackConfig } from './config-schema.ts';
import { credentialLine } from '../util/credential-hash.ts';
import { stackPaths } from './paths.ts';

/**
 * The device accounts of the local stack's direct MQTT endpoint (mqtt.mode 'direct'): written on
 * the first `stack up` under stack.dataDir (git-ignored, never committed), hashed with scrypt.
 * Development credentials, not secrets of any real deployment:
 *   fleet    — the simulated fleet and gateways: any device of tenant 'demo'
 *   sensor-1, sensor-2 — single devices of tenant 'demo'
 */
export const DEMO_TENANT = 'demo';
export const DEMO_DEVICE_ACCOUNTS: ReadonlyArray<{ username: string; password: string; tenant: string; device: string }> = [
  { username: 'fleet', password: 'fleet-secret', tenant: DEMO_TENANT, device: '*' },
  { username: 'sensor-1', password: 'sensor-1-secret', tenant: DEMO_TENANT, device: 'sensor-1' },
  { username: 'sensor-2', password: 'sensor-2-secret', tenant: DEMO_TENANT, device: 'sensor-2' },
];

export function demoCredentialsFile(stack: StackConfig): string {
  return join(stackPaths(stack).dataDir, 'mqtt', 'device-credentials');
}

/** Writes the demo credential file unless it exists (an operator's edits survive restarts); true when written. */
export function ensureDemoCredentials(stack: StackConfig): boolean {
  const file = demoCredentialsFile(stack);
  if (existsSync(file)) return false;
  writeCredentialFile(file, DEMO_DEVICE_ACCOUNTS);
  return true;
}

/** A credential file of these accounts (mode 0600: it holds password hashes). */
export function writeCredentialFile(file: string, accounts: ReadonlyArray<{ username: string; password: string; tenant: string; device: string }>): void {
  mkdirSync(dirname(file), { recursive: true });
  const lines = accounts.map((account) => credentialLine(account, account.password));
  writeFileSync(file, `# username:tenant:device:scrypt$N$r$p$salt$key (device '*': any device of the tenant)\n${lines.join('\n')}\n`, { mode: 0o600 });
}
