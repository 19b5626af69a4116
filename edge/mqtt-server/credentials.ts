import { createHash, scrypt, timingSafeEqual } from 'node:crypto';
import { ConfigError, errorMessage } from '../../src/core/errors.ts';
import { NAME_PATTERN } from '../../src/core/validation.ts';
import { parseScrypt, scryptMemory, type ScryptKey } from '../../src/util/credential-hash.ts';
export { parseScrypt, type ScryptKey } from '../../src/util/credential-hash.ts';
import type { Logger } from '../../src/util/log.ts';
import { WatchedFile, contentLines } from './watched-file.ts';

// The hash format lives below both the edge and the local stack (which writes demo accounts).
export { credentialLine, hashSecret } from '../../src/util/credential-hash.ts';

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

export interface CredentialEntry extends DeviceIdentity {
  readonly hash: ScryptKey;
}

const USERNAME_PATTERN = /^[A-Za-z0-9_.@-]{1,128}$/;
/** Parses a whole credential file; any bad line fails the whole file (a half-read file would lock devices out silently). */
export function parseCredentials(text: string, source: string): Map<string, CredentialEntry> {
  const entries = new Map<string, CredentialEntry>();
  for (const { line, number } of contentLines(text)) {
    const where = `${source}:${number}`;
    const fields = line.split(':');
    if (fields.length !== 4) throw new ConfigError(`${where}: expected 'username:tenant:device:scrypt$N$r$p$salt$key', got ${fields.length} fields`, { file: source, line: number });
    const [username, tenant, device, encoded] = fields as [string, string, string, string];
    if (!USERNAME_PATTERN.test(username)) throw new ConfigError(`${where}: username must match ${USERNAME_PATTERN}`, { file: source, line: number });
    if (!NAME_PATTERN.test(tenant)) throw new ConfigError(`${where}: tenant '${tenant}' is not a safe name (${NAME_PATTERN})`, { file: source, line: number });
    if (device !== '*' && !NAME_PATTERN.test(device)) throw new ConfigError(`${where}: device '${device}' is not a safe name or '*'`, { file: source, line: number });
    if (entries.has(username)) throw new ConfigError(`${where}: username '${username}' appears twice`, { file: source, line: number });
    entries.set(username, { username, tenant, device, hash: parseScrypt(encoded, where) });
  }
  return entries;
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
  private readonly source: WatchedFile<Map<string, CredentialEntry>>;
  /** username → SHA-256 of the password last verified for it, so that a reconnect storm costs no scrypt. */
  private verified = new Map<string, Buffer>();

  constructor(
    file: string,
    private readonly logger: Logger,
    private readonly observer: CredentialObserver,
    pollMs = 1000,
  ) {
    this.source = new WatchedFile(file, 'mqtt.credentialsFile', parseCredentials, {
      reloaded: (entries) => {
        this.verified = new Map();
        this.observer.reloaded('ok');
        this.logger.info({ file, accounts: entries.size }, 'device credentials reloaded');
      },
      rejected: (error) => {
        this.observer.reloaded('invalid');
        this.logger.error({ file, err: errorMessage(error) }, 'device credential file not reloaded: the previous accounts stay');
      },
    }, pollMs);
  }

  get size(): number {
    return this.source.value.size;
  }

  watch(): void {
    this.source.watch();
  }

  close(): void {
    this.source.close();
  }

  reload(): void {
    this.source.reload();
  }

  /** The identity of a username and password, or undefined when they do not match an account. */
  async authenticate(username: string | undefined, password: Buffer | undefined): Promise<DeviceIdentity | undefined> {
    if (username === undefined || password === undefined) return undefined;
    const entries = this.source.value;
    const entry = entries.get(username);
    if (entry === undefined) return undefined;
    const digest = createHash('sha256').update(password).digest();
    const known = this.verified.get(username);
    if (known !== undefined && timingSafeEqual(known, digest)) return entry;
    if (!(await verifyPassword(password, entry.hash))) return undefined;
    // A reload during verification: trust only the file that was current when it started.
    if (entries === this.source.value) this.verified.set(username, digest);
    return entry;
  }
}
