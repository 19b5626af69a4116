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

/**
 * The schema keyword that marks a secret. Everything that shows configuration asks the schema
 * (src/config/secrets.ts): validation messages, log lines, `config`'s output, rendered manifests
 * and the reference page never carry a secret's value, and no call site decides that on its own.
 */
export const SECRET_MARK = 'secret';

/**
 * A secret string: set from the environment (`TP_<KEY>`) or from a file (`TP_<KEY>_FILE`, e.g. a
 * mounted Kubernetes Secret). No default but '' (none): demo credentials belong to the local stack.
 */
export function Secret(options: { readonly description: string; readonly minLength?: number; readonly required?: boolean }) {
  const { required, ...rest } = options;
  return Type.String({ ...rest, [SECRET_MARK]: true, ...(required ? {} : { default: '' }) });
}

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

/** The bridge as the devices' own MQTT server (mqtt.mode 'direct'): where it listens and its limits. */
export const MqttListenSchema = Type.Object(
  {
    host: Type.String({ default: '127.0.0.1', description: "Address the bridge's MQTT server listens on in direct mode ('0.0.0.0': every interface)." }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 1884, description: "TCP port of the bridge's MQTT server in direct mode (0: any free port); behind a TCP load balancer every bridge listens on its own." }),
    maxConnections: Type.Integer({ minimum: 1, default: 10_000, description: 'Device connections one bridge accepts; a CONNECT beyond it gets CONNACK 0x97 quota exceeded (MQTT 3.1.1: 3 server unavailable).' }),
    maxPacketBytes: Type.Integer({ minimum: 1024, maximum: 268_435_455, default: 512 * 1024, description: 'Largest MQTT packet a device may send (bytes; MQTT 5 CONNACK maximum packet size); a larger one closes the connection (MQTT 5: DISCONNECT 0x95).' }),
    receiveMaximum: Type.Integer({ minimum: 1, maximum: 65535, default: 1000, description: "QoS 1 and 2 messages a device may have unacknowledged on one connection (MQTT 5 CONNACK receive maximum; exceeding it is DISCONNECT 0x93); MQTT 3.1.1 clients are not told: at the limit the bridge stops reading their socket." }),
    maxKeepAliveSeconds: Type.Integer({ minimum: 1, maximum: 65535, default: 300, description: "Longest keep-alive a device may ask for (MQTT 5 devices asking more, or none, get this as the server keep alive); a connection silent for 1.5 × its keep-alive is closed." }),
    connectTimeoutMs: Millis(10_000, 'how long a new TCP connection may take to send its CONNECT before it is closed', 100),
    maxSessionExpirySeconds: Type.Integer({ minimum: 0, default: 3600, description: "Longest a device's session (its QoS 2 packet ids awaiting PUBREL) is kept after it disconnected (seconds); MQTT 3.1.1 clean-session-off devices get this." }),
    maxMessagesPerSecondPerClient: Type.Integer({ minimum: 0, default: 0, description: 'Per-connection message rate limit (token bucket of one second); a PUBLISH beyond it is refused with 0x97 quota exceeded and not written (MQTT 3.1.1: the connection is closed). 0: no limit.' }),
  },
  { ...Strict, default: {} },
);

const TopicFilter = (description: string) => Type.String({ minLength: 1, pattern: '^[^\\u0000]+$', description });

/** One rule of mqtt.codecs: the topics it takes and the codec that reads their payloads (src/core/codecs/). */
export const CodecRuleSchema = Type.Union(
  [
    Type.Object(
      {
        topic: TopicFilter("MQTT topic filter of the rule ('+' one level, '#' the rest); a JSON rule's must be '<prefix>/+/+' (tenant and device)."),
        codec: Type.Literal('json', { description: "'json': the JSON readings of the readings reference." }),
      },
      Strict,
    ),
    Type.Object(
      {
        topic: TopicFilter("MQTT topic filter of the rule, normally 'spBv1.0/#' (Sparkplug B topics: spBv1.0/<group>/<type>/<edge node>[/<device>])."),
        codec: Type.Literal('sparkplug', { description: "'sparkplug': Sparkplug B payloads; the group is the tenant, the device is '<edge node>' or '<edge node>.<device>'." }),
      },
      Strict,
    ),
    Type.Object(
      {
        topic: TopicFilter("MQTT topic filter of the rule; a Protobuf rule's must be '<prefix>/+/+' (tenant and device)."),
        codec: Type.Literal('protobuf', { description: "'protobuf': messages of a user's .proto file." }),
        protoFile: Type.String({ minLength: 1, description: 'Path of the .proto file (relative paths from the working directory).' }),
        messageType: Type.String({ minLength: 1, description: "Fully qualified message type of one MQTT message, e.g. 'acme.telemetry.Reading'." }),
        readingsField: Type.String({ default: '', description: "A repeated message field whose items are the readings; '' when one message is one reading." }),
        deviceField: Type.String({ default: '', description: "A string field naming the device, which must equal the topic's device; '' takes the topic's." }),
        idField: Type.String({ minLength: 1, description: 'A string or integer field: the reading id (unique per device, the same on redelivery).' }),
        timeField: Type.String({ minLength: 1, description: 'The event time: an integer or double field of epoch milliseconds, or a google.protobuf.Timestamp.' }),
        metricsField: Type.String({ default: '', description: "A map<string, number> field, or a repeated message field with 'string name' and a numeric 'value'; '' to name metricFields instead." }),
        metricFields: Type.Array(Type.String(), { default: [], description: "Numeric or bool fields, each a metric of its own name (used when metricsField is '')." }),
      },
      Strict,
    ),
  ],
  { description: "A topic rule: which codec reads the payloads of the topics its filter matches." },
);

export const MqttSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('direct'), Type.Literal('broker')], {
      default: 'broker',
      description:
        "'direct': the bridge is the devices' MQTT server (mqtt.listen; PUBACK only after Kafka acknowledged); 'broker': the bridge subscribes to an MQTT broker at mqtt.url with a shared subscription. The local stack, the demo and the load tests run 'direct'.",
    }),
    listen: MqttListenSchema,
    credentialsFile: Type.String({
      default: '',
      description:
        "Direct mode: the device credential file (lines 'username:tenant:device:scrypt$N$r$p$salt$key', device '*' for a gateway of the tenant), reloaded when it changes; required in direct mode. The local stack creates one under stack.dataDir.",
    }),
    url: Type.String({ pattern: '^mqtts?://', default: 'mqtt://127.0.0.1:1883', description: 'MQTT 5 broker the bridges subscribe to (mqtt:// or mqtts://).' }),
    username: Type.String({ default: 'bridge', description: 'MQTT user of the bridges; it must be allowed to read <topicPrefix>/#.' }),
    password: Secret({ description: "Secret: password of the bridges' MQTT user (broker mode); '' sends none. Set it with TP_MQTT__PASSWORD or TP_MQTT__PASSWORD_FILE." }),
    /** Topic scheme: telemetry/<tenant>/<device>. */
    topicPrefix: Type.String({ description: 'Topic scheme: telemetry/<tenant>/<device>.', minLength: 1, pattern: '^[^#+]+$', default: 'telemetry' }),
    codecs: Type.Array(CodecRuleSchema, {
      default: [],
      description:
        "Payload codecs by topic: ordered rules, the first whose filter matches a message's topic decodes it; after them, '<topicPrefix>/+/+' is always JSON; a topic no rule matches is refused (bad-topic). Direct mode only (broker mode subscribes to '<topicPrefix>/+/+' and reads JSON). Example: [{topic: 'spBv1.0/#', codec: sparkplug}].",
    }),
    /** Bridges in one share group split the devices' messages between them. */
    shareGroup: Type.String({ description: 'Bridges in one share group split the devices\' messages between them.', minLength: 1, pattern: '^[^/#+]+$', default: 'bridges' }),
    clientIdPrefix: Type.String({ minLength: 1, default: 'bridge', description: "MQTT client id is '<prefix>-<hostname>', stable across restarts so the broker resumes the session; two bridges on one host need different prefixes." }),
    sessionExpirySeconds: Type.Integer({ minimum: 0, default: 3600, description: "How long the broker keeps a disconnected bridge's persistent session and queued messages (seconds)." }),
    /**
     * MQTT 5 receive maximum: how many unacknowledged QoS 1 messages the broker may send us. The
     * bridge acknowledges after Kafka did, so this must cover throughput × Kafka's ack latency
     * (25k messages/s × 100 ms = 2500); memory is bounded by edge.maxInFlightReadings, not by this.
     */
    receiveMaximum: Type.Integer({ minimum: 1, maximum: 65535, default: 20000, description: "MQTT 5 receive maximum: unacknowledged QoS 1 messages the broker may send a bridge; must cover throughput × Kafka's ack latency." }),
    /** Broker mode: what the broker saves; it decides what a broker crash loses (the failure table's broker-crash row). */
    brokerPersistence: Type.Object(
      {
        mode: Type.Union([Type.Literal('off'), Type.Literal('autosave-interval'), Type.Literal('autosave-on-changes')], {
          default: 'autosave-interval',
          description:
            "Broker mode: how the broker saves what it acknowledged (Mosquitto: 'off' = persistence false; 'autosave-interval' = persistence true with autosave_interval; 'autosave-on-changes' = autosave_on_changes true). Declares the broker's setting for `guarantees explain`; the local stack's Mosquitto is written with autosave-interval 5.",
        }),
        autosave: Type.Integer({ minimum: 1, default: 5, description: "Broker mode: Mosquitto's autosave_interval (seconds between saves, or changes between saves with autosave-on-changes)." }),
      },
      { ...Strict, default: {} },
    ),
  },
  { ...Strict, default: {} },
);

export const ValidationSchema = Type.Object(
  {
    maxPayloadBytes: Type.Integer({ minimum: 64, default: 256 * 1024, description: 'Largest MQTT message accepted (bytes); larger ones are dead-lettered.' }),
    maxReadingsPerMessage: Type.Integer({ minimum: 1, default: 1000, description: 'Most readings in one MQTT message or HTTP request.' }),
    maxMetricsPerReading: Type.Integer({ minimum: 1, default: 64, description: 'Most metrics in one reading.' }),
    maxIdLength: Type.Integer({ minimum: 1, default: 128, description: 'Longest reading id (characters).' }),
    /** Deepest JSON nesting a payload may have; a valid batch needs 4 ({"readings":[{"metrics":{}}]}). */
    maxNestingDepth: Type.Integer({ description: 'Deepest JSON nesting a payload may have; a valid batch needs 4 ({"readings":[{"metrics":{}}]}).', minimum: 4, maximum: 64, default: 8 }),
    maxFutureSkewMs: Millis(5 * 60_000, 'how far ahead of the ingest clock an event time may be'),
    maxPastAgeMs: Millis(7 * 24 * 3_600_000, 'how far behind the ingest clock an event time may be'),
  },
  { ...Strict, default: {} },
);

export const GatewayKeySchema = Type.Object(
  {
    key: Secret({ required: true, minLength: 16, description: 'Secret: the bearer key the gateway sends (at least 16 characters).' }),
    gateway: Type.String({ minLength: 1, description: 'Name of the gateway holding the key (dead letters and logs name it).' }),
    tenant: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9_.-]+$', description: "The only tenant the key may write; a request naming another gets 403." }),
  },
  Strict,
);

/** Abuse limits of the HTTP intake (edge/http-intake.ts); every refusal is counted in tp_edge_rejected_total{source="http"}. */
export const HttpLimitsSchema = Type.Object(
  {
    headersTimeoutMs: Millis(10_000, 'how long a client may take to send the request line and headers; then the connection is closed (408, reason header-timeout)', 100),
    bodyIdleTimeoutMs: Millis(10_000, 'longest pause between two pieces of a request body; then the request gets 408 and the connection is closed (reason body-timeout)', 100),
    requestTimeoutMs: Millis(60_000, 'how long a client may take to send a whole request, headers and body; then 408 and the connection is closed (reason request-timeout)', 1000),
    keepAliveTimeoutMs: Millis(65_000, 'how long an idle keep-alive connection is kept open (above the 60 s idle timeout of common load balancers, so that they close first)', 100),
    maxConnections: Type.Integer({ minimum: 1, default: 10_000, description: 'Open connections the HTTP server (intake and operational endpoints) accepts; one beyond it is closed at once (reason connection-cap).' }),
    maxConnectionsPerSource: Type.Integer({ minimum: 1, default: 256, description: 'Open connections one source address may hold; one beyond it is closed at once (reason source-connection-cap). Behind a proxy every client shares its address: raise it there.' }),
    gatewayRequestsPerSecond: Type.Number({ minimum: 0, default: 1000, description: 'Per gateway key: POST /v1/readings requests per second, a token bucket refilled at this rate; a request beyond it gets 429 with Retry-After, before its body is read (reason rate-limited). 0: no limit.' }),
    gatewayBurst: Type.Integer({ minimum: 1, default: 2000, description: 'Per gateway key: requests the token bucket holds (the burst allowed after a quiet period).' }),
    deviceReadingsPerSecond: Type.Number({ minimum: 0, default: 100, description: "Per device (tenant and device): readings per second, a token bucket refilled at this rate; a request with a reading of a device over it gets 429 with Retry-After and nothing of it is written (reason rate-limited). 0: no limit." }),
    deviceBurst: Type.Integer({ minimum: 1, default: 1000, description: "Per device: readings the token bucket holds; a request with more readings of one device than this is admitted only when the device's bucket is full, and the device then waits off the debt." }),
    maxTrackedKeys: Type.Integer({ minimum: 100, default: 100_000, description: 'Gateways plus devices whose token buckets are kept; beyond it the longest-idle buckets are forgotten (bounded memory whatever device ids gateways send).' }),
  },
  { ...Strict, default: {} },
);

export const EdgeSchema = Type.Object(
  {
    httpHost: Type.String({ default: '127.0.0.1', description: "Address the bridge's HTTP server (intake, /metrics, /healthz, /readyz) listens on." }),
    httpPort: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: "Port of the bridge's HTTP server (0: any free port)." }),
    maxHttpBodyBytes: Type.Integer({ minimum: 1024, default: 4 * 1024 * 1024, description: 'Largest POST /v1/readings body (bytes); a larger one gets 413.' }),
    gatewayKeys: Type.Array(GatewayKeySchema, {
      default: [],
      description: 'API keys of the HTTP gateways, each bound to one gateway name and tenant, as a JSON list (TP_EDGE__GATEWAY_KEYS, or TP_EDGE__GATEWAY_KEYS_FILE naming a mounted Secret); none by default: every request gets 401. The local stack supplies a demo key.',
    }),
    httpLimits: HttpLimitsSchema,
    /** Readings in flight to Kafka before intake pauses (MQTT) or answers 503 (HTTP). */
    maxInFlightReadings: Type.Integer({ description: 'Readings in flight to Kafka before intake pauses (MQTT) or answers 503 (HTTP).', minimum: 1, default: 200_000 }),
    /** How long a reading may wait for Kafka's delivery report before the producer is re-created. */
    deliveryTimeoutMs: Millis(30_000, 'producer message timeout', 1000),
    /** Watermark ticks per partition so that an idle partition's event time still advances. */
    tickIntervalMs: Millis(1000, 'interval of idle-partition ticks', 100),
    clockOffsetWarnMs: Millis(2000, "how far the bridge host's clock may be from the Kafka broker's (measured from delivery reports, tp_edge_clock_offset_seconds) before the bridge warns and TelemetryBridgeClockOffset fires", 1),
    /** When a device's message is acknowledged: after Kafka's delivery report (no loss) or on receipt (at-most-once, lowest latency). */
    ackMode: Type.Union([Type.Literal('after-kafka'), Type.Literal('on-receipt')], { default: 'after-kafka', description: "When a device is acknowledged: 'after-kafka' (after Kafka's delivery report, no loss) or 'on-receipt' (once validated; at-most-once pipelines only)." }),
    producer: Type.Object(
      {
        acks: Type.Union([Type.Literal('all'), Type.Literal('1'), Type.Literal('0')], { default: 'all', description: "librdkafka acks of the bridge's producer; at-least-once and exactly-once pipelines need 'all'." }),
        idempotence: Type.Boolean({ default: true, description: 'Idempotent producer (no duplicates or reordering from producer retries); needs acks all.' }),
        /**
         * librdkafka linger.ms. Keyed records spread over all partitions, so at 10k messages/s and
         * 12 partitions 5 ms gave batches of ~4 records; 20 ms cut the bridge's CPU per reading by
         * about a fifth (librdkafka's threads, and the broker's per-batch work) for ≤ 20 ms of ack latency.
         */
        lingerMs: Millis(20, 'producer linger before a batch is sent', 0),
        /** librdkafka compression.type of the bridge's records. */
        compression: Type.Union([Type.Literal('lz4'), Type.Literal('zstd'), Type.Literal('snappy'), Type.Literal('gzip'), Type.Literal('none')], { default: 'lz4', description: "Compression of the bridge's Kafka records." }),
      },
      { ...Strict, default: {} },
    ),
    mqttEnabled: Type.Boolean({ default: true, description: 'Run the MQTT intake.' }),
    httpEnabled: Type.Boolean({ default: true, description: 'Serve POST /v1/readings; when false only the operational endpoints answer and the intake path is 404.' }),
    validation: ValidationSchema,
  },
  { ...Strict, default: {} },
);

export const WindowSchema = Type.Union([
  Type.Object({ kind: Type.Literal('tumbling'), sizeMs: Type.Integer({ minimum: 1, description: 'Window length (milliseconds of event time).' }) }, Strict),
  Type.Object(
    { kind: Type.Literal('sliding'), sizeMs: Type.Integer({ minimum: 1, description: 'Window length (milliseconds of event time).' }), slideMs: Type.Integer({ minimum: 1, description: 'A sliding window starts every slideMs; a reading joins sizeMs / slideMs windows.' }) },
    Strict,
  ),
  Type.Object({ kind: Type.Literal('session'), gapMs: Type.Integer({ minimum: 1, description: "A device's session closes after this much event time without a reading (milliseconds)." }) }, Strict),
], { description: "Event-time windows per device and metric: 'tumbling', 'sliding' or 'session'." });

export const WatermarkSchema = Type.Union([
  Type.Object({ kind: Type.Literal('fixed'), delayMs: Type.Integer({ minimum: 0, description: 'The watermark trails the newest event time of the partition by this much (milliseconds).' }) }, Strict),
  Type.Object(
    {
      kind: Type.Literal('adaptive'),
      /** The arrival-delay quantile the delay follows, for example 0.99. */
      quantile: Type.Number({ description: 'The arrival-delay quantile the delay follows, for example 0.99.', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.99 }),
      marginMs: Type.Integer({ minimum: 0, default: 500, description: 'Added to the delay quantile (milliseconds).' }),
      floorMs: Type.Integer({ minimum: 0, default: 200, description: 'Smallest delay the adaptive watermark uses (milliseconds).' }),
      ceilingMs: Type.Integer({ minimum: 0, default: 30_000, description: 'Largest delay the adaptive watermark uses (milliseconds); devices behind by more are handled by their clock offset.' }),
      /** How far back (in ingest time) the delay estimate looks; a shift is followed within it. */
      horizonMs: Type.Integer({ description: 'How far back (in ingest time) the delay estimate looks; a shift is followed within it.', minimum: 1000, default: 60_000 }),
    },
    Strict,
  ),
], { description: "When a partition's windows close: 'fixed' trails the newest event time by delayMs; 'adaptive' follows a quantile of the observed arrival delays." });

export const LatePolicySchema = Type.Union([
  Type.Object({ kind: Type.Literal('drop') }, Strict),
  Type.Object({ kind: Type.Literal('late-topic') }, Strict),
  Type.Object({ kind: Type.Literal('reemit'), allowedLatenessMs: Type.Integer({ minimum: 0, description: 'How long an emitted window is kept to absorb late readings and be re-emitted with a higher version (milliseconds of watermark time).' }) }, Strict),
], { description: "What happens to a reading whose window was already emitted: 'drop' (counted), 'late-topic' (written to kafka.lateTopic) or 'reemit' (the window is corrected within allowedLatenessMs)." });

export const GuaranteeSchema = Type.Union([
  Type.Literal('at-most-once'),
  Type.Literal('at-least-once'),
  Type.Literal('exactly-once'),
], { description: 'Delivery guarantee of the pipeline; settings that contradict it are refused at start-up.' });

const RollupSchema = Type.Object(
  {
    level: Type.Union([Type.Literal('1m'), Type.Literal('1h'), Type.Literal('1d')], { description: "Bucket of the rollup table: '1m' (minute), '1h' (hour) or '1d' (day, UTC); it names the table '<table>_<level>'." }),
    retentionDays: Type.Integer({ minimum: 0, default: 0, description: 'Days the rollup table keeps a bucket, by bucket start; 0 keeps every bucket. Must not be shorter than a finer level\'s (a coarser bucket is rebuilt from the finer table).' }),
  },
  Strict,
);

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
        autoCommit: Type.Union([Type.Boolean(), Type.Null()], { default: null, description: "Kafka auto-commit of the pipeline's consumer; null takes the guarantee's profile (on only for at-most-once)." }),
        isolationLevel: Type.Union([Type.Literal('read_committed'), Type.Literal('read_uncommitted'), Type.Null()], { default: null, description: "Consumer isolation level; null takes the guarantee's profile (read_committed except for at-most-once)." }),
      },
      { ...Strict, default: {} },
    ),
    consumerGroup: Type.String({ default: '', description: "defaults to 'aggregator-<name>'" }),
    table: Type.String({ default: '', description: "defaults to 'agg_<name>'" }),
    retentionDays: Type.Integer({ minimum: 0, default: 0, description: "Days the pipeline's aggregate table keeps a window, by window start; 0 keeps every window. Applied by TTL where the server has it, else by dropping whole day partitions ('retention apply')." }),
    rollups: Type.Array(RollupSchema, { default: [], description: "Rollup tables '<table>_<level>' built from the aggregate table, finest level first (for example 1m, 1h, 1d); each bucket sums its windows' count and sum and keeps their min and max. Empty: none." }),
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
      description: 'The pipelines this aggregator runs over the same readings, each with its own consumer group, table, guarantee, window, watermark and late policy.',
    }),
    /** How often emitted rows are inserted into ClickHouse. */
    flushIntervalMs: Millis(1000, 'sink flush interval', 50),
    maxRowsPerInsert: Type.Integer({ minimum: 1, default: 50_000, description: 'A flush starts early once this many aggregate rows or raw readings are pending.' }),
    /** How often window state is checkpointed and offsets committed (exactly-once tiers). */
    checkpointIntervalMs: Millis(5000, 'checkpoint interval', 100),
    writeRawReadings: Type.Boolean({ default: true, description: 'Also write every reading to readings_raw (one row per reading and metric, deduplicated by id); used by audits and the load test.' }),
    sessionTimeoutMs: Millis(10_000, 'consumer group session timeout', 1000),
    /** Names this instance in client ids and its transactional id; defaults to '<hostname>-<pid>'. */
    instanceId: Type.String({ description: 'Names this instance in client ids and its transactional id; defaults to \'<hostname>-<pid>\'.', pattern: '^[A-Za-z0-9_.-]*$', default: '' }),
    /** Fault injection for failure tests: '<point>:<n>' SIGKILLs the process the n-th time it reaches the point. */
    crashAt: Type.String({ description: 'Fault injection for failure tests: \'<point>:<n>\' SIGKILLs the process the n-th time it reaches the point.', default: '' }),
    instances: Type.Integer({
      minimum: 0,
      maximum: 256,
      default: 0,
      description:
        "Worker processes of this aggregator service, all in each pipeline's consumer group and supervised by one parent (a worker that dies is restarted with backoff); 0 means one per core this process may use (os.availableParallelism(), capped by a cgroup CPU limit). 1 runs the pipelines in this process, without a parent. Also the --instances flag.",
    }),
    metricsPort: Type.Integer({ minimum: 0, maximum: 65535, default: 9464, description: "Port of the aggregator's /metrics, /healthz, /readyz and /status." }),
    metricsHost: Type.String({ default: '127.0.0.1', description: "Address the aggregator's operations server listens on." }),
    /** Base URLs of the bridges whose GET /metrics the status page (GET /status/) shows, e.g. 'http://127.0.0.1:8080'. */
    statusBridges: Type.Array(Type.String({ pattern: '^https?://' }), { default: [], description: "Base URLs of the bridges whose /metrics the status page shows, e.g. 'http://127.0.0.1:8080'." }),
    /** The end-to-end latency objective the status page draws the P95 against (milliseconds). */
    slaP95Ms: Millis(10_000, 'end-to-end P95 objective', 1),
    rollupRefreshIntervalMs: Millis(
      60_000,
      "how often the service brings every pipeline's rollup tables up to date (what 'rollups refresh' does; idempotent, so every replica may run it); 0 turns the schedule off (then run the CLI from cron)",
    ),
    retentionIntervalMs: Millis(
      3_600_000,
      "how often the service applies retention (what 'retention apply' does: TTLs where the server has them, else dropping expired partitions); 0 turns the schedule off",
    ),
  },
  { ...Strict, default: {} },
);

export const ClickHouseSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', default: 'http://127.0.0.1:8123', description: 'HTTP interface of ClickHouse (of the first replica when clickhouse.cluster is set).' }),
    database: Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]*$', default: 'telemetry', description: 'Database of the agg_<pipeline>, readings_raw and checkpoints tables (created by migrate).' }),
    username: Type.String({ default: 'default', description: 'ClickHouse user.' }),
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

export const StackSchema = Type.Object(
  {
    /** Where the local stack keeps data, logs and pid files (git-ignored). */
    dataDir: Type.String({ description: 'Where the local stack keeps data, logs and pid files (git-ignored).', default: '.data' }),
    kafkaNodes: Type.Union([Type.Literal(1), Type.Literal(3)], { default: 1, description: 'Local Kafka: 1 node, or 3 (topics with replication factor 3, min.insync.replicas 2).' }),
    kafkaBasePort: Type.Integer({ minimum: 1024, maximum: 65000, default: 9092, description: 'Broker port of local Kafka node 1; node i uses base + 2(i − 1), its controller the next port.' }),
    kafkaHeapMb: Type.Integer({ minimum: 128, default: 768, description: 'JVM heap of each local Kafka node (MB), reserved at start.' }),
    clickhouseHttpPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 8123, description: 'HTTP port of the local ClickHouse (replica 1).' }),
    clickhouseTcpPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 9000, description: 'Native TCP port of the local ClickHouse (replica 1), used by clickhouse-client.' }),
    mosquittoPort: Type.Integer({ minimum: 1024, maximum: 65535, default: 1883, description: 'Port of the local Mosquitto.' }),
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
export type StackConfig = Static<typeof StackSchema>;
