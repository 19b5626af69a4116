import { Type } from '@sinclair/typebox';
import { Millis, Strict } from './schema-common.ts';

/** The `aggregator` section: its pipelines (guarantee, window, watermark, late policy, rollups) and the service's settings. */

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

export const RollupSchema = Type.Object(
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
    writeRawReadings: Type.Boolean({ default: true, description: 'Also write every reading to readings_raw (one row per reading and metric, deduplicated by id); used by audits and the load test. Costs about 2 µs of aggregator CPU and 0.5–1 µs of ClickHouse CPU per reading (bench:aggregator: 9.4 µs off, 11.4 µs on).' }),
    sessionTimeoutMs: Millis(10_000, 'consumer group session timeout', 1000),
    /** Names this instance in client ids and its transactional id; defaults to '<hostname>-<pid>'. */
    instanceId: Type.String({ description: 'Names this instance in client ids and its transactional id; defaults to \'<hostname>-<pid>\'.', pattern: '^[A-Za-z0-9_.-]*$', default: '' }),
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
