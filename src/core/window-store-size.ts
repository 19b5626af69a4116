import { WindowAggregate } from './aggregate.ts';
import type { WindowStore } from './window-store.ts';

/**
 * How much heap a window store holds, estimated from what it keeps (the aggregator's memory
 * budget and the what-if simulator read it). It walks every window: call it per tick, not per
 * reading.
 */
export interface StateBytes {
  readonly bytes: number;
  /** The part of `bytes` that the windows (with their deadline entries) make up. */
  readonly windowBytes: number;
  /** What a window adds when it opens, before it holds readings. */
  readonly freshWindowBytes: number;
}

/** Per series: the object, its arrays and its names (two bytes a character). */
const SERIES_BYTES = 120;
/** Per window: the WindowState fields beyond its aggregate. */
const WINDOW_BYTES = 48;
/** Per distinct deadline: its heap slot and bucket. */
const DEADLINE_BYTES = 64;

/** freshWindowBytes, by count-only: the same for every store. */
const freshBytes = new Map<boolean, number>();

export function estimateStoreBytes(store: WindowStore): StateBytes {
  let seriesBytes = 0;
  let windowBytes = 0;
  for (const series of store.allSeries()) {
    seriesBytes += SERIES_BYTES + (series.tenant.length + series.device.length + series.metric.length) * 2;
    // Counts kept in the series are brought into the windows first: a window's size follows its count.
    store.settleSeries(series);
    const windows = series.windows;
    for (let i = 0; i < windows.length; i++) windowBytes += WINDOW_BYTES + windows[i]!.estimatedBytes();
  }
  windowBytes += store.deadlineCount() * DEADLINE_BYTES;
  const countOnly = store.countOnly;
  let fresh = freshBytes.get(countOnly);
  if (fresh === undefined) {
    fresh = WINDOW_BYTES + new WindowAggregate(0, 0, countOnly).estimatedBytes() + DEADLINE_BYTES;
    freshBytes.set(countOnly, fresh);
  }
  return { bytes: seriesBytes + windowBytes, windowBytes, freshWindowBytes: fresh };
}
