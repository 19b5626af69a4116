import { createHash } from 'node:crypto';
import { errorMessage } from '../src/core/errors.ts';
import type { Logger } from '../src/util/log.ts';
import { keyIdOf, parseGatewayKeys, type GatewayIdentity, type GatewayKeyEntry } from '../src/util/gateway-keys.ts';
import { verifyPassword } from './mqtt-server/credentials.ts';
import { WatchedFile } from './mqtt-server/watched-file.ts';

/** What a presented key is: a gateway's (still valid), one past its not-after time, or nobody's. */
export type GatewayAuth =
  | { readonly kind: 'ok'; readonly identity: GatewayIdentity }
  | { readonly kind: 'expired'; readonly identity: GatewayIdentity }
  | { readonly kind: 'unknown' };

const UNKNOWN: GatewayAuth = { kind: 'unknown' };

/**
 * Distinct keys whose scrypt verification may run at once (libuv's pool has 4 threads). A flood
 * of wrong secrets under a known key id then costs the bridge at most this many threads; the
 * excess is refused as unknown without hashing. Keys verified once are not affected, and the
 * requests of one key arriving together share its one verification.
 */
export const MAX_CONCURRENT_VERIFICATIONS = 2;

/**
 * The gateway keys of edge.hashedGatewayKeysFile, loaded at start and again when the file changes
 * (FilePoller, as the device credential file) or the process gets SIGHUP. A file that no longer
 * parses is logged and ignored: the keys of the last good version stay.
 *
 * Lookup at request rate: the SHA-256 of a presented key that verified once is remembered with its
 * entry (a map hit per request); only a key not seen since the file was loaded costs one scrypt,
 * found by its key id. SHA-256 is enough for that memo because the keys are 256-bit random
 * values (no dictionary to try), and it lives only in memory; the file holds scrypt hashes alone.
 */
export class GatewayKeyStore {
  private readonly source: WatchedFile<Map<string, GatewayKeyEntry>>;
  private verified = new Map<string, GatewayKeyEntry>();
  /** SHA-256 of a presented key → its scrypt verification in progress. */
  private readonly pending = new Map<string, Promise<boolean>>();
  private readonly onHangup = (): void => this.reload();

  constructor(file: string, logger: Logger, pollMs = 1000) {
    this.source = new WatchedFile(file, 'edge.hashedGatewayKeysFile', parseGatewayKeys, {
      reloaded: (entries) => {
        this.verified = new Map();
        logger.info({ file, keys: entries.size }, 'gateway keys reloaded');
      },
      rejected: (error) => logger.error({ file, err: errorMessage(error) }, 'gateway key file not reloaded: the previous keys stay'),
    }, pollMs);
  }

  get size(): number {
    return this.source.value.size;
  }

  watch(): void {
    if (this.source.watch()) process.on('SIGHUP', this.onHangup);
  }

  close(): void {
    this.source.close();
    process.off('SIGHUP', this.onHangup);
  }

  reload(): void {
    this.source.reload();
  }

  /** Synchronous when the key verified before (the common case); `now` decides not-after. */
  authenticate(presented: string, now: number): GatewayAuth | Promise<GatewayAuth> {
    const digest = createHash('sha256').update(presented).digest('base64');
    const known = this.verified.get(digest);
    if (known !== undefined) return judge(known, now);
    const entries = this.source.value;
    const keyId = keyIdOf(presented);
    const entry = keyId === undefined ? undefined : entries.get(keyId);
    if (entry === undefined) return UNKNOWN;
    // Concurrent requests of one new key share its verification (a gateway's first burst).
    const pending = this.pending.get(digest);
    if (pending !== undefined) return pending.then((match) => (match ? judge(entry, now) : UNKNOWN));
    if (this.pending.size >= MAX_CONCURRENT_VERIFICATIONS) return UNKNOWN;
    const verification = verifyPassword(presented, entry.hash).then((match) => {
      this.pending.delete(digest);
      // A reload during verification: remember only what the current file says.
      if (match && entries === this.source.value) this.verified.set(digest, entry);
      return match;
    });
    this.pending.set(digest, verification);
    return verification.then((match) => (match ? judge(entry, now) : UNKNOWN));
  }
}

function judge(entry: GatewayKeyEntry, now: number): GatewayAuth {
  const identity: GatewayIdentity = { gateway: entry.gateway, tenant: entry.tenant, devicePrefix: entry.devicePrefix, notAfter: entry.notAfter };
  return entry.notAfter !== null && now > entry.notAfter ? { kind: 'expired', identity } : { kind: 'ok', identity };
}

/**
 * Every source of gateway keys: edge.gatewayKeys (plaintext, kept for compatibility) and the
 * hashed key file when edge.hashedGatewayKeysFile is set.
 */
export class GatewayAuthenticator {
  private readonly plain: ReadonlyMap<string, GatewayIdentity>;

  constructor(
    plainKeys: readonly { readonly key: string; readonly gateway: string; readonly tenant: string }[],
    private readonly store: GatewayKeyStore | undefined,
  ) {
    this.plain = new Map(plainKeys.map((entry) => [entry.key, { gateway: entry.gateway, tenant: entry.tenant, devicePrefix: '', notAfter: null }]));
  }

  /** The answer for an Authorization header (`Bearer <key>`). */
  authenticate(header: string | undefined, now: number): GatewayAuth | Promise<GatewayAuth> {
    if (header === undefined || !header.startsWith('Bearer ')) return UNKNOWN;
    const presented = header.slice(7).trim();
    const plain = this.plain.get(presented);
    if (plain !== undefined) return { kind: 'ok', identity: plain };
    return this.store === undefined ? UNKNOWN : this.store.authenticate(presented, now);
  }

  close(): void {
    this.store?.close();
  }
}
