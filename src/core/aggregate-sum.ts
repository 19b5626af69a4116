import { addExact, roundExact, roundSplitExact } from './exact-sum.ts';
import { zeroDoubles } from './hash.ts';
import * as layout from './aggregate-layout.ts';

// Module-local copies of the layout: optimised code folds a module's own constants, not imported bindings (about 13 % of absorb).
const { INLINE_PARTIALS, PARTIALS } = layout;

/**
 * The cells of a window aggregate and the exact sum kept in them: partials (exact-sum.ts) inline
 * in the cells until more than INLINE_PARTIALS are needed, then in an array of their own; values
 * of 2^960 or more are summed apart, in units of LARGE_UNIT, so that no sum overflows. The sum
 * rounds once, when it is read. WindowAggregate (aggregate.ts) builds on it.
 */
export class SummingCells {
  protected readonly cells: number[];
  /** Partials of the exact sum: cells[PARTIALS ..] until more than INLINE_PARTIALS are needed. */
  private partialCount = 0;
  private overflowPartials: number[] | null = null;
  /** The exact sum of the values of 2^960 or more, in units of LARGE_UNIT; null until the first. */
  private largePartials: number[] | null = null;
  private largeCount = 0;

  constructor(cellCount: number) {
    this.cells = zeroDoubles(cellCount);
  }

  sum(): number {
    if (this.largePartials !== null) {
      return this.overflowPartials === null
        ? roundSplitExact(this.largePartials, this.largeCount, this.cells, PARTIALS, this.partialCount)
        : roundSplitExact(this.largePartials, this.largeCount, this.overflowPartials, 0, this.partialCount);
    }
    return this.overflowPartials === null
      ? roundExact(this.cells, PARTIALS, this.partialCount)
      : roundExact(this.overflowPartials, 0, this.partialCount);
  }

  /** The sum is zero again. */
  protected resetSum(): void {
    this.partialCount = 0;
    this.overflowPartials = null;
    this.largePartials = null;
    this.largeCount = 0;
  }

  protected addToSum(value: number): void {
    const overflow = this.overflowPartials;
    if (overflow !== null) {
      this.partialCount = addExact(overflow, 0, this.partialCount, value);
      return;
    }
    if (this.partialCount < INLINE_PARTIALS) {
      // At most one partial more than before: still inline.
      this.partialCount = addExact(this.cells, PARTIALS, this.partialCount, value);
      return;
    }
    const moved = this.cells.slice(PARTIALS, PARTIALS + this.partialCount);
    this.overflowPartials = moved;
    this.partialCount = addExact(moved, 0, this.partialCount, value);
  }

  /** Adds a value of 2^960 or more, divided by LARGE_UNIT. */
  protected addToLarge(scaled: number): void {
    const large = (this.largePartials ??= []);
    this.largeCount = addExact(large, 0, this.largeCount, scaled);
  }

  protected partialValues(): number[] {
    return this.overflowPartials === null
      ? this.cells.slice(PARTIALS, PARTIALS + this.partialCount)
      : this.overflowPartials.slice(0, this.partialCount);
  }

  protected largeValues(): number[] {
    return this.largePartials === null ? [] : this.largePartials.slice(0, this.largeCount);
  }

  /** Whether any value of 2^960 or more was summed. */
  protected hasLarge(): boolean {
    return this.largePartials !== null;
  }

  /** Heap bytes the sum holds outside the cells. */
  protected sumBytes(): number {
    return (this.overflowPartials === null ? 0 : 32 + this.overflowPartials.length * 8) + (this.largePartials === null ? 0 : 32 + this.largePartials.length * 8);
  }
}
