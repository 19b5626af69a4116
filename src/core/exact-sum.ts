/**
 * Exact floating-point summation (Shewchuk's non-overlapping partials, as Python's math.fsum).
 *
 * Plain `+=` depends on the order of the additions in the last bits, and a window's readings
 * arrive in whatever order the network delivered them. Keeping the exact sum as a short list of
 * non-overlapping partials (usually one to three numbers) and rounding once at the end makes the
 * sum a function of the set of values alone. Inputs must be finite.
 *
 * The partials live in `partials[base .. base + count)`, a slice of a larger array the caller
 * owns; the caller guarantees room for one more. Lengths never shrink, so the hot path never
 * resizes an array (shrinking a length makes V8 trim and later regrow the store).
 */

/** Adds `value` to the exact sum in `partials[base .. base + count)`; returns the new count (≤ count + 1). */
export function addExact(partials: number[], base: number, count: number, value: number): number {
  let x = value;
  let kept = base;
  const end = base + count;
  for (let j = base; j < end; j++) {
    let y = partials[j]!;
    if (Math.abs(x) < Math.abs(y)) {
      const swap = x;
      x = y;
      y = swap;
    }
    const hi = x + y;
    const lo = y - (hi - x);
    if (lo !== 0) partials[kept++] = lo;
    x = hi;
  }
  // Writing at index length appends.
  partials[kept] = x;
  return kept + 1 - base;
}

/** The correctly rounded value of the exact sum held in `partials[base .. base + count)`. */
export function roundExact(partials: readonly number[], base: number, count: number): number {
  let n = base + count;
  if (n === base) return 0;
  let hi = partials[--n]!;
  let lo = 0;
  while (n > base) {
    const x = hi;
    const y = partials[--n]!;
    hi = x + y;
    const yr = hi - x;
    lo = y - yr;
    if (lo !== 0) break;
  }
  // Round half to even across the remaining partials, as fsum does.
  if (n > base && ((lo < 0 && partials[n - 1]! < 0) || (lo > 0 && partials[n - 1]! > 0))) {
    const y = lo * 2;
    const x = hi + y;
    const yr = x - hi;
    if (y === yr) hi = x;
  }
  return hi + 0;
}
