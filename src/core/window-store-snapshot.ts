import type { AggregateTuple } from './aggregate-tuple.ts';
import { PipelineError } from './errors.ts';
import { WindowState } from './window-state.ts';
import type { WindowStore } from './window-store.ts';

/**
 * The window store's part of a processor snapshot, and back. The byte form is a contract:
 * checkpoints written by earlier versions must restore, so fields are only ever appended, and
 * optional ones are written only when they matter.
 */

/**
 * A series in a snapshot: [tenant, device, metric, windows as [start, end, emitted, seq, aggregate,
 * shiftMs?], purgedThrough?].
 */
export type SeriesTuple =
  | [tenant: string, device: string, metric: string, windows: WindowTuple[]]
  | [tenant: string, device: string, metric: string, windows: WindowTuple[], purgedThrough: number];
type WindowTuple =
  | [start: number, end: number, emitted: 0 | 1, seq: number, aggregate: AggregateTuple]
  | [start: number, end: number, emitted: 0 | 1, seq: number, aggregate: AggregateTuple, shiftMs: number];

export interface StoreSnapshot {
  readonly seq: number;
  readonly series: SeriesTuple[];
}

/** `watermark`: the partition's, which decides whose purgedThrough still matters. */
export function encodeStore(store: WindowStore, watermark: number): StoreSnapshot {
  const series: SeriesTuple[] = [];
  for (const one of store.allSeries()) {
    const guarded = store.isGuarded(one, watermark);
    if (one.windows.length === 0 && !guarded) continue;
    const windows = one.windows.map((window): WindowTuple => {
      const tuple: WindowTuple = [window.start, window.end, window.emitted ? 1 : 0, window.seq, store.settleCount(window).encode()];
      return window.shiftMs === 0 ? tuple : [...tuple, window.shiftMs];
    });
    series.push(guarded ? [one.tenant, one.device, one.metric, windows, one.purgedThrough] : [one.tenant, one.device, one.metric, windows]);
  }
  return { seq: store.scheduleSeq(), series };
}

/**
 * Rebuilds windows from `encodeStore`'s output into the empty `store`. `retainUntil(closesAt)`
 * (end + the window's shift) gives a retained window's deadline under the current late policy, or
 * undefined when it is no longer retained.
 */
export function decodeStore(store: WindowStore, snapshot: unknown, retainUntil: (closesAt: number) => number | undefined): void {
  const state = snapshot as Partial<StoreSnapshot> | null;
  if (typeof state !== 'object' || state === null || typeof state.seq !== 'number' || !Array.isArray(state.series)) {
    throw new PipelineError('CORE_SNAPSHOT_INVALID', 'snapshot windows are malformed');
  }
  store.beginRestore();
  const restored: WindowState[] = [];
  for (const tuple of state.series) {
    if (!Array.isArray(tuple) || (tuple.length !== 4 && tuple.length !== 5) || !Array.isArray(tuple[3])) {
      throw new PipelineError('CORE_SNAPSHOT_INVALID', 'snapshot series entry is malformed');
    }
    const [tenant, device, metric, windows, purgedThrough] = tuple;
    const series = store.getOrCreateSeries(tenant, device, metric);
    if (typeof purgedThrough === 'number') series.purgedThrough = purgedThrough;
    for (const [start, end, emitted, seq, aggregate, shiftMs] of windows) {
      const window = new WindowState(series, start, end, store.countOnly);
      window.restore(aggregate);
      window.seq = seq;
      window.shiftMs = typeof shiftMs === 'number' ? shiftMs : 0;
      let until: number | undefined;
      if (emitted === 1) {
        until = retainUntil(end + window.shiftMs);
        if (until === undefined) {
          if (end > series.purgedThrough) series.purgedThrough = end;
          continue;
        }
      }
      store.adoptRestored(window, until);
      restored.push(window);
    }
  }
  store.finishRestore(restored, state.seq);
}
