/**
 * The nearest-rank q-quantile over counts kept by index (a value, or a histogram bin): the first
 * index whose running count reaches ceil(q · total), never below the first sample. `index` is -1
 * when the first `length` counts do not reach it; `rank` and `seen` (the count walked) let a caller
 * that keeps further values elsewhere go on from there.
 */
export interface RankWalk {
  readonly index: number;
  readonly rank: number;
  readonly seen: number;
}

export function nearestRankIndex(counts: ArrayLike<number>, length: number, total: number, q: number): RankWalk {
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (let index = 0; index < length; index++) {
    seen += counts[index]!;
    if (seen >= rank) return { index, rank, seen };
  }
  return { index: -1, rank, seen };
}
