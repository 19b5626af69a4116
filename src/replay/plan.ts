import { PipelineError } from '../core/errors.ts';
import { parseIsoTime } from '../core/iso-time.ts';

/**
 * Where a replay of one partition starts, which records' rows it writes, and where it stops. Pure.
 *
 * A window's row depends on every reading since the window opened and on the watermark, which
 * depends on the whole partition before it; the row's version is its count. So a replay that
 * started cold at `--from` would write windows straddling `--from` with partial counts, and
 * rows under a watermark the live pipeline never had. Instead the replay restores the live
 * pipeline's own state from its checkpoint at or before `--from` (or starts where the live
 * pipeline started: an empty state at offset 0 of a log that still begins there) and processes
 * the records in offset order, as a live restart after a crash does: the processor is a
 * deterministic function of the records, so every row is the live row, same key, same version,
 * and ReplacingMergeTree collapses the two. Rows emitted while catching up to `--from` are not
 * written; nor is anything still open at `--to` (no partial window is ever flushed).
 */
export type Position =
  | { readonly kind: 'time'; readonly ms: number }
  /** The same offset in every partition. */
  | { readonly kind: 'offset'; readonly offset: number }
  /** `partition:offset,…`: only these partitions (for --from); these partitions' ends (for --to). */
  | { readonly kind: 'offsets'; readonly offsets: ReadonlyMap<number, number> };

export class ReplayError extends PipelineError {
  constructor(code: string, message: string, context: Record<string, string | number> = {}) {
    super(code, message, { retriable: false, context });
    this.name = 'ReplayError';
  }
}

const OFFSET = /^\d{1,15}$/;
const PARTITION_OFFSET = /^(\d{1,5}):(\d{1,15})$/;

/** `--from`/`--to`: an ISO-8601 time with a zone, an offset, or `partition:offset,…`. */
export function parsePosition(text: string, flag: string): Position {
  const trimmed = text.trim();
  if (OFFSET.test(trimmed)) return { kind: 'offset', offset: Number(trimmed) };
  if (trimmed.includes(':') && trimmed.split(',').every((part) => PARTITION_OFFSET.test(part.trim()))) {
    const offsets = new Map<number, number>();
    for (const part of trimmed.split(',')) {
      const [, partition, offset] = PARTITION_OFFSET.exec(part.trim())!;
      if (offsets.has(Number(partition))) throw new ReplayError('REPLAY_BAD_POSITION', `${flag} names partition ${partition} twice: '${text}'`, { flag });
      offsets.set(Number(partition), Number(offset));
    }
    return { kind: 'offsets', offsets };
  }
  const ms = parseIsoTime(trimmed);
  if (Number.isNaN(ms)) {
    throw new ReplayError(
      'REPLAY_BAD_POSITION',
      `${flag} '${text}' is neither an ISO-8601 time with a zone (2025-03-01T10:00:00Z), an offset (12345) nor partition:offset pairs (0:120,3:98)`,
      { flag, value: text },
    );
  }
  return { kind: 'time', ms };
}

/** What Kafka says about one partition: its log's first and end offsets, and the offsets found for the times asked. */
export interface PartitionFacts {
  readonly partition: number;
  /** Log start offset (records below it are gone). */
  readonly low: number;
  /** End offset: the offset the next record will get. */
  readonly high: number;
  /** offsetsForTimes(--from): the first record at or after that time; null when none is (then: the end). */
  readonly fromTimeOffset?: number | null;
  readonly toTimeOffset?: number | null;
}

/** One partition's checkpoint at or before the first offset to write. */
export interface StartCheckpoint {
  readonly offset: number;
  readonly state: string;
}

export interface PartitionPlan {
  readonly partition: number;
  /** The first offset read: the checkpoint's offset, or 0 with an empty state. */
  readonly startOffset: number;
  /** The checkpointed state to restore, or null for an empty processor at offset 0. */
  readonly state: string | null;
  /** Rows emitted while processing records at or after this offset are written. */
  readonly writeFrom: number;
  /** The first offset not processed. */
  readonly stopAt: number;
}

/** The first offset to write, or null when the partition is not part of the replay. */
export function resolveFrom(from: Position, facts: PartitionFacts): number | null {
  switch (from.kind) {
    case 'time':
      return facts.fromTimeOffset ?? facts.high;
    case 'offset':
      return from.offset;
    case 'offsets':
      return from.offsets.get(facts.partition) ?? null;
  }
}

/** The first offset not processed: the end of the log by default. */
export function resolveTo(to: Position | null, facts: PartitionFacts): number {
  if (to === null) return facts.high;
  switch (to.kind) {
    case 'time':
      return facts.toTimeOffset ?? facts.high;
    case 'offset':
      return Math.min(to.offset, facts.high);
    case 'offsets':
      return Math.min(to.offsets.get(facts.partition) ?? facts.high, facts.high);
  }
}

/**
 * The plan of one partition, or null when it has nothing to replay. `checkpoint` is the pipeline's
 * checkpoint of this partition at or before the resolved --from (null when there is none).
 */
export function planPartition(
  pipeline: string,
  facts: PartitionFacts,
  from: Position,
  to: Position | null,
  checkpoint: StartCheckpoint | null,
): PartitionPlan | null {
  const partition = facts.partition;
  const resolvedFrom = resolveFrom(from, facts);
  if (resolvedFrom === null) return null;
  if (resolvedFrom < facts.low) {
    throw new ReplayError(
      'REPLAY_OFFSET_GONE',
      `partition ${partition}: --from resolves to offset ${resolvedFrom}, but the log starts at ${facts.low} (retention removed the records before it)`,
      { pipeline, partition, offset: resolvedFrom, logStart: facts.low },
    );
  }
  const writeFrom = Math.min(resolvedFrom, facts.high);
  const stopAt = resolveTo(to, facts);
  if (stopAt <= writeFrom) return null;
  if (checkpoint !== null) {
    if (checkpoint.offset > writeFrom) throw new RangeError(`checkpoint offset ${checkpoint.offset} is past --from ${writeFrom}`);
    if (checkpoint.offset < facts.low) {
      throw new ReplayError(
        'REPLAY_OFFSET_GONE',
        `partition ${partition}: the newest checkpoint at or before offset ${writeFrom} is at ${checkpoint.offset}, but the log starts at ${facts.low}: ` +
          'the records between cannot be read again, so the state at --from cannot be rebuilt. Choose a later --from.',
        { pipeline, partition, checkpoint: checkpoint.offset, logStart: facts.low },
      );
    }
    return { partition, startOffset: checkpoint.offset, state: checkpoint.state, writeFrom, stopAt };
  }
  // No checkpoint before --from: the live pipeline started this partition with an empty state at
  // the log's first offset. Only a log that still starts at 0 proves nothing came before.
  if (facts.low === 0) return { partition, startOffset: 0, state: null, writeFrom, stopAt };
  throw new ReplayError(
    'REPLAY_NO_CHECKPOINT',
    `partition ${partition}: no checkpoint of pipeline '${pipeline}' at or before offset ${writeFrom}, and the log starts at ${facts.low}, not 0: ` +
      'the window state at --from cannot be rebuilt. Choose a later --from (checkpoints are kept per commit; see the checkpoints table).',
    { pipeline, partition, offset: writeFrom, logStart: facts.low },
  );
}

/** Records the plans will read: the progress bar's total. */
export function recordsToRead(plans: readonly PartitionPlan[]): number {
  return plans.reduce((sum, plan) => sum + (plan.stopAt - plan.startOffset), 0);
}
