/** Compact JSON form of a window aggregate in a snapshot (WindowAggregate.encode / restore). Fields are only ever appended: old checkpoints must restore. */
export type AggregateTuple = [
  count: number,
  partials: number[],
  min: number,
  max: number,
  first: number,
  firstTime: number,
  last: number,
  lastTime: number,
  maxIngestTime: number,
  lateReadings: number,
  minOffset: number,
  /** Every id hash when count > SAMPLE_SIZE; empty otherwise (the sample holds them). */
  ids: number[],
  sample: number[],
  /** The sum of the values of 2^960 or more, in units of 2^960 (exact-sum.ts); only when there are any. */
  large?: number[],
];

export function isAggregateTuple(value: unknown): value is AggregateTuple {
  return (
    Array.isArray(value) &&
    (value.length === 13 || (value.length === 14 && Array.isArray(value[13]))) &&
    typeof value[0] === 'number' &&
    value[0] > 0 &&
    Array.isArray(value[1]) &&
    Array.isArray(value[11]) &&
    Array.isArray(value[12])
  );
}
