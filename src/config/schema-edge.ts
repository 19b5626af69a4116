import { Type } from '@sinclair/typebox';
import { NAME_PATTERN_SOURCE } from '../core/names.ts';
import { Millis, Secret, Strict } from './schema-common.ts';
import { EdgeTlsSchema } from './tls-schema.ts';
import { HashedGatewayKeysFileSetting } from './access-schema.ts';

/** The `mqtt` and `edge` sections: how readings come in (the bridge's MQTT and HTTP intake). */

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
    tenant: Type.String({ pattern: NAME_PATTERN_SOURCE, description: "The only tenant the key may write (a tenant name as in topics: src/core/names.ts); a request naming another gets 403." }),
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
      description: 'API keys of the HTTP gateways, each bound to one gateway name and tenant, as a JSON list (TP_EDGE__GATEWAY_KEYS, or TP_EDGE__GATEWAY_KEYS_FILE naming a mounted Secret); none by default. Prefer edge.hashedGatewayKeysFile (keys stored hashed, rotation without restart), which the local stack uses.',
    }),
    hashedGatewayKeysFile: HashedGatewayKeysFileSetting,
    httpLimits: HttpLimitsSchema,
    tls: EdgeTlsSchema,
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
