import { randomBytes, scryptSync } from 'node:crypto';
import { ConfigError } from '../core/errors.ts';

/**
 * The password-hash format of the direct MQTT endpoint's credential file and of gateway key lines,
 * `scrypt$N$r$p$salt$key` (node:crypto; the parameters stored beside the key). Here, below both
 * the edge (which verifies) and the local stack (which writes demo accounts), so that neither
 * imports the other.
 */
export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** Interactive-login strength (RFC 7914 §2 suggests N = 2^14 for interactive use), about 20–40 ms per verification. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 16384, r: 8, p: 1 };
const KEY_BYTES = 32;

/** Memory scrypt needs for these parameters, with headroom (node's default maxmem is 32 MiB). */
export function scryptMemory(params: ScryptParams): number {
  return 128 * params.N * params.r * params.p + 64 * 1024 * 1024;
}

/** `scrypt$N$r$p$salt$key` of a secret (a fresh random salt unless one is given). */
export function hashSecret(secret: string, params: ScryptParams = DEFAULT_SCRYPT, salt: Buffer = randomBytes(16)): string {
  const key = scryptSync(secret, salt, KEY_BYTES, { ...params, maxmem: scryptMemory(params) });
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** One line of a device credential file: `<username>:<tenant>:<device>:<hash>` (device '*': a gateway of the tenant). */
export function credentialLine(identity: { readonly username: string; readonly tenant: string; readonly device: string }, password: string, params: ScryptParams = DEFAULT_SCRYPT, salt: Buffer = randomBytes(16)): string {
  return `${identity.username}:${identity.tenant}:${identity.device}:${hashSecret(password, params, salt)}`;
}

export interface ScryptKey {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

export function parseScrypt(encoded: string, where: string): ScryptKey {
  const parts = encoded.split('$');
  const [scheme, n, r, p, salt, key] = parts;
  const N = Number(n);
  const rr = Number(r);
  const pp = Number(p);
  const valid =
    parts.length === 6 && scheme === 'scrypt' && Number.isInteger(N) && N > 1 && (N & (N - 1)) === 0 && N <= 1 << 20 && Number.isInteger(rr) && rr >= 1 && rr <= 32 && Number.isInteger(pp) && pp >= 1 && pp <= 16;
  if (!valid) throw new ConfigError(`${where}: the password hash must be 'scrypt$N$r$p$salt$key' (N a power of two ≤ 2^20, r ≤ 32, p ≤ 16)`);
  const saltBytes = Buffer.from(salt!, 'base64');
  const keyBytes = Buffer.from(key!, 'base64');
  if (saltBytes.length < 8 || keyBytes.length < 16) throw new ConfigError(`${where}: salt (≥ 8 bytes) or key (≥ 16 bytes) too short`);
  return { N, r: rr, p: pp, salt: saltBytes, key: keyBytes };
}
