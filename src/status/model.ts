/**
 * What GET /status/data answers: the pipeline as one aggregator instance sees it. Rates are per
 * second between the two latest polls; null means "not known yet" (the first poll, a bridge that
 * did not answer), never zero.
 */
export interface StatusData {
  readonly generatedAt: number;
  readonly instance: string;
  readonly slaP95Ms: number;
  /** The span over which each P95 point is computed. */
  readonly p95WindowMs: number;
  readonly topology: Topology;
  readonly stages: readonly StageRate[];
  readonly pipelines: readonly PipelineView[];
  readonly deadLetters: DeadLetterView;
  readonly history: HistoryView;
}

export interface Topology {
  readonly readingsTopic: string;
  readonly partitions: number;
  /** kafka.security.protocol of this instance's clients: 'plaintext' is shown as a warning. */
  readonly kafkaProtocol: 'sasl_ssl' | 'ssl' | 'plaintext';
  readonly bridges: readonly BridgeView[];
  readonly groups: readonly GroupView[];
  /** Why the consumer groups' members could not be read (the page then shows this instance only). */
  readonly groupsError: string | null;
}

export interface BridgeView {
  readonly url: string;
  readonly up: boolean;
  /** tp_edge_tls_enabled: true for TLS listeners, false when edge.tls.mode is 'plaintext' (the page says so); null when not reported. */
  readonly tls: boolean | null;
  readonly error: string | null;
  /** accepting, saturated or kafka-unavailable. */
  readonly state: string | null;
  readonly mqttConnected: boolean | null;
  readonly inFlight: number | null;
  readonly received: number | null;
  readonly published: number | null;
  readonly receivedPerSecond: number | null;
  readonly publishedPerSecond: number | null;
  /** The bridge host's clock minus the Kafka broker's (tp_edge_clock_offset_seconds); null until measured. */
  readonly clockOffsetSeconds: number | null;
  /** Its edge.clockOffsetWarnMs in seconds: above it the page marks the offset and the alert fires. */
  readonly clockOffsetBoundSeconds: number | null;
  /** Sparkplug B edge nodes and devices this bridge knows, by state (online, offline after a DEATH, needs-rebirth); null without Sparkplug. */
  readonly sparkplug: { readonly nodes: Readonly<Record<string, number>>; readonly devices: Readonly<Record<string, number>> } | null;
}

export interface GroupView {
  readonly pipeline: string;
  readonly tier: string;
  readonly group: string;
  readonly members: readonly MemberView[];
}

export interface MemberView {
  readonly instance: string;
  readonly host: string;
  readonly self: boolean;
  readonly partitions: readonly number[];
}

export interface StageRate {
  /** received, published, consumed, inserted. */
  readonly stage: 'received' | 'published' | 'consumed' | 'inserted';
  readonly label: string;
  readonly pipeline: string | null;
  readonly total: number | null;
  readonly perSecond: number | null;
}

export interface PipelineView {
  readonly name: string;
  readonly tier: string;
  readonly state: string;
  readonly error: string | null;
  readonly window: string;
  readonly watermarkKind: string;
  readonly partitions: readonly number[];
  readonly lag: readonly { readonly partition: number; readonly lag: number }[];
  readonly lagTotal: number;
  readonly watermarkDelayMs: number | null;
  readonly watermarkLagSeconds: number | null;
  readonly openWindows: number | null;
  readonly readings: number;
  readonly rowsInserted: number;
  readonly p95Ms: number | null;
  readonly p95SinceStartMs: number | null;
  readonly late: Readonly<Record<string, number>>;
}

export interface DeadLetterView {
  /** Readings or messages the bridges refused, by reason (summed over bridges and sources). */
  readonly byReason: readonly { readonly reason: string; readonly count: number }[];
  readonly published: number;
  /** Records of the readings topic the aggregator could not decode, by reason. */
  readonly decodeErrors: readonly { readonly reason: string; readonly count: number }[];
}

/** Column-wise, ready to draw: one time axis and named series with a value (or null) per time. */
export interface HistoryView {
  readonly t: readonly number[];
  readonly throughput: Readonly<Record<string, readonly (number | null)[]>>;
  readonly p95Ms: Readonly<Record<string, readonly (number | null)[]>>;
  readonly lag: Readonly<Record<string, readonly (number | null)[]>>;
}
