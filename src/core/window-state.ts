import { WindowAggregate } from './aggregate.ts';

/**
 * One window of a series as the window store keeps it: its aggregate, where it stands (open,
 * emitted and retained, or dead) and its live entry in the deadline queue. A pooled object lives
 * many lives, one window each (see `reuse`). The life of a window: window-store.ts.
 */
export class WindowState extends WindowAggregate {
  /** Stamp of the window's latest entry into the deadline queue: orders windows due together. */
  seq = 0;
  emitted = false;
  /** Merged away or purged (and maybe pooled): no longer a window of `series`. */
  dead = false;
  /** The device's clock shift when the window opened: it closes at end + shiftMs (see device-clock.ts). */
  shiftMs = 0;
  /** Deadline of the window's live entry in the deadline queue (+Infinity: none); see extendSession. */
  queuedAt = Number.POSITIVE_INFINITY;
  /**
   * Ticket of the window's live entry in the deadline queue (0: none). Every entry carries the
   * ticket it was queued with and tickets are never handed out twice, so an entry left from an
   * earlier deadline or an earlier life of a pooled object can never pass for live.
   */
  ticket = 0;

  constructor(
    public series: Series,
    start: number,
    end: number,
    countOnly = false,
  ) {
    super(start, end, countOnly);
  }

  /** Makes a purged window new again, for another series or period (see WindowPool). */
  reuse(series: Series, start: number, end: number): void {
    this.reset(start, end);
    this.series = series;
    this.emitted = false;
    this.dead = false;
    this.shiftMs = 0;
    this.queuedAt = Number.POSITIVE_INFINITY;
  }
}

export class Series {
  /** Aligned windows: ascending start. Sessions: creation order (kept across snapshots). */
  readonly windows: WindowState[] = [];
  /**
   * Aligned windows: `windows[i].start`, as unboxed doubles in one array, so that finding a
   * reading's windows reads no window. (Sessions keep it only in step: their starts move.)
   */
  readonly starts: number[] = [];
  /**
   * Stores that keep counts in series (see WindowStore): `windows[i]`'s count, in step with
   * `starts`, so that a reading counted in its windows reads no window (a sliding reading has
   * several). The window's own `count` is brought up to date only when it is read.
   */
  readonly counts: number[] = [];
  /** The window a reading of this series touched last: usually the next one's too. */
  recent: WindowState | undefined = undefined;
  /** `recent`'s start, kept here so that a hit reads no window cells. */
  recentStart = Number.NaN;
  /**
   * Stores that keep counts in recent (see WindowStore): readings counted in `recent` but not yet
   * added to its count, so that a reading counted in the window it touched last reads no window.
   */
  recentCount = 0;
  /** The device's next series (another metric): a device's series form a short list. */
  sibling: Series | undefined = undefined;
  /**
   * The largest end of this series' emitted windows that have left the store. A window ending
   * there or before may have been emitted already, so it must not be opened again from scratch
   * (a second row for the same key) when the device's clock shift grew since, or its clock was set
   * back (a device ahead whose clock was fixed). Sessions: a reading before it may lie in (or within
   * a gap after) a session emitted and gone, so it opens no session and moves no start back there
   * (see SessionAssigner, session-assignment.ts), however the watermark and the device's shift stand.
   */
  purgedThrough = Number.NEGATIVE_INFINITY;

  constructor(
    readonly tenant: string,
    readonly device: string,
    readonly metric: string,
  ) {}
}

/**
 * The series of a device's `metric`, from the head of its list. Metric names are property keys
 * of the decoded reading, which V8 interns, so `===` compares pointers.
 */
export function findSeries(head: Series | undefined, metric: string): Series | undefined {
  let series = head;
  while (series !== undefined && series.metric !== metric) series = series.sibling;
  return series;
}
