import type { ClickHouseConfig } from '../config/schema.ts';

/**
 * Who talks to ClickHouse as whom. Each caller names its role; the role decides the user and
 * password, so that no call site picks credentials on its own and nobody logs in as `default`:
 *
 *   ingest  clickhouse.username / password: the aggregator's inserts, its checkpoints (read,
 *           insert, prune) and raw readings. No DDL.
 *   reader  clickhouse.roles.reader: read-only (readonly=1): status, audits, query examples, dashboards.
 *   admin   clickhouse.roles.admin: migrations, retention, rollup rebuilds, backfill and replay
 *           (which rewrite windows), and creating the other users where the server has SQL users.
 */
export type ClickHouseRole = 'ingest' | 'reader' | 'admin';

export const CLICKHOUSE_ROLES: readonly ClickHouseRole[] = ['ingest', 'reader', 'admin'];

/** `config` with the user and password of `role` (the connection settings stay). */
export function asRole(config: ClickHouseConfig, role: ClickHouseRole): ClickHouseConfig {
  if (role === 'ingest') return config;
  const { username, password } = config.roles[role];
  return { ...config, username, password };
}

/** The user and password of `role`. */
export function roleCredentials(config: ClickHouseConfig, role: ClickHouseRole): { readonly username: string; readonly password: string } {
  const resolved = asRole(config, role);
  return { username: resolved.username, password: resolved.password };
}
