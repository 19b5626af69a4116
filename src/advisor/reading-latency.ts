import type { AggregateRow } from '../core/rows.ts';
import type { WindowConfig } from '../config/schema.ts';
import { alignedStart } from '../core/windows.ts';
import type { LatencyHistogram } from './stats.ts';
import type { Trace } from './trace.ts';

/**
 * End-to-end latency per reading: from its ingest to the moment the first row that holds it
 * becomes visible. The processor reports rows, not readings, so the replay remembers the ingest
 * times of readings that open windows hold and settles them when their window's row comes out.
 * (Only the bookkeeping lives here; which window a reading joined and when it closes is the
 * processor's decision, read from its output.)
 */
export interface ReadingLatencyTracker {
  /** Trace entry `index` joined an open window of `partition`; `watermark` is the partition's after it. */
  held(partition: number, index: number, device: number, eventTime: number, ingestTime: number, watermark: number): void;
  /** A window's first emission, visible at `visibleAt`. */
  emitted(row: AggregateRow, visibleAt: number): void;
}

export function createLatencyTracker(window: WindowConfig, trace: Trace, partitions: number, histogram: LatencyHistogram): ReadingLatencyTracker {
  return window.kind === 'session' ? new SessionLatency(trace, histogram) : new AlignedLatency(window, partitions, histogram);
}

/**
 * Tumbling and sliding windows: every window of a partition that ends at E closes at the same
 * record (the first that moves the watermark to E or beyond), so readings are kept per
 * (partition, first window end) in arrays of ingest times, and settled together when the first row
 * ending at E comes out. Rows of a partition come out in end order.
 */
class AlignedLatency implements ReadingLatencyTracker {
  private readonly slideMs: number;
  private readonly buckets: Array<Map<number, number[]>>;
  /** The bucket a partition's last reading went to: the next one most likely goes there too. */
  private readonly recentEnd: Float64Array;
  private readonly recent: Array<number[] | undefined>;
  private readonly settledEnd: Float64Array;

  constructor(
    window: Extract<WindowConfig, { kind: 'tumbling' | 'sliding' }>,
    partitions: number,
    private readonly histogram: LatencyHistogram,
  ) {
    this.slideMs = window.kind === 'sliding' ? window.slideMs : window.sizeMs;
    this.buckets = Array.from({ length: partitions }, () => new Map());
    this.recentEnd = new Float64Array(partitions).fill(Number.NaN);
    this.recent = new Array(partitions).fill(undefined);
    this.settledEnd = new Float64Array(partitions).fill(Number.NEGATIVE_INFINITY);
  }

  held(partition: number, _index: number, _device: number, eventTime: number, ingestTime: number, watermark: number): void {
    const slide = this.slideMs;
    // The first window holding the reading that is still open (a sliding reading may have missed earlier ones).
    let end = alignedStart(eventTime, slide) + slide;
    while (end <= watermark) end += slide;
    if (end === this.recentEnd[partition]) {
      this.recent[partition]!.push(ingestTime);
      return;
    }
    const buckets = this.buckets[partition]!;
    let bucket = buckets.get(end);
    if (bucket === undefined) buckets.set(end, (bucket = []));
    bucket.push(ingestTime);
    this.recentEnd[partition] = end;
    this.recent[partition] = bucket;
  }

  emitted(row: AggregateRow, visibleAt: number): void {
    const partition = row.partition;
    const end = row.windowEnd;
    if (end <= this.settledEnd[partition]!) return;
    this.settledEnd[partition] = end;
    const buckets = this.buckets[partition]!;
    const bucket = buckets.get(end);
    if (bucket === undefined) return;
    buckets.delete(end);
    if (this.recentEnd[partition] === end) {
      this.recentEnd[partition] = Number.NaN;
      this.recent[partition] = undefined;
    }
    const histogram = this.histogram;
    for (let i = 0; i < bucket.length; i++) histogram.record(visibleAt - bucket[i]!);
  }
}

/**
 * Sessions end where their series' readings say, so readings are kept per device; a session row
 * [start, end) settles every held reading of its device stamped before `end` (sessions of a series
 * do not overlap and close in end order, so an earlier one has settled its own already).
 *
 * A device's held readings are a list of trace entries linked through one array the size of the
 * trace (times are read back from the trace): holding one writes two array slots, where an
 * array per device would cost a cache miss on the array and its growth.
 */
class SessionLatency implements ReadingLatencyTracker {
  /** Per trace entry: the next held entry of its device, or -1. */
  private readonly next: Int32Array;
  /** Per device: its first and last held entries, or -1. */
  private readonly first: Int32Array;
  private readonly last: Int32Array;
  private readonly deviceIndex = new Map<string, Map<string, number>>();

  constructor(
    private readonly trace: Trace,
    private readonly histogram: LatencyHistogram,
  ) {
    const devices = trace.devices.length;
    this.next = new Int32Array(trace.length);
    this.first = new Int32Array(devices).fill(-1);
    this.last = new Int32Array(devices).fill(-1);
    for (let d = 0; d < devices; d++) {
      const tenant = trace.tenants[d]!;
      let byDevice = this.deviceIndex.get(tenant);
      if (byDevice === undefined) this.deviceIndex.set(tenant, (byDevice = new Map()));
      byDevice.set(trace.devices[d]!, d);
    }
  }

  held(_partition: number, index: number, device: number): void {
    this.next[index] = -1;
    const last = this.last[device]!;
    if (last === -1) this.first[device] = index;
    else this.next[last] = index;
    this.last[device] = index;
  }

  emitted(row: AggregateRow, visibleAt: number): void {
    const device = this.deviceIndex.get(row.tenant)?.get(row.device);
    if (device === undefined) return;
    const { next, trace } = this;
    const end = row.windowEnd;
    let keptFirst = -1;
    let keptLast = -1;
    for (let entry = this.first[device]!; entry !== -1; entry = next[entry]!) {
      if (trace.eventTime[entry]! < end) {
        this.histogram.record(visibleAt - trace.ingestTime[entry]!);
        continue;
      }
      if (keptLast === -1) keptFirst = entry;
      else next[keptLast] = entry;
      keptLast = entry;
    }
    if (keptLast !== -1) next[keptLast] = -1;
    this.first[device] = keptFirst;
    this.last[device] = keptLast;
  }
}
