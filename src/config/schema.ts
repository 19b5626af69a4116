import { Type, type Static } from '@sinclair/typebox';
import { Strict } from './schema-common.ts';
import { KafkaSchema } from './schema-kafka.ts';
import { CodecRuleSchema, EdgeSchema, GatewayKeySchema, HttpLimitsSchema, MqttListenSchema, MqttSchema, ValidationSchema } from './schema-edge.ts';
import { AggregatorSchema, GuaranteeSchema, LatePolicySchema, PipelineSchema, RollupSchema, WatermarkSchema, WindowSchema } from './schema-aggregator.ts';
import { ClickHouseSchema } from './schema-clickhouse.ts';

export { SECRET_MARK, Secret } from './schema-common.ts';
export { KafkaSchema } from './schema-kafka.ts';
export { CodecRuleSchema, EdgeSchema, GatewayKeySchema, HttpLimitsSchema, MqttListenSchema, MqttSchema, ValidationSchema } from './schema-edge.ts';
export { AggregatorSchema, GuaranteeSchema, LatePolicySchema, PipelineSchema, RollupSchema, WatermarkSchema, WindowSchema } from './schema-aggregator.ts';
export { ClickHouseSchema } from './schema-clickhouse.ts';

/** How much the services log (pino levels); the one place a service's log level is set. */
export const LogSchema = Type.Object(
  {
    level: Type.Union([Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'), Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')], {
      default: 'info',
      description: "Least severe log level written: 'fatal', 'error', 'warn', 'info', 'debug', 'trace' or 'silent' (TP_LOG__LEVEL). 'trace' also logs the MQTT client library's own messages (broker mode).",
    }),
  },
  { ...Strict, default: {} },
);

/**
 * The one configuration schema of the services (bridge, aggregator, CLI). Every key has a default,
 * so that the parsed configuration is a type with no optional fields; unknown keys are errors.
 * Sections are kept in the order the data flows: devices → mqtt/http (edge) → kafka → aggregator
 * pipelines → clickhouse. Production settings only: test hooks live in test-only entry points
 * (loadtest/support/), and the local stack's own section in src/stack/config-schema.ts.
 */
export const ConfigSchema = Type.Object(
  {
    kafka: KafkaSchema,
    mqtt: MqttSchema,
    edge: EdgeSchema,
    aggregator: AggregatorSchema,
    clickhouse: ClickHouseSchema,
    log: LogSchema,
  },
  Strict,
);

export type Config = Static<typeof ConfigSchema>;
export type KafkaConfig = Static<typeof KafkaSchema>;
export type MqttConfig = Static<typeof MqttSchema>;
export type MqttListenConfig = Static<typeof MqttListenSchema>;
export type CodecRuleConfig = Static<typeof CodecRuleSchema>;
export type EdgeConfig = Static<typeof EdgeSchema>;
export type ValidationConfig = Static<typeof ValidationSchema>;
export type GatewayKey = Static<typeof GatewayKeySchema>;
export type HttpLimitsConfig = Static<typeof HttpLimitsSchema>;
export type AggregatorConfig = Static<typeof AggregatorSchema>;
export type PipelineConfig = Static<typeof PipelineSchema>;
export type RollupConfig = Static<typeof RollupSchema>;
export type WindowConfig = Static<typeof WindowSchema>;
export type WatermarkConfig = Static<typeof WatermarkSchema>;
export type LatePolicyConfig = Static<typeof LatePolicySchema>;
export type Guarantee = Static<typeof GuaranteeSchema>;
export type ClickHouseConfig = Static<typeof ClickHouseSchema>;
export type LogLevel = Static<typeof LogSchema>['level'];
