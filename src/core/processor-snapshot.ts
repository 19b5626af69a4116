import { PipelineError } from './errors.ts';
import { windowSignature, type ProcessorSpec, type ProcessorStats } from './processor-spec.ts';
import type { PartitionClockSnapshot } from './watermarks.ts';

/**
 * A PartitionProcessor's snapshot as text, and the checks a restore makes before trusting one.
 * The bytes are a contract: checkpoints written by earlier versions must restore.
 */
const SNAPSHOT_VERSION = 1;

/** What a processor puts in its snapshot besides what identifies it (version, pipeline, partition, window). */
export interface ProcessorState {
  readonly next: number | null;
  readonly clock: PartitionClockSnapshot;
  readonly stats: ProcessorStats;
  /** The window store's part (window-store-snapshot.ts). */
  readonly windows: unknown;
  readonly deviceClocks: unknown;
}

/** A parsed snapshot, its identity checked; the parts are checked by whoever restores them. */
export interface SnapshotShape {
  v: number;
  pipeline: unknown;
  partition: unknown;
  window: unknown;
  next: number | null;
  clock: PartitionClockSnapshot;
  stats: Partial<ProcessorStats> | undefined;
  windows: unknown;
  deviceClocks: unknown;
}

export function encodeProcessorSnapshot(spec: ProcessorSpec, state: ProcessorState): string {
  // Key order is part of the bytes: keep it.
  return JSON.stringify({
    v: SNAPSHOT_VERSION,
    pipeline: spec.pipeline,
    partition: spec.partition,
    window: windowSignature(spec.window),
    next: state.next,
    clock: state.clock,
    stats: state.stats,
    windows: state.windows,
    deviceClocks: state.deviceClocks,
  });
}

/** Parses `snapshot` and checks that it is a processor snapshot of this version, pipeline, partition and window. */
export function parseProcessorSnapshot(spec: ProcessorSpec, snapshot: string): SnapshotShape {
  let state: SnapshotShape;
  try {
    state = JSON.parse(snapshot) as SnapshotShape;
  } catch (error) {
    throw new PipelineError('CORE_SNAPSHOT_INVALID', 'processor snapshot is not JSON', { cause: error, context: snapshotContext(spec) });
  }
  if (typeof state !== 'object' || state === null || state.v !== SNAPSHOT_VERSION) {
    throw new PipelineError('CORE_SNAPSHOT_INVALID', `processor snapshot version is not ${SNAPSHOT_VERSION}`, { context: snapshotContext(spec) });
  }
  const expected = windowSignature(spec.window);
  if (state.pipeline !== spec.pipeline || state.partition !== spec.partition || state.window !== expected) {
    throw new PipelineError(
      'CORE_SNAPSHOT_INCOMPATIBLE',
      `snapshot of pipeline '${String(state.pipeline)}' partition ${String(state.partition)} window ${String(state.window)} ` +
        `cannot be restored into pipeline '${spec.pipeline}' partition ${spec.partition} window ${expected}`,
      { context: snapshotContext(spec) },
    );
  }
  return state;
}

/** Copies the counters a snapshot holds into `stats` (a counter it lacks keeps its value). */
export function restoreStats(stats: ProcessorStats, from: Partial<ProcessorStats> | undefined): void {
  for (const key of Object.keys(stats) as Array<keyof ProcessorStats>) {
    const value = from?.[key];
    if (typeof value === 'number') stats[key] = value;
  }
}

function snapshotContext(spec: ProcessorSpec): Record<string, string | number> {
  return { pipeline: spec.pipeline, partition: spec.partition };
}
