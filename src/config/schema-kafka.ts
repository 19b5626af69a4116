import { Type } from '@sinclair/typebox';
import { HostPort, Secret, Strict } from './schema-common.ts';

/**
 * How every Kafka client of the pipeline authenticates and encrypts (`kafka.security`): one block,
 * turned into librdkafka properties by one function (src/kafka/connection.ts) for every client.
 */
export const KafkaSecuritySchema = Type.Object(
  {
    protocol: Type.Union([Type.Literal('sasl_ssl'), Type.Literal('ssl'), Type.Literal('plaintext')], {
      default: 'sasl_ssl',
      description:
        "'sasl_ssl': TLS to the brokers and a SASL login (kafka.security.mechanism) as kafka.security.username; 'ssl': TLS without a login (a listener that authenticates by network or certificate); 'plaintext': neither, only on a private network (`guarantees explain` and the status page say so).",
    }),
    mechanism: Type.Literal('SCRAM-SHA-512', { default: 'SCRAM-SHA-512', description: 'SASL mechanism of the login (protocol sasl_ssl): SCRAM-SHA-512, which never sends the password itself.' }),
    username: Type.String({ default: '', description: "Kafka principal this service logs in as (User:<username> in the brokers' ACLs); required with protocol sasl_ssl." }),
    password: Secret({ description: "Secret: password of kafka.security.username; required with protocol sasl_ssl. Set it with TP_KAFKA__SECURITY__PASSWORD or TP_KAFKA__SECURITY__PASSWORD_FILE (a mounted Secret)." }),
    caFile: Type.String({ default: '', description: "PEM CA bundle that signed the brokers' certificates (protocols sasl_ssl and ssl); '' trusts the system's CAs." }),
  },
  { ...Strict, default: {} },
);

/** The `kafka` section: brokers, topics and whose clock an ingest time is. */
export const KafkaSchema = Type.Object(
  {
    brokers: Type.Array(HostPort, { minItems: 1, default: ['127.0.0.1:9092'], description: 'bootstrap brokers' }),
    clientId: Type.String({ minLength: 1, default: 'telemetry-pipeline', description: 'Kafka client id prefix of the bridges and aggregators (each adds its own suffix); shows in broker logs and quotas.' }),
    readingsTopic: Type.String({ minLength: 1, default: 'telemetry.readings', description: 'Topic the bridges write readings and ticks to, keyed by device; every pipeline reads it.' }),
    deadLetterTopic: Type.String({ minLength: 1, default: 'telemetry.dead-letter', description: 'Topic of refused input: reason, detail and the original bytes (created with at most 3 partitions).' }),
    lateTopic: Type.String({ minLength: 1, default: 'telemetry.late', description: "Topic that pipelines with latePolicy 'late-topic' write late readings to." }),
    partitions: Type.Integer({ minimum: 1, maximum: 1024, default: 12, description: 'Partitions of the readings and late topics when they are created; the most aggregator instances a pipeline can use.' }),
    replicationFactor: Type.Integer({ minimum: 1, maximum: 5, default: 1, description: 'Replication factor of the topics created; 3 in production, so that a broker can fail without losing acknowledged readings.' }),
    minInsyncReplicas: Type.Integer({ minimum: 1, maximum: 5, default: 1, description: 'min.insync.replicas of the topics created: replicas that must have a record before acks=all succeeds (2 with replicationFactor 3).' }),
    security: KafkaSecuritySchema,
    ingestClock: Type.Union([Type.Literal('broker'), Type.Literal('bridge')], {
      default: 'broker',
      description:
        "Whose clock a reading's ingest time is (watermarks, late decisions, device-clock learning, latency): 'broker' (the readings topic's record timestamp, which needs message.timestamp.type=LogAppendTime on it: the aggregator refuses to start otherwise) or 'bridge' (each bridge host's clock as written in the record; only where the topic cannot be changed).",
    }),
  },
  { ...Strict, default: {} },
);
