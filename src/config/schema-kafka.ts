import { Type } from '@sinclair/typebox';
import { HostPort, Strict } from './schema-common.ts';

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
    ingestClock: Type.Union([Type.Literal('broker'), Type.Literal('bridge')], {
      default: 'broker',
      description:
        "Whose clock a reading's ingest time is (watermarks, late decisions, device-clock learning, latency): 'broker' (the readings topic's record timestamp, which needs message.timestamp.type=LogAppendTime on it: the aggregator refuses to start otherwise) or 'bridge' (each bridge host's clock as written in the record; only where the topic cannot be changed).",
    }),
  },
  { ...Strict, default: {} },
);
