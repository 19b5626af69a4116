/**
 * Delivery guarantees as named profiles. A profile sets every layer consistently; the services
 * read their settings from here and nowhere else, so that a tier cannot be half configured.
 *
 * - at-most-once: offsets are committed by the consumer as it reads, before the sink has the
 *   rows; no checkpoint. A crash loses the open windows' readings; nothing is counted twice.
 * - at-least-once: offsets are committed after the sink has every row they cover, at the earliest
 *   offset an open window still needs; no checkpoint, so a restart rebuilds open windows by
 *   replaying from there. Nothing is lost; a replayed window's rows are rewritten.
 * - exactly-once: window state is checkpointed to ClickHouse after the rows it covers, and the
 *   offsets committed after the checkpoint (through the Kafka transaction where the pipeline writes
 *   to Kafka); processing is deterministic, so a restart restores the checkpoint at the committed
 *   offset and rewrites identical rows with identical versions, which ReplacingMergeTree collapses.
 */
export type GuaranteeName = 'at-most-once' | 'at-least-once' | 'exactly-once';

export interface GuaranteeProfile {
  readonly name: GuaranteeName;
  readonly consumer: {
    readonly isolation: 'read_committed' | 'read_uncommitted';
    readonly autoCommit: boolean;
    /** When offsets are committed relative to the sink's acknowledgement. */
    readonly commit: 'while-reading' | 'after-sink-earliest-needed' | 'after-checkpoint';
  };
  readonly state: { readonly checkpointed: boolean };
  readonly sink: { readonly deduplicatedRows: boolean };
  readonly kafkaWrites: { readonly transactional: boolean };
}

export const GUARANTEE_PROFILES: Readonly<Record<GuaranteeName, GuaranteeProfile>> = {
  'at-most-once': {
    name: 'at-most-once',
    consumer: { isolation: 'read_uncommitted', autoCommit: true, commit: 'while-reading' },
    state: { checkpointed: false },
    sink: { deduplicatedRows: true },
    kafkaWrites: { transactional: false },
  },
  'at-least-once': {
    name: 'at-least-once',
    consumer: { isolation: 'read_committed', autoCommit: false, commit: 'after-sink-earliest-needed' },
    state: { checkpointed: false },
    sink: { deduplicatedRows: true },
    kafkaWrites: { transactional: false },
  },
  'exactly-once': {
    name: 'exactly-once',
    consumer: { isolation: 'read_committed', autoCommit: false, commit: 'after-checkpoint' },
    state: { checkpointed: true },
    sink: { deduplicatedRows: true },
    kafkaWrites: { transactional: true },
  },
};

export function guaranteeProfile(name: GuaranteeName): GuaranteeProfile {
  return GUARANTEE_PROFILES[name];
}
