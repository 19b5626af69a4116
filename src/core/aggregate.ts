import * as layout from './aggregate-layout.ts';
import { SummingCells } from './aggregate-sum.ts';
import { isAggregateTuple, type AggregateTuple } from './aggregate-tuple.ts';
import { isLargeSummand, LARGE_UNIT, midpoint } from './exact-sum.ts';
import { HashSet53 } from './hash.ts';
import { PipelineError } from './errors.ts';

// Module-local copies of the layout: optimised code folds a module's own constants, not imported bindings (about 13 % of absorb).
const { CELLS, COUNT_ONLY_CELLS, DEADLINE, END, FIRST, FIRST_TIME, LAST, LAST_TIME, MAX, MAX_INGEST, MIN, MIN_OFFSET, SAMPLE, SAMPLE_SIZE, START } = layout;

export { SAMPLE_SIZE } from './aggregate-layout.ts';
export type { AggregateTuple } from './aggregate-tuple.ts';

/**
 * A window [start, end) of one (tenant, device, metric) series and the aggregate of the readings
 * it absorbed.
 *
 * Every aggregate is a function of the SET of distinct readings absorbed, never of their order:
 * the sum is exact (rounded once), first/last break event-time ties by value, and the median
 * comes from a bottom-k sample chosen by id hash. A reading id seen before in this window is a
 * duplicate (a redelivery) and changes nothing.
 *
 * At the limits of a double (any finite value is valid input): no aggregate is ever NaN or
 * ±Infinity, since a row that cannot be stored would stop the pipeline on every replay. The sum
 * is exact however large the values (those of 2^960 or more are summed apart, see exact-sum.ts)
 * and rounds once, to ±Number.MAX_VALUE when the exact sum lies beyond the largest double: a sum
 * of ±MAX_VALUE reads "at least this large". min/max/first/last are readings' values; the median
 * of an even count is the correctly rounded midpoint, never the overflowing a + b.
 *
 * Memory layout, chosen for the replay rate (a reading's cost is mostly cache misses): every
 * number of the window lives in ONE array of unboxed doubles (aggregate-layout.ts; the exact sum's
 * part: aggregate-sum.ts). While a window holds at most SAMPLE_SIZE readings (most windows), the
 * sample holds every reading's (hash, value) and doubles as the id set; only a window that grows
 * past that gets a hash set.
 */
export class WindowAggregate extends SummingCells {
  count = 0;
  /** Readings absorbed after the window was first emitted. */
  lateReadings = 0;
  /** Ids absorbed, once count > SAMPLE_SIZE; before that the sample holds them all. */
  private ids: HashSet53 | null = null;
  /** Bottom-k sample: (hash, value) pairs at cells[SAMPLE ..]. */
  private sampleSize = 0;
  /** Index (in pairs) of the largest hash in a full sample: the one a smaller hash replaces. */
  private sampleMax = 0;

  /**
   * `countOnly`: only count and lateReadings are kept (ProcessorSpec `aggregates: 'count'`); ids
   * are not remembered, so every absorbed reading counts. The other aggregates read NaN.
   */
  constructor(
    start: number,
    end: number,
    readonly countOnly = false,
  ) {
    super(countOnly ? COUNT_ONLY_CELLS : CELLS);
    this.reset(start, end);
  }

  get start(): number {
    return this.cells[START]!;
  }
  set start(value: number) {
    this.cells[START] = value;
  }
  get end(): number {
    return this.cells[END]!;
  }
  set end(value: number) {
    this.cells[END] = value;
  }
  /** When the owner next needs to look at the window (see WindowStore). */
  get deadline(): number {
    return this.cells[DEADLINE]!;
  }
  set deadline(value: number) {
    this.cells[DEADLINE] = value;
  }
  get min(): number {
    return this.countOnly ? Number.NaN : this.cells[MIN]!;
  }
  get max(): number {
    return this.countOnly ? Number.NaN : this.cells[MAX]!;
  }
  get first(): number {
    return this.countOnly ? Number.NaN : this.cells[FIRST]!;
  }
  get firstTime(): number {
    return this.countOnly ? Number.NaN : this.cells[FIRST_TIME]!;
  }
  get last(): number {
    return this.countOnly ? Number.NaN : this.cells[LAST]!;
  }
  get lastTime(): number {
    return this.countOnly ? Number.NaN : this.cells[LAST_TIME]!;
  }
  get maxIngestTime(): number {
    return this.countOnly ? Number.NaN : this.cells[MAX_INGEST]!;
  }
  /** Smallest Kafka offset among the absorbed readings (where an at-least-once resume must start). */
  get minOffset(): number {
    return this.countOnly ? Number.NaN : this.cells[MIN_OFFSET]!;
  }

  /** Empty again, for the interval [start, end): windows are pooled and reused. */
  reset(start: number, end: number): void {
    const cells = this.cells;
    cells[START] = start;
    cells[END] = end;
    cells[DEADLINE] = end;
    this.count = 0;
    this.lateReadings = 0;
    if (this.countOnly) return;
    cells[MIN] = Number.POSITIVE_INFINITY;
    cells[MAX] = Number.NEGATIVE_INFINITY;
    cells[FIRST] = 0;
    cells[FIRST_TIME] = Number.POSITIVE_INFINITY;
    cells[LAST] = 0;
    cells[LAST_TIME] = Number.NEGATIVE_INFINITY;
    cells[MAX_INGEST] = Number.NEGATIVE_INFINITY;
    cells[MIN_OFFSET] = Number.POSITIVE_INFINITY;
    this.resetSum();
    this.ids = null;
    this.sampleSize = 0;
    this.sampleMax = 0;
  }

  has(idHash: number): boolean {
    if (this.countOnly) return false;
    if (this.ids !== null) return this.ids.has(idHash);
    const cells = this.cells;
    const end = SAMPLE + 2 * this.sampleSize;
    for (let i = SAMPLE; i < end; i += 2) if (cells[i] === idHash) return true;
    return false;
  }

  /** Absorbs one reading's value; false (and no change) when its id was absorbed before. */
  absorb(idHash: number, value: number, eventTime: number, ingestTime: number, offset: number): boolean {
    if (this.countOnly) {
      this.count++;
      return true;
    }
    if (!this.rememberId(idHash)) return false;
    this.count++;
    if (isLargeSummand(value)) this.addToLarge(value / LARGE_UNIT);
    else this.addToSum(value);
    this.addScalars(value, value, value, eventTime, value, eventTime, ingestTime, offset);
    this.addToSample(idHash, value);
    return true;
  }

  /**
   * Absorbs another window's readings (session merge). The two must hold disjoint reading ids:
   * the caller checks every id against all of a series' sessions before absorbing it.
   */
  merge(other: WindowAggregate): void {
    if (this.countOnly) {
      this.count += other.count;
      this.lateReadings += other.lateReadings;
      return;
    }
    if (this.count + other.count > SAMPLE_SIZE) {
      const ids = this.idSet();
      for (const hash of other.idValues()) ids.add(hash);
    }
    this.count += other.count;
    this.lateReadings += other.lateReadings;
    for (const partial of other.partialValues()) this.addToSum(partial);
    for (const partial of other.largeValues()) this.addToLarge(partial);
    this.addScalars(other.min, other.max, other.first, other.firstTime, other.last, other.lastTime, other.maxIngestTime, other.minOffset);
    const from = other.cells;
    for (let i = 0; i < other.sampleSize; i++) this.addToSample(from[SAMPLE + 2 * i]!, from[SAMPLE + 2 * i + 1]!);
  }

  /** Median of the sample: exact while the window holds at most SAMPLE_SIZE readings. */
  median(): number {
    const n = this.sampleSize;
    if (n === 0) return Number.NaN;
    const sorted = SCRATCH;
    const cells = this.cells;
    for (let i = 0; i < n; i++) {
      const value = cells[SAMPLE + 2 * i + 1]!;
      let j = i;
      while (j > 0 && sorted[j - 1]! > value) {
        sorted[j] = sorted[j - 1]!;
        j--;
      }
      sorted[j] = value;
    }
    const mid = n >> 1;
    return n % 2 === 1 ? sorted[mid]! : midpoint(sorted[mid - 1]!, sorted[mid]!);
  }

  /** Compact JSON form of the aggregate (not the interval); `restore` reads it back. Non-empty windows only. */
  encode(): AggregateTuple {
    const tuple: AggregateTuple = [
      this.count,
      this.partialValues(),
      this.min,
      this.max,
      this.first,
      this.firstTime,
      this.last,
      this.lastTime,
      this.maxIngestTime,
      this.lateReadings,
      this.minOffset,
      // Small windows: the sample holds every id already.
      this.ids === null ? [] : this.ids.values(),
      this.cells.slice(SAMPLE, SAMPLE + 2 * this.sampleSize),
    ];
    // Only windows that absorbed a value of 2^960 or more: every other snapshot stays as it was.
    if (this.hasLarge()) tuple.push(this.largeValues());
    return tuple;
  }

  /** Fills this empty aggregate from `encode()`'s output. */
  restore(tuple: unknown): void {
    if (!isAggregateTuple(tuple)) {
      throw new PipelineError('CORE_SNAPSHOT_INVALID', 'window aggregate in snapshot is malformed');
    }
    this.reset(this.start, this.end);
    this.count = tuple[0];
    this.lateReadings = tuple[9];
    if (this.countOnly) return;
    this.restoreSum(tuple);
    this.addScalars(tuple[2], tuple[3], tuple[4], tuple[5], tuple[6], tuple[7], tuple[8], tuple[10]);
    if (this.count > SAMPLE_SIZE) {
      const ids = tuple[11];
      this.ids = new HashSet53(ids.length);
      for (const hash of ids) this.ids.add(hash);
    }
    // Re-adding rebuilds the sample's invariant (index of the largest hash).
    const sample = tuple[12];
    for (let i = 0; i + 1 < sample.length; i += 2) this.addToSample(sample[i]!, sample[i + 1]!);
  }

  /** Approximate heap bytes held (count-only windows: what the full aggregates would hold, so a replay sizes the aggregator's state). */
  estimatedBytes(): number {
    if (this.countOnly) return 96 + CELLS * 8 + (this.count > SAMPLE_SIZE ? 32 + idSetSlots(this.count) * 8 : 0);
    return 96 + CELLS * 8 + this.sumBytes() + (this.ids === null ? 0 : 32 + this.ids.byteLength);
  }

  private addScalars(
    min: number,
    max: number,
    first: number,
    firstTime: number,
    last: number,
    lastTime: number,
    maxIngestTime: number,
    minOffset: number,
  ): void {
    const cells = this.cells;
    if (min < cells[MIN]!) cells[MIN] = min;
    if (max > cells[MAX]!) cells[MAX] = max;
    const currentFirstTime = cells[FIRST_TIME]!;
    if (firstTime < currentFirstTime || (firstTime === currentFirstTime && first < cells[FIRST]!)) {
      cells[FIRST] = first;
      cells[FIRST_TIME] = firstTime;
    }
    const currentLastTime = cells[LAST_TIME]!;
    if (lastTime > currentLastTime || (lastTime === currentLastTime && last > cells[LAST]!)) {
      cells[LAST] = last;
      cells[LAST_TIME] = lastTime;
    }
    if (maxIngestTime > cells[MAX_INGEST]!) cells[MAX_INGEST] = maxIngestTime;
    if (minOffset < cells[MIN_OFFSET]!) cells[MIN_OFFSET] = minOffset;
  }

  /**
   * The sum's partials from a snapshot. One written before sums were split could hold an overflowed
   * pair (±Infinity, stored by JSON as null): while the window held at most SAMPLE_SIZE readings
   * the sample has every value and the exact sum is rebuilt from it; otherwise it is lost.
   */
  private restoreSum(tuple: AggregateTuple): void {
    const large = tuple[13] ?? [];
    if (tuple[1].every(Number.isFinite) && large.every(Number.isFinite)) {
      for (const partial of tuple[1]) this.addToSum(partial);
      for (const partial of large) this.addToLarge(partial);
      return;
    }
    const sample = tuple[12];
    if (this.count > SAMPLE_SIZE || sample.length !== 2 * this.count || !sample.every(Number.isFinite)) {
      throw new PipelineError('CORE_SNAPSHOT_INVALID', 'window aggregate in snapshot has a non-finite sum that its sample cannot rebuild', {
        context: { start: this.start, end: this.end, count: this.count },
      });
    }
    for (let i = 1; i < sample.length; i += 2) {
      const value = sample[i]!;
      if (isLargeSummand(value)) this.addToLarge(value / LARGE_UNIT);
      else this.addToSum(value);
    }
  }

  /** Records the id; false when it was there already. */
  private rememberId(idHash: number): boolean {
    if (this.ids !== null) return this.ids.add(idHash);
    if (this.has(idHash)) return false;
    // The 17th reading: from now on the sample no longer holds every id.
    if (this.count === SAMPLE_SIZE) this.idSet().add(idHash);
    return true;
  }

  /** The id set, built from the sample (which holds every id until then) on first use. */
  private idSet(): HashSet53 {
    if (this.ids === null) {
      const ids = new HashSet53(SAMPLE_SIZE + 1);
      for (let i = 0; i < this.sampleSize; i++) ids.add(this.cells[SAMPLE + 2 * i]!);
      this.ids = ids;
    }
    return this.ids;
  }

  private idValues(): number[] {
    if (this.ids !== null) return this.ids.values();
    const out: number[] = [];
    for (let i = 0; i < this.sampleSize; i++) out.push(this.cells[SAMPLE + 2 * i]!);
    return out;
  }

  private addToSample(hash: number, value: number): void {
    const cells = this.cells;
    const n = this.sampleSize;
    if (n < SAMPLE_SIZE) {
      cells[SAMPLE + 2 * n] = hash;
      cells[SAMPLE + 2 * n + 1] = value;
      this.sampleSize = n + 1;
      if (n + 1 === SAMPLE_SIZE) this.sampleMax = this.findSampleMax();
      return;
    }
    const slot = SAMPLE + 2 * this.sampleMax;
    if (hash >= cells[slot]!) return;
    cells[slot] = hash;
    cells[slot + 1] = value;
    this.sampleMax = this.findSampleMax();
  }

  private findSampleMax(): number {
    const cells = this.cells;
    let index = 0;
    for (let i = 1; i < this.sampleSize; i++) if (cells[SAMPLE + 2 * i]! > cells[SAMPLE + 2 * index]!) index = i;
    return index;
  }
}

const SCRATCH = new Float64Array(SAMPLE_SIZE);

/** Slots of the id set of a window that absorbed `count` (> SAMPLE_SIZE) readings one by one (HashSet53's growth). */
function idSetSlots(count: number): number {
  let slots = 64;
  while (count * 2 > slots) slots *= 2;
  return slots;
}
