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
  /**
   * The replay goes on to `partition` (partitions are replayed one after another): readings still
   * held belong to the previous partition's rows, none of which will come out any more.
   */
  startPartition(partition: number): void;
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

  startPartition(): void {
    // Buckets are kept per partition already.
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
 * A device's held readings are (event time, ingest time) pairs in chunks of one pool, the chunks
 * linked per device: settling a device reads a few cache lines per 32 readings, where reading the
 * times back from the trace (a device's entries lie thousands apart) costs a cache miss per
 * reading, and sessions hold most readings of a trace until its end.
 */
const CHUNK_READINGS = 32;
const CHUNK_DOUBLES = CHUNK_READINGS * 2;

class SessionLatency implements ReadingLatencyTracker {
  private pool = new Float64Array(CHUNK_DOUBLES * 1024);
  /** Per chunk: the device's next chunk, or -1; on the free list, the next free chunk. */
  private chunkNext = new Int32Array(1024);
  private chunksMade = 0;
  private freeChunk = -1;
  /** Per device: its first and last chunks (-1: none) and the readings in the last. */
  private readonly headChunk: Int32Array;
  private readonly tailChunk: Int32Array;
  private readonly tailFill: Int32Array;
  private readonly deviceIndex = new Map<string, Map<string, number>>();

  constructor(
    trace: Trace,
    private readonly histogram: LatencyHistogram,
  ) {
    const devices = trace.devices.length;
    this.headChunk = new Int32Array(devices).fill(-1);
    this.tailChunk = new Int32Array(devices).fill(-1);
    this.tailFill = new Int32Array(devices);
    for (let d = 0; d < devices; d++) {
      const tenant = trace.tenants[d]!;
      let byDevice = this.deviceIndex.get(tenant);
      if (byDevice === undefined) this.deviceIndex.set(tenant, (byDevice = new Map()));
      byDevice.set(trace.devices[d]!, d);
    }
  }

  startPartition(): void {
    // A device whose readings the trace puts on several partitions: its rows on the next one hold none of these.
    this.headChunk.fill(-1);
    this.tailChunk.fill(-1);
    this.tailFill.fill(0);
    this.chunksMade = 0;
    this.freeChunk = -1;
  }

  held(_partition: number, _index: number, device: number, eventTime: number, ingestTime: number): void {
    let tail = this.tailChunk[device]!;
    let fill = this.tailFill[device]!;
    if (tail === -1 || fill === CHUNK_READINGS) {
      const chunk = this.takeChunk();
      if (tail === -1) this.headChunk[device] = chunk;
      else this.chunkNext[tail] = chunk;
      this.tailChunk[device] = tail = chunk;
      fill = 0;
    }
    const at = tail * CHUNK_DOUBLES + fill * 2;
    this.pool[at] = eventTime;
    this.pool[at + 1] = ingestTime;
    this.tailFill[device] = fill + 1;
  }

  emitted(row: AggregateRow, visibleAt: number): void {
    const device = this.deviceIndex.get(row.tenant)?.get(row.device);
    if (device === undefined) return;
    const head = this.headChunk[device]!;
    if (head === -1) return;
    const { pool, chunkNext, histogram } = this;
    const tail = this.tailChunk[device]!;
    const tailFill = this.tailFill[device]!;
    const end = row.windowEnd;
    // Readings kept (stamped at or after `end`) are moved forward in place: the write position never passes the read one.
    let keptChunk = head;
    let keptFill = 0;
    for (let chunk = head; chunk !== -1; chunk = chunk === tail ? -1 : chunkNext[chunk]!) {
      const base = chunk * CHUNK_DOUBLES;
      const fill = chunk === tail ? tailFill : CHUNK_READINGS;
      for (let k = 0; k < fill; k++) {
        const eventTime = pool[base + 2 * k]!;
        const ingestTime = pool[base + 2 * k + 1]!;
        if (eventTime < end) {
          histogram.record(visibleAt - ingestTime);
          continue;
        }
        if (keptFill === CHUNK_READINGS) {
          keptChunk = chunkNext[keptChunk]!;
          keptFill = 0;
        }
        const at = keptChunk * CHUNK_DOUBLES + keptFill * 2;
        pool[at] = eventTime;
        pool[at + 1] = ingestTime;
        keptFill++;
      }
    }
    const firstFree = keptFill === 0 ? head : keptChunk === tail ? -1 : chunkNext[keptChunk]!;
    for (let chunk = firstFree; chunk !== -1; ) {
      const next = chunk === tail ? -1 : chunkNext[chunk]!;
      chunkNext[chunk] = this.freeChunk;
      this.freeChunk = chunk;
      chunk = next;
    }
    if (keptFill === 0) {
      this.headChunk[device] = -1;
      this.tailChunk[device] = -1;
      this.tailFill[device] = 0;
    } else {
      this.tailChunk[device] = keptChunk;
      this.tailFill[device] = keptFill;
    }
  }

  private takeChunk(): number {
    const free = this.freeChunk;
    if (free !== -1) {
      this.freeChunk = this.chunkNext[free]!;
      return free;
    }
    if (this.chunksMade === this.chunkNext.length) {
      const pool = new Float64Array(this.pool.length * 2);
      pool.set(this.pool);
      this.pool = pool;
      const chunkNext = new Int32Array(this.chunkNext.length * 2);
      chunkNext.set(this.chunkNext);
      this.chunkNext = chunkNext;
    }
    return this.chunksMade++;
  }
}
