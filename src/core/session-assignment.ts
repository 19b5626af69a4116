import type { ProcessorPlan } from './processor-plan.ts';
import type { ProcessorOutput, ProcessorStats } from './processor-spec.ts';
import type { ReadingRecord } from './readings.ts';
import type { RowEmitter } from './row-emitter.ts';
import type { Series, WindowState, WindowStore } from './window-store.ts';

/**
 * Puts a reading's value into its session. A reading is a duplicate if any session of its series
 * holds its id. It is absorbed late by a retained session that contains its event time (the
 * emitted session's [start, end) is frozen: the row key is its start). Otherwise it joins, and
 * merges, the open sessions its proto-session [t, t + gap) overlaps; else it opens a session if
 * that would still be open; else it is late. Before the series' purgedThrough, though, it may lie
 * in (or within a gap after) a session emitted and gone, whose start is a key already written:
 * there it only joins open sessions that start at or before it, and is late if it would open a
 * session or move a start back to its event time (that key could be written again, same version,
 * other readings).
 */
export class SessionAssigner {
  private readonly gapMs: number;
  private readonly countOnly: boolean;
  /** Reused: the open sessions a reading bridges. */
  private readonly bridged: WindowState[] = [];

  constructor(
    plan: ProcessorPlan,
    private readonly store: WindowStore,
    private readonly stats: ProcessorStats,
    private readonly emitter: RowEmitter,
  ) {
    this.gapMs = plan.sizeMs;
    this.countOnly = plan.countOnly;
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
    const protoEnd = eventTime + this.gapMs;
    const series = found;
    let gone = false;
    if (series !== undefined) {
      const windows = series.windows;
      for (let i = 0; i < windows.length && !this.countOnly; i++) {
        if (windows[i]!.has(idHash)) {
          this.stats.duplicates++;
          return;
        }
      }
      const bridged = this.bridged;
      bridged.length = 0;
      for (let i = 0; i < windows.length; i++) {
        const window = windows[i]!;
        if (window.emitted) {
          if (window.start <= eventTime && eventTime < window.end) {
            window.absorb(idHash, value, eventTime, ingestTime, offset);
            window.lateReadings++;
            this.stats.lateAbsorbed++;
            this.emitter.emit(window, out, true);
            return;
          }
        } else if (window.start < protoEnd && eventTime < window.end) {
          bridged.push(window);
        }
      }
      let target = bridged[0];
      if (eventTime < series.purgedThrough) {
        gone = target === undefined || eventTime < earliestStart(bridged);
        if (gone) target = undefined;
      }
      if (target !== undefined) {
        for (let i = 1; i < bridged.length; i++) store.mergeSessions(target, bridged[i]!);
        bridged.length = 0;
        target.absorb(idHash, value, eventTime, ingestTime, offset);
        if (eventTime < target.start) target.start = eventTime;
        if (protoEnd > target.end) target.end = protoEnd;
        store.extendSession(target);
        return;
      }
    }
    if (protoEnd + shiftMs > watermark && !gone) {
      const session = store.addSession(
        series ?? store.getOrCreateSeries(reading.tenant, reading.device, metric),
        eventTime,
        protoEnd,
        shiftMs,
      );
      this.stats.windowsOpened++;
      session.absorb(idHash, value, eventTime, ingestTime, offset);
      return;
    }
    this.emitter.missed(reading, metric, offset, out);
  }
}

/** The earliest start of `sessions` (not empty). */
function earliestStart(sessions: readonly WindowState[]): number {
  let start = sessions[0]!.start;
  for (let i = 1; i < sessions.length; i++) if (sessions[i]!.start < start) start = sessions[i]!.start;
  return start;
}
