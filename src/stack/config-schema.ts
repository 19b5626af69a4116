import { Type, type Static } from '@sinclair/typebox';
import { ConfigSchema } from '../config/schema.ts';
import { Millis, Strict } from '../config/schema-common.ts';
import { MosquittoTlsPortSetting } from '../config/tls-schema.ts';

/**
 * The local stack's own settings (`stack.*`): ports, data directory, node counts of the Kafka,
 * ClickHouse and Mosquitto processes `npm run stack` starts on this machine. Only the local-stack
 * CLI and the test and load-test launchers read them (src/stack/config.ts); the services' schema
 * (src/config/schema.ts) does not know them, so no production configuration can carry them.
 */

export const StackSchema = Type.Object(
  {
    /** Where the local stack keeps data, logs and pid files (git-ignored). */
    dataDir: Type.String({ description: 'Where the local stack keeps data, logs and pid files (git-ignored).', default: '.data' }),
    kafkaNodes: Type.Union([Type.Literal(1), Type.Literal(3)], { default: 1, description: 'Local Kafka: 1 node, or 3 (topics with replication factor 3, min.insync.replicas 2).' }),
    kafkaBasePort: Type.Integer({ minimum: 1024, maximum: 65000, default: 9092, description: 'Broker port of local Kafka node 1; node i uses base + 2(i − 1), its controller the next port.' }),
    kafkaProtocol: Type.Union([Type.Literal('sasl_ssl'), Type.Literal('plaintext')], {
      default: 'sasl_ssl',
      description:
        "How the local Kafka's clients connect: 'sasl_ssl' (TLS with the local CA's certificate, SCRAM-SHA-512 logins: the stack's admin for tools and tests, one principal each for the bridges and aggregators, ACLs on what each may touch) or 'plaintext' (no TLS, no login, no ACLs: only to compare what security costs). Sets kafka.security of the services the stack configures.",
    }),
    kafkaHeapMb: Type.Integer({ minimum: 128, default: 768, description: 'JVM heap of each local Kafka node (MB), reserved at start.' }),
    kafkaQuickStart: Type.Boolean({
      default: false,
      description:
        'Local Kafka nodes compile with the JVM\'s first tier only (-XX:TieredStopAtLevel=1): a node starts on about 40 % less CPU (3.0 s against 5.0 s here), ' +
        'and a broker restarted on a loaded machine rejoins sooner, at some cost in steady throughput. The chaos run sets it; benchmarks leave it off.',
    }),
    clickhouseHttpPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 8123, description: 'HTTP port of the local ClickHouse (replica 1).' }),
    clickhouseTcpPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 9000, description: 'Native TCP port of the local ClickHouse (replica 1), used by clickhouse-client.' }),
    mosquittoPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 1883, description: 'Port of the local Mosquitto.' }),
    mosquittoTlsPort: MosquittoTlsPortSetting,
    /** ClickHouse servers: 1, or 2 replicas coordinated by ZooKeeper (replica i listens on each ClickHouse port + i − 1). */
    clickhouseReplicas: Type.Union([Type.Literal(1), Type.Literal(2)], {
      description: 'ClickHouse servers: 1, or 2 replicas of one shard coordinated by ZooKeeper (replica i listens on each ClickHouse port + i − 1).',
      default: 1,
    }),
    clickhouseInterserverPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 9009, description: 'replication (interserver HTTP) port of replica 1' }),
    zookeeperPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 2181, description: 'ZooKeeper client port (started only with 2 ClickHouse replicas)' }),
    /** Use a ClickHouse or MQTT broker that is already running instead of starting one. */
    useExistingClickhouse: Type.Boolean({ description: 'Use the ClickHouse at clickhouse.url that is already running instead of starting one.', default: false }),
    useExistingMqtt: Type.Boolean({ default: false, description: 'Use the MQTT broker at mqtt.url instead of starting Mosquitto.' }),
    mqttMode: Type.Union([Type.Literal('direct'), Type.Literal('broker')], {
      default: 'direct',
      description:
        "The mqtt.mode of the local stack's bridges (`stack up --bridges`, the demo, the load tests and the chaos run): 'direct' (devices connect to the bridges, PUBACK after Kafka's ack) or 'broker' (devices publish to the local Mosquitto). Outside the local stack mqtt.mode decides.",
    }),
    startTimeoutMs: Millis(60_000, 'how long to wait for a service to answer', 1000),
    /**
     * A second address for Kafka's brokers (listener ISOLATED, on each broker port + 1000) and one
     * for ClickHouse: the machine's side of a network namespace, so that a process inside it can be
     * cut off from Kafka alone (the chaos run's network-partition fault). Empty: loopback only.
     */
    isolatedKafkaAddress: Type.String({ default: '', description: "a second Kafka listener address (broker port + 1000) for processes in a network namespace; '' = none" }),
    isolatedClickhouseAddress: Type.String({ default: '', description: "a second ClickHouse listen address for processes in a network namespace; '' = none" }),
  },
  { ...Strict, default: {} },
);

/** The local stack's configuration file: the services' sections, plus `stack`. */
export const LocalStackConfigSchema = Type.Object({ ...ConfigSchema.properties, stack: StackSchema }, Strict);

export type StackConfig = Static<typeof StackSchema>;
export type LocalStackConfig = Static<typeof LocalStackConfigSchema>;
