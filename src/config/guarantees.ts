import type { GuaranteeSettings } from '../core/failure-analysis.ts';
import { guaranteeProfile } from '../core/guarantees.ts';
import type { Config, PipelineConfig } from './schema.ts';

/**
 * A pipeline's effective delivery settings: its guarantee profile, overridden by whatever the
 * configuration sets explicitly (which the loader refuses when it breaks the guarantee).
 */
export function guaranteeSettings(config: Pick<Config, 'edge' | 'kafka' | 'mqtt'>, pipeline: PipelineConfig): GuaranteeSettings {
  const profile = guaranteeProfile(pipeline.guarantee);
  return {
    pipeline: pipeline.name,
    guarantee: pipeline.guarantee,
    mqtt: { mode: config.mqtt.mode, brokerPersistence: config.mqtt.brokerPersistence },
    edge: { ackMode: config.edge.ackMode, acks: config.edge.producer.acks, idempotence: config.edge.producer.idempotence },
    kafka: { replicationFactor: config.kafka.replicationFactor, minInsyncReplicas: config.kafka.minInsyncReplicas },
    consumer: {
      autoCommit: pipeline.consumer.autoCommit ?? profile.consumer.autoCommit,
      isolation: pipeline.consumer.isolationLevel ?? profile.consumer.isolation,
    },
    checkpointed: profile.state.checkpointed,
    lateToKafka: pipeline.latePolicy.kind === 'late-topic',
    transactionalKafkaWrites: profile.kafkaWrites.transactional,
  };
}

/** Maps a setting named in a violation to its configuration key for pipeline number `index`. */
export function settingKey(index: number): (setting: string) => string {
  return (setting) => (setting.startsWith('consumer.') ? `aggregator.pipelines.${index}.${setting}` : setting);
}
