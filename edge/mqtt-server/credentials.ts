import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, errorMessage } from '../../src/core/errors.ts';
import { NAME_PATTERN } from '../../src/core/validation.ts';
import type { Logger } from '../../src/util/log.ts';
import { FilePoller } from './file-poller.ts';

/**
 * Device credentials of direct mode: a text file, one account a line,
 *
 *     <username>:<tenant>:<device>:scrypt$<N>$<r>$<p>$<salt base64>$<key base64>
 *
 * `#` starts a comment line. The account may publish only on `<prefix>/<tenant>/<device>`; a
 * device `*` makes it a gateway account that may publish for every device of its tenant. The
 * password is kept only as its scrypt key (node:crypto, the parameters stored beside it), so the
 * file can be read by the bridge without holding any device's secret.
 */
export interface DeviceIdentity {
  readonly username: string;
  readonly tenant: string;
  /** A device name, or '*' for a gateway of the tenant. */
  readonly device: string;
}

interface ScryptKey {
  readonly N: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly key: Buffer;
}

export interface CredentialEntry extends DeviceIdentity {
  readonly hash: ScryptKey;
}

const USERNAME_PATTERN = /^[A-Za-z0-9_.@-]{1,128}$/;
/** Interactive-login strength (RFC 7914 §2 suggests N = 2^14 for interactive use), about 20–40 ms per verification. */
export const DEFAULT_SCRYPT = { N: 16384, r: 8, p: 1 } as const;
const KEY_BYTES = 32;

/** The credential line of a password (a fresh random salt unless one is given). */
export function credentialLine(identity: DeviceIdentity, password: string, params: { N: number; r: number; p: number } = DEFAULT_SCRYPT, salt: Buffer = randomBytes(16)): string {
  const key = scryptSync(password, salt, KEY_BYTES, { ...params, maxmem: scryptMemory(params) });
  return `${identity.username}:${identity.tenant}:${identity.device}:scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Parses a whole credential file; any bad line fails the whole file (a half-read file would lock devices out silently). */
export function parseCredentials(text: string, source: string): Map<string, CredentialEntry> {
  const entries = new Map<string, CredentialEntry>();
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${source}:${index + 1}`;
    const fields = line.split(':');
    if (fields.length !== 4) throw new ConfigError(`${where}: expected 'username:tenant:device:scrypt$N$r$p$salt$key', got ${fields.length} fields`, { file: source, line: index + 1 });
    const [username, tenant, device, encoded] = fields as [string, string, string, string];
    if (!USERNAME_PATTERN.test(username)) throw new ConfigError(`${where}: username must match ${USERNAME_PATTERN}`, { file: source, line: index + 1 });
    if (!NAME_PATTERN.test(tenant)) throw new ConfigError(`${where}: tenant '${tenant}' is not a safe name (${NAME_PATTERN})`, { file: source, line: index + 1 });
    if (device !== '*' && !NAME_PATTERN.test(device)) throw new ConfigError(`${where}: device '${device}' is not a safe name or '*'`, { file: source, line: index + 1 });
    if (entries.has(username)) throw new ConfigError(`${where}: username '${username}' appears twice`, { file: source, line: index + 1 });
    entries.set(username, { username, tenant, device, hash: parseScrypt(encoded, where) });
  }
  return entries;
}

function parseScrypt(encoded: string, where: string): ScryptKey {
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

function scryptMemory(params: { N: number; r: number; p: number }): number {
  return 128 * params.N * params.r * params.p + 64 * 1024 * 1024;
}

/** Whether `password` is the one behind `hash`; runs scrypt on libuv's thread pool. */
export function verifyPassword(password: Buffer | string, hash: ScryptKey): Promise<boolean> {
  return new Promise((resolve) => {
    scrypt(password, hash.salt, hash.key.length, { N: hash.N, r: hash.r, p: hash.p, maxmem: scryptMemory(hash) }, (error, derived) => {
      resolve(error === null && timingSafeEqual(derived, hash.key));
    });
  });
}

export interface CredentialObserver {
  reloaded(outcome: 'ok' | 'invalid'): void;
}

/**
 * The credential file, loaded at start and again whenever its content changes (polled, see
 * FilePoller: an editor's rename-over-the-file, a Kubernetes secret's symlink swap and a rewrite of
 * the same size within one timestamp tick are all seen). A file that no longer parses is logged and
 * ignored: the accounts of the last good version stay.
 */
export class CredentialStore {
  private entries: Map<string, CredentialEntry>;
  /** username → SHA-256 of the password last verified for it, so that a reconnect storm costs no scrypt. */
  private verified = new Map<string, Buffer>();
  private poller: FilePoller | undefined;
  private lastText = '';

  constructor(
    private readonly file: string,
    private readonly logger: Logger,
    private readonly observer: CredentialObserver,
    private readonly pollMs = 1000,
  ) {
    this.entries = this.read();
  }

  get size(): number {
    return this.entries.size;
  }

  watch(): void {
    if (this.poller !== undefined) return;
    this.poller = new FilePoller(this.file, this.lastText, () => this.reload());
    this.poller.start(this.pollMs);
  }

  close(): void {
    this.poller?.stop();
    this.poller = undefined;
  }

  reload(): void {
    try {
      this.entries = this.read();
      this.verified = new Map();
      this.observer.reloaded('ok');
      this.logger.info({ file: this.file, accounts: this.entries.size }, 'device credentials reloaded');
    } catch (error) {
      this.observer.reloaded('invalid');
      this.logger.error({ file: this.file, err: errorMessage(error) }, 'device credential file not reloaded: the previous accounts stay');
    }
  }

  /** The identity of a username and password, or undefined when they do not match an account. */
  async authenticate(username: string | undefined, password: Buffer | undefined): Promise<DeviceIdentity | undefined> {
    if (username === undefined || password === undefined) return undefined;
    const entry = this.entries.get(username);
    if (entry === undefined) return undefined;
    const digest = createHash('sha256').update(password).digest();
    const known = this.verified.get(username);
    if (known !== undefined && timingSafeEqual(known, digest)) return entry;
    const entries = this.entries;
    if (!(await verifyPassword(password, entry.hash))) return undefined;
    // A reload during verification: trust only the file that was current when it started.
    if (entries === this.entries) this.verified.set(username, digest);
    return entry;
  }

  private read(): Map<string, CredentialEntry> {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
      this.lastText = text;
    } catch (error) {
      throw new ConfigError(`mqtt.credentialsFile ${this.file} cannot be read: ${errorMessage(error)}`, { file: this.file });
    }
    return parseCredentials(text, this.file);
  }
}
