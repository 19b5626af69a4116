/**
 * What the connected server can do. Detected once at connect from `SELECT version()` and from the
 * setting names the server knows (a setting's presence is a more precise signal than a version
 * number: backports and forks differ). Newer features are used only where present, so the same
 * code runs on Debian's 18.16 and on current ClickHouse.
 */
export interface ServerCapabilities {
  /** As reported by the server, e.g. '18.16.1' or '25.8.2.29'. */
  readonly version: string;
  readonly major: number;
  readonly minor: number;
  /** `insert_deduplication_token` query setting (22.2+). */
  readonly supportsInsertDeduplicationToken: boolean;
  /**
   * `non_replicated_deduplication_window` MergeTree setting (20.x+): insert deduplication for
   * non-replicated tables. Without it a deduplication token would be ignored.
   */
  readonly supportsNonReplicatedDeduplication: boolean;
  /** `mutations_sync` query setting: ALTER ... DELETE can wait for its mutation. */
  readonly supportsMutationsSync: boolean;
  /** Table TTL (19.6+; `merge_with_ttl_timeout` came with it): retention without a job. */
  readonly supportsTtl: boolean;
}

/** The settings whose presence the detection asks the server about. */
export const PROBED_QUERY_SETTINGS = ['insert_deduplication_token', 'mutations_sync'] as const;
export const PROBED_MERGE_TREE_SETTINGS = ['non_replicated_deduplication_window', 'merge_with_ttl_timeout'] as const;

export function capabilitiesFrom(
  version: string,
  querySettings: ReadonlySet<string>,
  mergeTreeSettings: ReadonlySet<string>,
): ServerCapabilities {
  const [major = 0, minor = 0] = version.split('.').map((part) => Number.parseInt(part, 10) || 0);
  return {
    version,
    major,
    minor,
    supportsInsertDeduplicationToken: querySettings.has('insert_deduplication_token'),
    supportsNonReplicatedDeduplication: mergeTreeSettings.has('non_replicated_deduplication_window'),
    supportsMutationsSync: querySettings.has('mutations_sync'),
    supportsTtl: mergeTreeSettings.has('merge_with_ttl_timeout'),
  };
}

/** A deduplication token helps only where the server knows it and our tables keep a window. */
export function usesDeduplicationToken(capabilities: ServerCapabilities): boolean {
  return capabilities.supportsInsertDeduplicationToken && capabilities.supportsNonReplicatedDeduplication;
}

/** The capabilities of Debian's clickhouse-server 18.16, the oldest server this code targets. */
export const CLICKHOUSE_18_16: ServerCapabilities = capabilitiesFrom('18.16.1', new Set(), new Set());
