import { Late, type ProcessorPlan } from './processor-plan.ts';
import type { ProcessorOutput, ProcessorStats } from './processor-spec.ts';
import type { ReadingRecord } from './readings.ts';
import type { RowEmitter } from './row-emitter.ts';
import type { Series, WindowState, WindowStore } from './window-store.ts';
import { alignedStart } from './windows.ts';

/**
 * Puts a reading's value into its tumbling or sliding windows. Each window decides on time / late
 * for itself. A window still in the store takes the reading (an emitted one is corrected);
 * otherwise the reading opens it if the watermark has not passed end + the device's clock shift,
 * or, within the allowed lateness, opens it retained and emits it at once. No window that may have
 * been emitted and purged already (end ≤ series.purgedThrough) is opened again: that would be a
 * second row. Only a device whose shift grew, or whose clock ahead was set back, can get there
 * before the watermark does.
 */
export class AlignedAssigner {
  private readonly sizeMs: number;
  private readonly slideMs: number;
  private readonly windowsPerValue: number;
  /** Late policy 'reemit' (a boolean: the hot path compares no imported codes). */
  private readonly reemit: boolean;
  private readonly allowedLatenessMs: number;

  constructor(
    plan: ProcessorPlan,
    private readonly store: WindowStore,
    private readonly stats: ProcessorStats,
    private readonly emitter: RowEmitter,
    /** Starts of the aligned windows the last reading missed (the processor clears it per reading). */
    private readonly missedStarts: number[],
  ) {
    this.sizeMs = plan.sizeMs;
    this.slideMs = plan.slideMs;
    this.windowsPerValue = plan.windowsPerValue;
    this.reemit = plan.late === Late.Reemit;
    this.allowedLatenessMs = plan.allowedLatenessMs;
  }

  /** `found`: the series of the reading's device and `metric`, if the store has it. */
  assign(
    reading: ReadingRecord,
    metric: string,
    found: Series | undefined,
    idHash: number,
    value: number,
    eventTime: number,
    offset: number,
    watermark: number,
    shiftMs: number,
    out: ProcessorOutput,
  ): void {
    const store = this.store;
    const ingestTime = reading.ingestTime;
    let series = found;
    let duplicate = false;
    let missed = false;
    let absorbedLate = false;
    let start = alignedStart(eventTime, this.slideMs) - (this.windowsPerValue - 1) * this.slideMs;
    // Sliding: the series' windows ascend by start, as do the reading's: one cursor walks both.
    // Tumbling: the window the series touched last is nearly always the one.
    const sliding = this.windowsPerValue > 1;
    // The store keeps counts in the series: a reading is counted there, and no window is read.
    const countsInSeries = store.countsInSeries;
    const countsInRecent = store.countsInRecent;
    let index = sliding && series !== undefined ? store.firstAlignedFrom(series, start) : 0;
    for (let i = 0; i < this.windowsPerValue; i++, start += this.slideMs) {
      const end = start + this.sizeMs;
      let window: WindowState | undefined;
      if (series !== undefined) {
        if (!sliding) {
          // Count-only, never emitted while stored (no 'reemit'): counted in the series, no window read.
          if (countsInRecent && store.countRecentReading(series, start)) continue;
          window = store.findAligned(series, start);
        } else if (series.starts[index] === start) {
          if (countsInSeries) {
            // Count-only, never emitted while stored (no 'reemit'): absorbing is counting.
            store.countReading(series, index++);
            continue;
          }
          window = series.windows[index++];
        }
      }
      if (window === undefined) {
        const closesAt = end + shiftMs;
        const reopens = series !== undefined && end <= series.purgedThrough;
        if (closesAt > watermark && !reopens) {
          series ??= store.getOrCreateSeries(reading.tenant, reading.device, metric);
          window = store.addAligned(series, start, end, undefined, shiftMs);
          if (countsInSeries) store.countReading(series, index);
          else window.absorb(idHash, value, eventTime, ingestTime, offset);
          index++;
          this.stats.windowsOpened++;
          continue;
        }
        const retainUntil = closesAt + this.allowedLatenessMs;
        if (!this.reemit || retainUntil <= watermark || reopens) {
          missed = true;
          this.missedStarts.push(start);
          continue;
        }
        // Within the allowed lateness: emit the window for the first time.
        series ??= store.getOrCreateSeries(reading.tenant, reading.device, metric);
        window = store.addAligned(series, start, end, retainUntil, shiftMs);
        index++;
        this.stats.windowsOpened++;
      }
      if (!window.absorb(idHash, value, eventTime, ingestTime, offset)) {
        duplicate = true;
        continue;
      }
      if (!window.emitted) continue;
      // Within the allowed lateness: correct the emitted window.
      window.lateReadings++;
      absorbedLate = true;
      this.emitter.emit(window, out, true);
    }
    if (duplicate) this.stats.duplicates++;
    if (absorbedLate) this.stats.lateAbsorbed++;
    if (missed) this.emitter.missed(reading, metric, offset, out);
  }
}
