/**
 * Exact floating-point summation (Shewchuk's non-overlapping partials, as Python's math.fsum).
 *
 * Plain `+=` depends on the order of the additions in the last bits, and a window's readings
 * arrive in whatever order the network delivered them. Keeping the exact sum as a short list of
 * non-overlapping partials (usually one to three numbers) and rounding once at the end makes the
 * sum a function of the set of values alone. Inputs must be finite, and so must every partial sum:
 * Shewchuk's two-sum is exact only while `x + y` does not overflow (2 · 1e308 gives partials
 * [-Infinity, Infinity] and a NaN sum). Callers that may see values near the limits of a double
 * split them with `isLargeSummand` and round with `roundSplitExact` (see the end of this file).
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

/** (a + b) / 2 correctly rounded, also where a + b overflows (then both halve exactly). */
export function midpoint(a: number, b: number): number {
  const sum = a + b;
  // A finite sum of 2^-1021 or more halves exactly; a smaller one was exact (fewer than 53 bits on the
  // 2^-1074 grid), so its halving is the one rounding. An overflowing one: both are at least 2^970.
  return Number.isFinite(sum) ? sum / 2 : a / 2 + b / 2;
}

/**
 * Summands at least this large in magnitude are kept apart, as exact multiples of LARGE_UNIT:
 * a value v goes in as v / LARGE_UNIT, exact (a power-of-two scaling of a double that stays ≥ 1).
 * Neither expansion can then overflow: the small one holds fewer than 2^53 values below 2^960
 * (|sum| < 2^1013), the large one values below 2^64 (|sum| < 2^117). The true sum,
 * LARGE_UNIT · large + small, may lie beyond the largest double; roundSplitExact saturates it.
 */
export const LARGE_UNIT = 2 ** 960;
const LARGE_UNIT_EXPONENT = 960n;

export function isLargeSummand(value: number): boolean {
  return value >= LARGE_UNIT || value <= -LARGE_UNIT;
}

/**
 * The correctly rounded value of LARGE_UNIT · large[0 .. largeCount) + small[smallBase .. + smallCount),
 * saturated to ±Number.MAX_VALUE where the rounding would give ±Infinity (an aggregate row must
 * stay storable: ClickHouse rows and JSON snapshots have no infinities). Exact integer arithmetic in
 * units of 2^-1074, of which every finite double is a whole number: slow, and only for windows
 * that absorbed a value of 2^960 or more.
 */
export function roundSplitExact(
  large: readonly number[],
  largeCount: number,
  small: readonly number[],
  smallBase: number,
  smallCount: number,
): number {
  let units = 0n;
  for (let i = 0; i < largeCount; i++) units += unitsOf(large[i]!) << LARGE_UNIT_EXPONENT;
  for (let i = smallBase; i < smallBase + smallCount; i++) units += unitsOf(small[i]!);
  return nearestSaturated(units);
}

const BITS = new DataView(new ArrayBuffer(8));

/** A finite double as an exact count of 2^-1074 units. */
function unitsOf(value: number): bigint {
  BITS.setFloat64(0, value);
  const high = BITS.getUint32(0);
  const exponent = (high >>> 20) & 0x7ff;
  const fraction = (BigInt(high & 0xfffff) << 32n) | BigInt(BITS.getUint32(4));
  // Subnormal: fraction · 2^-1074; normal: (2^52 + fraction) · 2^(exponent − 1075) = … · 2^(exponent − 1) units.
  const magnitude = exponent === 0 ? fraction : (fraction | (1n << 52n)) << BigInt(exponent - 1);
  return high >>> 31 === 1 ? -magnitude : magnitude;
}

/** The double nearest to units · 2^-1074 (ties to even), ±MAX_VALUE beyond the range; zero is +0. */
function nearestSaturated(units: bigint): number {
  const negative = units < 0n;
  const magnitude = negative ? -units : units;
  const bits = magnitude.toString(2).length;
  let value: number;
  if (bits <= 53) {
    // At most 53 significant bits on the 2^-1074 grid: representable, so the product is exact.
    value = Number(magnitude) * Number.MIN_VALUE;
  } else {
    // Above 2^-1021: a normal double, 53 significant bits; round the rest half to even.
    const dropped = bits - 53;
    let kept = magnitude >> BigInt(dropped);
    const rest = magnitude - (kept << BigInt(dropped));
    const half = 1n << BigInt(dropped - 1);
    if (rest > half || (rest === half && (kept & 1n) === 1n)) kept += 1n;
    // kept ≤ 2^53 converts exactly and the power of two is exact (exponent ≥ -1073): the product
    // is exact, or Infinity exactly when the rounded value reaches 2^1024.
    value = Number(kept) * 2 ** (dropped - 1074);
  }
  if (value === Number.POSITIVE_INFINITY) value = Number.MAX_VALUE;
  return negative ? -value : value;
}
