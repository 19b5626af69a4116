/**
 * Exact arithmetic on doubles for the reference model: every finite double is an integer multiple
 * of 2^-1074, so a sum of doubles is held exactly as a BigInt count of 2^-1074 units and rounded
 * once. Slow and obviously right; the production sum (exact-sum.ts) is held equal to it.
 */

const UNITS_EXPONENT = -1074;

/** `value` (finite) as an exact count of 2^-1074 units. */
export function toUnits(value: number): bigint {
  if (!Number.isFinite(value)) throw new RangeError(`toUnits: ${String(value)} is not finite`);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const biasedExponent = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & ((1n << 52n) - 1n);
  // Subnormal: fraction × 2^-1074; normal: (2^52 + fraction) × 2^(e - 1075) = … × 2^(e - 1) units.
  const units = biasedExponent === 0 ? fraction : (fraction | (1n << 52n)) << BigInt(biasedExponent - 1);
  return negative ? -units : units;
}

/**
 * The double nearest to `units` × 2^(-1074 - extraHalvings), ties to even, ±Infinity beyond the
 * largest double (IEEE 754 round-to-nearest). Zero is +0.
 */
export function nearestDouble(units: bigint, extraHalvings = 0): number {
  if (units === 0n) return 0;
  const negative = units < 0n;
  const magnitude = negative ? -units : units;
  const exponent = UNITS_EXPONENT - extraHalvings;
  const leading = magnitude.toString(2).length - 1 + exponent;
  // The last bit a double keeps at this magnitude: 52 below the leading one, never below 2^-1074.
  const keepFrom = Math.max(leading - 52, UNITS_EXPONENT);
  const dropped = keepFrom - exponent;
  let kept = magnitude;
  if (dropped > 0) {
    kept = magnitude >> BigInt(dropped);
    const rest = magnitude - (kept << BigInt(dropped));
    const half = 1n << BigInt(dropped - 1);
    if (rest > half || (rest === half && (kept & 1n) === 1n)) kept += 1n;
  }
  const scale = dropped > 0 ? keepFrom : exponent;
  // kept ≤ 2^53 converts exactly; the power of two is exact for scale ≥ -1074; the product is
  // exact, or overflows to Infinity exactly when the rounded value reaches 2^1024.
  const result = Number(kept) * (scale > 1023 ? Number.POSITIVE_INFINITY : 2 ** scale);
  return negative ? -result : result;
}

/** The correctly rounded sum of `values` (all finite), as if added with infinite precision. */
export function exactSum(values: readonly number[]): number {
  let total = 0n;
  for (const value of values) total += toUnits(value);
  return nearestDouble(total);
}

/** The correctly rounded midpoint (a + b) / 2, without the overflow of computing a + b first. */
export function exactMidpoint(a: number, b: number): number {
  return nearestDouble(toUnits(a) + toUnits(b), 1);
}
