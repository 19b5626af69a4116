/**
 * The limits a device message and its readings must keep to be accepted: the core's own type,
 * so that validation and codecs import nothing outside the core. The configuration layer's
 * `ValidationConfig` (src/config) is parsed from the schema into exactly this shape and passed
 * as it is; the type checker holds the two together wherever config reaches the core.
 */
export interface ValidationLimits {
  /** Largest message accepted (bytes). */
  readonly maxPayloadBytes: number;
  /** Most readings in one message or request. */
  readonly maxReadingsPerMessage: number;
  /** Most metrics in one reading. */
  readonly maxMetricsPerReading: number;
  /** Longest reading id (characters). */
  readonly maxIdLength: number;
  /** Deepest JSON nesting a payload may have (a valid batch needs 4). */
  readonly maxNestingDepth: number;
  /** How far ahead of the ingest clock an event time may be. */
  readonly maxFutureSkewMs: number;
  /** How far behind the ingest clock an event time may be. */
  readonly maxPastAgeMs: number;
}
