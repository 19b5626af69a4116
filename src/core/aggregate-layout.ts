/**
 * Where a window aggregate keeps its numbers. Every number of a window lives in ONE array of
 * unboxed doubles — interval, scalars, the first partials of the exact sum, and the sample —
 * because a reading's cost during a replay is mostly cache misses (see aggregate.ts).
 */

/** Readings whose (id hash, value) the bottom-k sample keeps: every reading of a window that holds at most this many. */
export const SAMPLE_SIZE = 16;

export const START = 0;
export const END = 1;
export const DEADLINE = 2;
export const MIN = 3;
export const MAX = 4;
export const FIRST = 5;
export const FIRST_TIME = 6;
export const LAST = 7;
export const LAST_TIME = 8;
export const MAX_INGEST = 9;
export const MIN_OFFSET = 10;
/** The exact sum's first partials (see aggregate-sum.ts). */
export const PARTIALS = 12;
export const INLINE_PARTIALS = 4;
/** The sample: (hash, value) pairs. */
export const SAMPLE = PARTIALS + INLINE_PARTIALS;
export const CELLS = SAMPLE + 2 * SAMPLE_SIZE;
/** A count-only window keeps just its interval and deadline in cells: an eighth of the memory. */
export const COUNT_ONLY_CELLS = DEADLINE + 1;
