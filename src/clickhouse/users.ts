import { createHash } from 'node:crypto';
import type { ClickHouseConfig } from '../config/schema.ts';
import type { Logger } from '../util/log.ts';
import type { ServerCapabilities } from './capabilities.ts';
import type { ClickHouseConnection } from './client.ts';
import { sqlIdentifier, sqlString } from './sql.ts';

/**
 * The users of the ingest and reader roles (src/clickhouse/roles.ts) on servers with SQL access
 * management (CREATE USER, GRANT: 20.5 and later), created by `migrate`, which runs as the admin
 * role. 18.16 has none: its users are in users.xml (the local stack writes them,
 * src/stack/clickhouse.ts), and migrate says so in its log.
 *
 *   ingest  SELECT, INSERT on the database; no DDL (so no DROP DATABASE, no ALTER)
 *   reader  SELECT on the database, with readonly = 1 (no writes, no setting changes)
 *
 * Passwords go over as SHA-256 (`IDENTIFIED WITH sha256_hash`), so that the query log never holds
 * them; re-running migrate after a password change updates the user (ALTER USER).
 */
export function supportsSqlUsers(capabilities: ServerCapabilities): boolean {
  return capabilities.major > 20 || (capabilities.major === 20 && capabilities.minor >= 5);
}

export interface RoleUserPlan {
  readonly statements: readonly string[];
  /** Roles left out because their password is empty (a user without one would be open). */
  readonly skipped: readonly string[];
}

export function roleUserStatements(clickhouse: ClickHouseConfig, database: string): RoleUserPlan {
  const db = sqlIdentifier(database);
  const roles = [
    { role: 'ingest', username: clickhouse.username, password: clickhouse.password, grants: [`GRANT SELECT, INSERT ON ${db}.* TO %USER%`], settings: '' },
    { role: 'reader', ...clickhouse.roles.reader, grants: [`GRANT SELECT ON ${db}.* TO %USER%`], settings: ' SETTINGS readonly = 1' },
  ];
  const statements: string[] = [];
  const skipped: string[] = [];
  for (const { role, username, password, grants, settings } of roles) {
    // The admin's own user (a reader named like it, say) is never altered from here.
    if (password === '' || username === clickhouse.roles.admin.username || username === 'default') {
      skipped.push(role);
      continue;
    }
    const user = sqlIdentifier(username);
    const identified = `IDENTIFIED WITH sha256_hash BY ${sqlString(createHash('sha256').update(password).digest('hex'))}`;
    statements.push(`CREATE USER IF NOT EXISTS ${user} ${identified}${settings}`, `ALTER USER ${user} ${identified}${settings}`, ...grants.map((grant) => grant.replace('%USER%', user)));
  }
  return { statements, skipped };
}

/** Creates or updates the role users where the server can; on 18.16 only logs where they come from. */
export async function ensureRoleUsers(connection: ClickHouseConnection, clickhouse: ClickHouseConfig, database: string, logger?: Logger): Promise<'created' | 'users.xml'> {
  if (!supportsSqlUsers(connection.capabilities)) {
    logger?.info({ url: connection.url, version: connection.capabilities.version }, 'ClickHouse users come from users.xml on this server (no SQL access management before 20.5): migrate creates none');
    return 'users.xml';
  }
  const plan = roleUserStatements(clickhouse, database);
  if (plan.skipped.length > 0) logger?.warn({ url: connection.url, roles: plan.skipped }, 'ClickHouse role users not created: their password is empty, or they name the admin or default user');
  for (const statement of plan.statements) await connection.command(statement);
  logger?.info({ url: connection.url, users: plan.statements.length > 0 ? [clickhouse.username, clickhouse.roles.reader.username] : [] }, 'ClickHouse role users and grants up to date');
  return 'created';
}
