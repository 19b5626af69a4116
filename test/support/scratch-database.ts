import { randomBytes } from 'node:crypto';
import { connectClickHouse, type ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { asRole } from '../../src/clickhouse/roles.ts';
import { loadStackConfig } from '../../src/stack/config.ts';
import { withLocalClickhouse } from '../../src/stack/local-credentials.ts';
import { sqlIdentifier } from '../../src/clickhouse/sql.ts';

type ClickHouseSettings = Parameters<typeof connectClickHouse>[0];

/**
 * Databases of one test file's own on the stack's ClickHouse (the stack's 18.16 unless
 * TP_CLICKHOUSE__URL points elsewhere): unique names, one connection that says how to start the
 * server when it does not answer, and every database named here dropped by `dropAll` (from `after`).
 */
export class ScratchDatabases {
  private readonly names: string[] = [];
  private connection: ClickHouseConnection | null = null;

  /** A new unique database name, `it_<prefix>_…`; the database itself is made by whoever migrates into it. */
  name(prefix: string): string {
    const name = `it_${prefix}_${Date.now()}_${randomBytes(3).toString('hex')}`;
    this.names.push(name);
    return name;
  }

  /** Adds a database named elsewhere (a service's configuration) to those `dropAll` drops. */
  adopt(name: string): string {
    this.names.push(name);
    return name;
  }

  async connect(settings: ClickHouseSettings): Promise<ClickHouseConnection> {
    if (this.connection) return this.connection;
    try {
      // Creating and dropping databases is the admin role's work (src/clickhouse/roles.ts); its
      // password is the local stack's unless the settings carry one.
      this.connection = await connectClickHouse(asRole(withLocalClickhouse(settings, loadStackConfig().stack), 'admin'));
    } catch (error) {
      throw new Error(
        `ClickHouse at ${settings.url} did not answer (${(error as Error).message}). ` +
          'Start the stack (npm run stack -- up) or point TP_CLICKHOUSE__URL at a running server.',
        { cause: error },
      );
    }
    return this.connection;
  }

  /** Drops every database named here and closes the connection (nothing to do when it never connected). */
  async dropAll(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    this.connection = null;
    try {
      for (const name of this.names) await connection.command(`DROP DATABASE IF EXISTS ${sqlIdentifier(name)}`);
    } finally {
      await connection.close();
    }
  }
}
