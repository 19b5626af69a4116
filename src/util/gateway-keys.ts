import { randomBytes } from 'node:crypto';
import { ConfigError } from '../core/errors.ts';
import { NAME_PATTERN } from '../core/validation.ts';
import { hashSecret, parseScrypt, type ScryptKey } from './credential-hash.ts';
import { contentLines } from './content-lines.ts';

/**
 * The gateway key file (edge.hashedGatewayKeysFile): one key a line, fields separated by spaces,
 *
 *     <gateway> <tenant> <device prefix> <key id> scrypt$<N>$<r>$<p>$<salt>$<key> [<not after>]
 *
 * `#` starts a comment line. A key is `tpk_<key id>_<secret>`: the key id (not secret) selects
 * the line, the secret is checked against the line's scrypt hash (the device credential file's
 * hashing, edge/mqtt-server/credentials.ts). Device prefix `*` allows every device of the tenant;
 * otherwise every reading's device must start with it. `<not after>` is an ISO 8601 UTC time
 * (`2026-12-31T23:00:00Z`) after which the key is refused (401, reason expired-gateway-key): the
 * old key's end of a rotation, while the new key's line already works.
 */
export interface GatewayIdentity {
  readonly gateway: string;
  readonly tenant: string;
  /** '' allows every device of the tenant. */
  readonly devicePrefix: string;
  /** Epoch ms after which the key is refused; null: no end. */
  readonly notAfter: number | null;
}

export interface GatewayKeyEntry extends GatewayIdentity {
  readonly keyId: string;
  readonly hash: ScryptKey;
}

const KEY_PREFIX = 'tpk';
const KEY_ID_PATTERN = /^[0-9a-f]{12}$/;
const GATEWAY_PATTERN = /^[A-Za-z0-9_.@-]{1,128}$/;
const PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z$/;

/** A fresh key: 6 random bytes of key id, 32 of secret (256 bits: beyond any guessing). */
export function generateGatewayKey(): { key: string; keyId: string } {
  const keyId = randomBytes(6).toString('hex');
  return { keyId, key: `${KEY_PREFIX}_${keyId}_${randomBytes(32).toString('base64url')}` };
}

/** The key id of a presented key, or undefined when it does not have the shape of one. */
export function keyIdOf(presented: string): string | undefined {
  if (!presented.startsWith(`${KEY_PREFIX}_`)) return undefined;
  const keyId = presented.slice(KEY_PREFIX.length + 1, KEY_PREFIX.length + 13);
  return KEY_ID_PATTERN.test(keyId) && presented.charAt(KEY_PREFIX.length + 13) === '_' ? keyId : undefined;
}

/** The file line of `key` (as generateGatewayKey made it) for this identity. */
export function gatewayKeyLine(identity: GatewayIdentity, key: string, params?: { N: number; r: number; p: number }): string {
  const keyId = keyIdOf(key);
  if (keyId === undefined) throw new ConfigError(`a gateway key must look like ${KEY_PREFIX}_<12 hex digits>_<secret> (generate one with 'gateway-key add')`);
  const fields = [identity.gateway, identity.tenant, identity.devicePrefix === '' ? '*' : identity.devicePrefix, keyId, hashSecret(key, params)];
  if (identity.notAfter !== null) fields.push(new Date(identity.notAfter).toISOString());
  return fields.join(' ');
}

/** Parses a whole key file; any bad line fails the whole file (a half-read file would lock gateways out silently). */
export function parseGatewayKeys(text: string, source: string): Map<string, GatewayKeyEntry> {
  const entries = new Map<string, GatewayKeyEntry>();
  for (const { line, number } of contentLines(text)) {
    const where = `${source}:${number}`;
    const fail = (message: string): never => {
      throw new ConfigError(`${where}: ${message}`, { file: source, line: number });
    };
    const fields = line.split(/\s+/);
    if (fields.length !== 5 && fields.length !== 6) fail(`expected '<gateway> <tenant> <device prefix|*> <key id> scrypt$N$r$p$salt$key [<not after>]', got ${fields.length} fields`);
    const [gateway, tenant, prefix, keyId, encoded, notAfterText] = fields as [string, string, string, string, string, string | undefined];
    if (!GATEWAY_PATTERN.test(gateway)) fail(`gateway '${gateway}' must match ${GATEWAY_PATTERN}`);
    if (!NAME_PATTERN.test(tenant)) fail(`tenant '${tenant}' is not a safe name (${NAME_PATTERN})`);
    if (prefix !== '*' && !PREFIX_PATTERN.test(prefix)) fail(`device prefix '${prefix}' must be '*' or match ${PREFIX_PATTERN}`);
    if (!KEY_ID_PATTERN.test(keyId)) fail(`key id '${keyId}' must be 12 hex digits`);
    if (entries.has(keyId)) fail(`key id '${keyId}' appears twice`);
    let notAfter: number | null = null;
    if (notAfterText !== undefined) {
      notAfter = ISO_UTC.test(notAfterText) ? Date.parse(notAfterText) : Number.NaN;
      if (Number.isNaN(notAfter)) fail(`not-after '${notAfterText}' must be an ISO 8601 UTC time such as 2026-12-31T23:00:00Z`);
    }
    entries.set(keyId, { gateway, tenant, devicePrefix: prefix === '*' ? '' : prefix, notAfter, keyId, hash: parseScrypt(encoded, where) });
  }
  return entries;
}

/** Sets (or replaces) the not-after time of one key id in a key file's text; the rest stays byte for byte. */
export function withNotAfter(text: string, keyId: string, notAfter: number): string {
  let found = false;
  const lines = text.split('\n').map((line) => {
    const fields = line.trim().split(/\s+/);
    if (line.trim().startsWith('#') || fields[3] !== keyId) return line;
    found = true;
    return [...fields.slice(0, 5), new Date(notAfter).toISOString()].join(' ');
  });
  if (!found) throw new ConfigError(`no line of key id '${keyId}' in the gateway key file`, { keyId });
  return lines.join('\n');
}
