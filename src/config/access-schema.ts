import { Type, type Static } from '@sinclair/typebox';
import { Secret, Strict } from './schema-common.ts';

/**
 * Identities bound to what they may touch (issue 18): the hashed gateway key file of the HTTP
 * intake (`edge.hashedGatewayKeysFile`) and ClickHouse's users per role (`clickhouse.roles`). Hooked
 * into the edge and clickhouse sections by one line each.
 */
export const HashedGatewayKeysFileSetting = Type.String({
  default: '',
  description:
    "File of hashed gateway API keys, one a line: '<gateway> <tenant> <device prefix|*> <key id> scrypt$N$r$p$salt$key [<not after, ISO UTC>]' (write lines with `npm run cli -- gateway-key add`). Reloaded when it changes and on SIGHUP; a key past its not-after time gets 401 (reason expired-gateway-key). '' = none; edge.gatewayKeys (plaintext) still works beside it. Environment: TP_EDGE__HASHED_GATEWAY_KEYS_FILE.",
});

const role = (name: string, does: string) =>
  Type.Object(
    {
      username: Type.String({ minLength: 1, default: name, description: `ClickHouse user of the ${name} role: ${does}.` }),
      password: Secret({ description: `Secret: password of the ${name} role's ClickHouse user. Set it with TP_CLICKHOUSE__ROLES__${name.toUpperCase()}__PASSWORD or TP_CLICKHOUSE__ROLES__${name.toUpperCase()}__PASSWORD_FILE.` }),
    },
    { ...Strict, default: {} },
  );

/**
 * The users of the roles besides clickhouse.username (the ingest role: the aggregator's inserts
 * and checkpoint reads). Who uses which: src/clickhouse/roles.ts.
 */
export const ClickHouseRolesSchema = Type.Object(
  {
    reader: role('reader', 'read-only (readonly=1): the status page, audits, query examples and dashboards'),
    admin: role('admin', 'migrations and retention (CREATE, ALTER, DROP) and, on servers with SQL users, creating the other roles'),
  },
  {
    ...Strict,
    default: {},
    description: "Users of the other ClickHouse roles; clickhouse.username is the ingest role's (the aggregator's inserts). Nobody should use 'default'.",
  },
);

export type ClickHouseRolesConfig = Static<typeof ClickHouseRolesSchema>;
