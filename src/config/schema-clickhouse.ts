import { Type } from '@sinclair/typebox';
import { Millis, Secret, Strict } from './schema-common.ts';
import { ClickHouseRolesSchema } from './access-schema.ts';

/** The `clickhouse` section: where aggregates are written. */
export const ClickHouseSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:8123', description: 'HTTP interface of ClickHouse (of the first replica when clickhouse.cluster is set).' }),
    database: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', default: 'telemetry', description: 'Database of the agg_<pipeline>, readings_raw and checkpoints tables (created by migrate).' }),
    username: Type.String({ minLength: 1, default: 'ingest', description: "ClickHouse user of the ingest role (the aggregator's inserts and checkpoint reads); the other roles' users are clickhouse.roles." }),
    roles: ClickHouseRolesSchema,
    password: Secret({ description: "Secret: password of the ClickHouse user; '' sends none. Set it with TP_CLICKHOUSE__PASSWORD or TP_CLICKHOUSE__PASSWORD_FILE." }),
    requestTimeoutMs: Millis(30_000, 'request timeout', 100),
    insertMaxAttempts: Type.Integer({ minimum: 1, default: 60, description: 'Attempts per insert before the flush fails and the aggregator stops (also bounded by insertMaxElapsedMs).' }),
    insertMaxElapsedMs: Millis(120_000, 'total insert retry budget', 100),
    /** A <remote_servers> cluster (one shard, its replicas); '' is one server with non-replicated tables. */
    cluster: Type.String({
      description: "ClickHouse cluster (a <remote_servers> name: one shard, N replicas, ZooKeeper); '' means one server with non-replicated tables. When set, migrations create Replicated*MergeTree tables on clickhouse.url and every clickhouse.replicaUrls.",
      pattern: '^([A-Za-z_][A-Za-z0-9_]*)?$',
      default: '',
    }),
    /** The cluster's other replicas, besides clickhouse.url: reads and writes fail over to them. */
    replicaUrls: Type.Array(Type.String({ pattern: '^https?://' }), {
      description: "The cluster's other replicas besides clickhouse.url (needs clickhouse.cluster): a request fails over to the next replica when one does not answer.",
      default: [],
    }),
  },
  { ...Strict, default: {} },
);
