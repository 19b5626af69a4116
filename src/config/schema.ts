import { Type, type Static, type TSchema } from '@sinclair/typebox';

/**
 * The one configuration schema. Every key has a default, so that the parsed configuration is a
 * type with no optional fields; unknown keys are errors. Sections are kept in the order the data
 * flows: devices → mqtt/http (edge) → kafka → aggregator pipelines → clickhouse.
 */

const HostPort = Type.String({ pattern: '^[^\\s:]+:[0-9]{1,5}$', description: "'host:port'" });
const Millis = (defaultValue: number, description: string, minimum = 0) =>
  Type.Integer({ minimum, default: defaultValue, description: `${description} (milliseconds)` });
const Strict = { additionalProperties: false } as const;

export const KafkaSchema = Type.Object(
  {
    brokers: Type.Array(HostPort, { minItems: 1, default: ['127.0.0.1:9092'], description: 'bootstrap brokers' }),
    clientId: Type.String({ minLength: 1, default: 'telemetry-pipeline' }),
    readingsTopic: Type.String({ minLength: 1, default: 'telemetry.readings' }),
    deadLetterTopic: Type.String({ minLength: 1, default: 'telemetry.dead-letter' }),
    lateTopic: Type.String({ minLength: 1, default: 'telemetry.late' }),
    partitions: Type.Integer({ minimum: 1, maximum: 1024, default: 12 }),
    replicationFactor: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
    minInsyncReplicas: Type.Integer({ minimum: 1, maximum: 5, default: 1 }),
  },
  { ...Strict, default: {} },
);

export const MqttSchema = Type.Object(
  {
    url: Type.String({ pattern: '^mqtts?://', default: 'mqtt://127.0.0.1:1883' }),
    username: Type.String({ default: 'bridge' }),
    password: Type.String({ default: 'bridge-secret', description: 'secret' }),
    /** Topic scheme: telemetry/<tenant>/<device>. */
    topicPrefix: Type.String({ description: 'Topic scheme: telemetry/<tenant>/<device>.', minLength: 1, pattern: '^[^#+]+$', default: 'telemetry' }),
    /** Bridges in one share group split the devices' messages between them. */
    shareGroup: Type.String({ description: 'Bridges in one share group split the devices\' messages between them.', minLength: 1, pattern: '^[^/#+]+$', default: 'bridges' }),
    clientIdPrefix: Type.String({ minLength: 1, default: 'bridge' }),
    sessionExpirySeconds: Type.Integer({ minimum: 0, default: 3600 }),
    /**
     * MQTT 5 receive maximum: how many unacknowledged QoS 1 messages the broker may send us. The
     * bridge acknowledges after Kafka did, so this must cover throughput × Kafka's ack latency
     * (25k messages/s × 100 ms = 2500); memory is bounded by edge.maxInFlightReadings, not by this.
     */
    receiveMaximum: Type.Integer({ minimum: 1, maximum: 65535, default: 20000 }),
  },
  { ...Strict, default: {} },
);

export const ValidationSchema = Type.Object(
  {
    maxPayloadBytes: Type.Integer({ minimum: 64, default: 256 * 1024 }),
    maxReadingsPerMessage: Type.Integer({ minimum: 1, default: 1000 }),
    maxMetricsPerReading: Type.Integer({ minimum: 1, default: 64 }),
    maxIdLength: Type.Integer({ minimum: 1, default: 128 }),
    /** Deepest JSON nesting a payload may have; a valid batch needs 4 ({"readings":[{"metrics":{}}]}). */
    maxNestingDepth: Type.Integer({ description: 'Deepest JSON nesting a payload may have; a valid batch needs 4 ({"readings":[{"metrics":{}}]}).', minimum: 4, maximum: 64, default: 8 }),
    maxFutureSkewMs: Millis(5 * 60_000, 'how far ahead of the ingest clock an event time may be'),
    maxPastAgeMs: Millis(7 * 24 * 3_600_000, 'how far behind the ingest clock an event time may be'),
  },
  { ...Strict, default: {} },
);

export const GatewayKeySchema = Type.Object(
  {
    key: Type.String({ minLength: 16, description: 'secret' }),
    gateway: Type.String({ minLength: 1 }),
    tenant: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$' }),
  },
  Strict,
);

export const EdgeSchema = Type.Object(
  {
    httpHost: Type.String({ default: '127.0.0.1' }),
    httpPort: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
    maxHttpBodyBytes: Type.Integer({ minimum: 1024, default: 4 * 1024 * 1024 }),
    gatewayKeys: Type.Array(GatewayKeySchema, {
      default: [{ key: 'demo-gateway-key-0123456789', gateway: 'gw-demo', tenant: 'demo' }],
    }),
    /** Readings in flight to Kafka before intake pauses (MQTT) or answers 503 (HTTP). */
    maxInFlightReadings: Type.Integer({ description: 'Readings in flight to Kafka before intake pauses (MQTT) or answers 503 (HTTP).', minimum: 1, default: 200_000 }),
    /** How long a reading may wait for Kafka's delivery report before the producer is re-created. */
    deliveryTimeoutMs: Millis(30_000, 'producer message timeout', 1000),
    /** Watermark ticks per partition so that an idle partition's event time still advances. */
    tickIntervalMs: Millis(1000, 'interval of idle-partition ticks', 100),
    /** When a device's message is acknowledged: after Kafka's delivery report (no loss) or on receipt (at-most-once, lowest latency). */
    ackMode: Type.Union([Type.Literal('after-kafka'), Type.Literal('on-receipt')], { default: 'after-kafka' }),
    producer: Type.Object(
      {
        acks: Type.Union([Type.Literal('all'), Type.Literal('1'), Type.Literal('0')], { default: 'all' }),
        idempotence: Type.Boolean({ default: true }),
        /**
         * librdkafka linger.ms. Keyed records spread over all partitions, so at 10k messages/s and
         * 12 partitions 5 ms gave batches of ~4 records; 20 ms cut the bridge's CPU per reading by
         * about a fifth (librdkafka's threads, and the broker's per-batch work) for ≤ 20 ms of ack latency.
         */
        lingerMs: Millis(20, 'producer linger before a batch is sent', 0),
        /** librdkafka compression.type of the bridge's records. */
        compression: Type.Union([Type.Literal('lz4'), Type.Literal('zstd'), Type.Literal('snappy'), Type.Literal('gzip'), Type.Literal('none')], { default: 'lz4' }),
      },
      { ...Strict, default: {} },
    ),
    mqttEnabled: Type.Boolean({ default: true }),
    httpEnabled: Type.Boolean({ default: true }),
    validation: ValidationSchema,
  },
  { ...Strict, default: {} },
);

export const WindowSchema = Type.Union([
  Type.Object({ kind: Type.Literal('tumbling'), sizeMs: Type.Integer({ minimum: 1 }) }, Strict),
  Type.Object(
    { kind: Type.Literal('sliding'), sizeMs: Type.Integer({ minimum: 1 }), slideMs: Type.Integer({ minimum: 1 }) },
    Strict,
  ),
  Type.Object({ kind: Type.Literal('session'), gapMs: Type.Integer({ minimum: 1 }) }, Strict),
]);

export const WatermarkSchema = Type.Union([
  Type.Object({ kind: Type.Literal('fixed'), delayMs: Type.Integer({ minimum: 0 }) }, Strict),
  Type.Object(
    {
      kind: Type.Literal('adaptive'),
      /** The arrival-delay quantile the delay follows, for example 0.99. */
      quantile: Type.Number({ description: 'The arrival-delay quantile the delay follows, for example 0.99.', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.99 }),
      marginMs: Type.Integer({ minimum: 0, default: 500 }),
      floorMs: Type.Integer({ minimum: 0, default: 200 }),
      ceilingMs: Type.Integer({ minimum: 0, default: 30_000 }),
      /** How far back (in ingest time) the delay estimate looks; a shift is followed within it. */
      horizonMs: Type.Integer({ description: 'How far back (in ingest time) the delay estimate looks; a shift is followed within it.', minimum: 1000, default: 60_000 }),
    },
    Strict,
  ),
]);

export const LatePolicySchema = Type.Union([
  Type.Object({ kind: Type.Literal('drop') }, Strict),
  Type.Object({ kind: Type.Literal('late-topic') }, Strict),
  Type.Object({ kind: Type.Literal('reemit'), allowedLatenessMs: Type.Integer({ minimum: 0 }) }, Strict),
]);

export const GuaranteeSchema = Type.Union([
  Type.Literal('at-most-once'),
  Type.Literal('at-least-once'),
  Type.Literal('exactly-once'),
]);

export const PipelineSchema = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9_]{0,40}$', description: 'lower-case identifier, used in table names' }),
    guarantee: GuaranteeSchema,
    window: WindowSchema,
    watermark: WatermarkSchema,
    latePolicy: LatePolicySchema,
    /** A partition without readings for this long (in ingest time) stops holding the watermark back. */
    idleTimeoutMs: Type.Integer({ description: 'A partition without readings for this long (in ingest time) stops holding the watermark back.', minimum: 0, default: 5000 }),
    /** A device whose clock runs behind by more than the watermark covers gets its windows closed later by its learned offset, up to this; 0 turns it off. */
    maxDeviceClockOffsetMs: Type.Integer({ description: 'A device whose clock runs behind (beyond what the watermark delay covers) or ahead (by more than 1 s), learned from its readings, has its windows closed on its own clock, up to this offset in either direction; beyond it the device is treated as others (and counted). 0 turns it off.', minimum: 0, default: 300_000 }),
    /** Explicit consumer settings; null takes the guarantee profile's. A setting that breaks the guarantee is refused. */
    consumer: Type.Object(
      {
        autoCommit: Type.Union([Type.Boolean(), Type.Null()], { default: null }),
        isolationLevel: Type.Union([Type.Literal('read_committed'), Type.Literal('read_uncommitted'), Type.Null()], { default: null }),
      },
      { ...Strict, default: {} },
    ),
    consumerGroup: Type.String({ default: '', description: "defaults to 'aggregator-<name>'" }),
    table: Type.String({ default: '', description: "defaults to 'agg_<name>'" }),
  },
  Strict,
);

export const AggregatorSchema = Type.Object(
  {
    pipelines: Type.Array(PipelineSchema, {
      minItems: 1,
      default: [
        {
          name: 'main',
          guarantee: 'exactly-once',
          window: { kind: 'tumbling', sizeMs: 5000 },
          watermark: { kind: 'adaptive', quantile: 0.99, marginMs: 500, floorMs: 200, ceilingMs: 30000, horizonMs: 60000 },
          latePolicy: { kind: 'reemit', allowedLatenessMs: 60000 },
          idleTimeoutMs: 5000,
          consumerGroup: '',
          table: '',
        },
      ],
    }),
    /** How often emitted rows are inserted into ClickHouse. */
    flushIntervalMs: Millis(1000, 'sink flush interval', 50),
    maxRowsPerInsert: Type.Integer({ minimum: 1, default: 50_000 }),
    /** How often window state is checkpointed and offsets committed (exactly-once tiers). */
    checkpointIntervalMs: Millis(5000, 'checkpoint interval', 100),
    writeRawReadings: Type.Boolean({ default: true }),
    sessionTimeoutMs: Millis(10_000, 'consumer group session timeout', 1000),
    /** Names this instance in client ids and its transactional id; defaults to '<hostname>-<pid>'. */
    instanceId: Type.String({ description: 'Names this instance in client ids and its transactional id; defaults to \'<hostname>-<pid>\'.', pattern: '^[A-Za-z0-9_.-]*$', default: '' }),
    /** Fault injection for failure tests: '<point>:<n>' SIGKILLs the process the n-th time it reaches the point. */
    crashAt: Type.String({ description: 'Fault injection for failure tests: \'<point>:<n>\' SIGKILLs the process the n-th time it reaches the point.', default: '' }),
    metricsPort: Type.Integer({ minimum: 0, maximum: 65535, default: 9464 }),
    metricsHost: Type.String({ default: '127.0.0.1' }),
    /** Base URLs of the bridges whose GET /metrics the status page (GET /status/) shows, e.g. 'http://127.0.0.1:8080'. */
    statusBridges: Type.Array(Type.String({ pattern: '^https?://' }), { default: [] }),
    /** The end-to-end latency objective the status page draws the P95 against (milliseconds). */
    slaP95Ms: Millis(10_000, 'end-to-end P95 objective', 1),
  },
  { ...Strict, default: {} },
);

export const ClickHouseSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:8123' }),
    database: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', default: 'telemetry' }),
    username: Type.String({ default: 'default' }),
    password: Type.String({ default: '', description: 'secret' }),
    requestTimeoutMs: Millis(30_000, 'request timeout', 100),
    insertMaxAttempts: Type.Integer({ minimum: 1, default: 60 }),
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

export const StackSchema = Type.Object(
  {
    /** Where the local stack keeps data, logs and pid files (git-ignored). */
    dataDir: Type.String({ description: 'Where the local stack keeps data, logs and pid files (git-ignored).', default: '.data' }),
    kafkaNodes: Type.Union([Type.Literal(1), Type.Literal(3)], { default: 1 }),
    kafkaBasePort: Type.Integer({ minimum: 1024, maximum: 65000, default: 9092 }),
    kafkaHeapMb: Type.Integer({ minimum: 128, default: 768 }),
    clickhouseHttpPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 8123 }),
    clickhouseTcpPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 9000 }),
    mosquittoPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 1883 }),
    /** ClickHouse servers: 1, or 2 replicas coordinated by ZooKeeper (replica i listens on each ClickHouse port + i − 1). */
    clickhouseReplicas: Type.Union([Type.Literal(1), Type.Literal(2)], {
      description: 'ClickHouse servers: 1, or 2 replicas of one shard coordinated by ZooKeeper (replica i listens on each ClickHouse port + i − 1).',
      default: 1,
    }),
    clickhouseInterserverPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 9009, description: 'replication (interserver HTTP) port of replica 1' }),
    zookeeperPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 2181, description: 'ZooKeeper client port (started only with 2 ClickHouse replicas)' }),
    /** Use a ClickHouse or MQTT broker that is already running instead of starting one. */
    useExistingClickhouse: Type.Boolean({ description: 'Use a ClickHouse or MQTT broker that is already running instead of starting one.', default: false }),
    useExistingMqtt: Type.Boolean({ default: false }),
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

export const ConfigSchema = Type.Object(
  {
    kafka: KafkaSchema,
    mqtt: MqttSchema,
    edge: EdgeSchema,
    aggregator: AggregatorSchema,
    clickhouse: ClickHouseSchema,
    stack: StackSchema,
  },
  Strict,
);

export type Config = Static<typeof ConfigSchema>;
export type KafkaConfig = Static<typeof KafkaSchema>;
export type MqttConfig = Static<typeof MqttSchema>;
export type EdgeConfig = Static<typeof EdgeSchema>;
export type ValidationConfig = Static<typeof ValidationSchema>;
export type GatewayKey = Static<typeof GatewayKeySchema>;
export type AggregatorConfig = Static<typeof AggregatorSchema>;
export type PipelineConfig = Static<typeof PipelineSchema>;
export type WindowConfig = Static<typeof WindowSchema>;
export type WatermarkConfig = Static<typeof WatermarkSchema>;
export type LatePolicyConfig = Static<typeof LatePolicySchema>;
export type Guarantee = Static<typeof GuaranteeSchema>;
export type ClickHouseConfig = Static<typeof ClickHouseSchema>;
export type StackConfig = Static<typeof StackSchema>;
