import type { AggregateRow } from '../core/rows.ts';
import type { LatencyHistogram } from './stats.ts';
import type { Trace } from './trace.ts';

/**
 * End-to-end latency per reading: from its ingest to the moment the first row that holds it
 * becomes visible. The processor reports rows, not readings, so the replay remembers the readings
 * that open windows hold and settles each with the first row of ITS series and window — a row of
 * its device whose [windowStart, windowEnd) holds its event time. Rows are never matched by the
 * order windows close in: a device whose clock runs ahead has its windows closed before others'
 * ending earlier, one behind after others' ending later (src/core/device-clock.ts), and a sliding
 * window of one series may close before an earlier one of the same series (opened under a larger
 * shift). (Only the bookkeeping lives here; which window a reading joined and when it closes is
 * the processor's decision, read from its output.)
 *
 * Exactness: a held reading's event time lies in every window it joined, and a row of its device
 * whose window holds that time, emitted after the reading came, is of a window it joined —
 * tumbling: the one window, still in the store (a missed reading is not held); sliding: a window
 * it missed was emitted or is closed to the device by then; sessions: the open sessions its gap
 * reaches are merged into the one it joins. test/model/advisor-replay.ts replays readings one by
 * one with the windows read from the processor's snapshot, and test/fuzz/advisor-properties.ts
 * holds this tracker equal to it on generated traces.
 */
export interface ReadingLatencyTracker {
  /**
   * The replay goes on to `partition` (partitions are replayed one after another): readings still
   * held belong to the previous partition's rows, none of which will come out any more.
   */
  startPartition(partition: number): void;
  /**
   * A reading of trace device `device` joined open windows of the current partition: all of its
   * windows but those starting at `missedStarts` (PartitionProcessor.lastMissedWindowStarts).
   */
  held(device: number, eventTime: number, ingestTime: number, missedStarts?: readonly number[]): void;
  /** A window's first emission, visible at `visibleAt`. */
  emitted(row: AggregateRow, visibleAt: number): void;
}

export function createLatencyTracker(trace: Trace, histogram: LatencyHistogram): ReadingLatencyTracker {
  return new DeviceLatency(trace, histogram);
}

/**
 * Readings are kept per device; a row [start, end) settles every held reading of its device
 * stamped in [start, end) and keeps the others (stamped in windows still open). A sliding reading
 * that missed some of its windows carries a ticket to the starts it missed: a row of one of those
 * (opened later by a reading of a device whose clock shift grew) does not hold it.
 *
 * A device's held readings are (event time, ingest time, ticket) triples in chunks of one pool, the chunks
 * linked per device: settling a device reads a few cache lines per 32 readings, where reading the
 * times back from the trace (a device's entries lie thousands apart) costs a cache miss per
 * reading, and sessions hold most readings of a trace until its end.
 */
const CHUNK_READINGS = 32;
const SLOT = 3;
const CHUNK_DOUBLES = CHUNK_READINGS * SLOT;

class DeviceLatency implements ReadingLatencyTracker {
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
  /** Ticket (> 0) → the window starts its reading missed. */
  private readonly missed = new Map<number, readonly number[]>();
  private nextTicket = 1;

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
    this.missed.clear();
  }

  held(device: number, eventTime: number, ingestTime: number, missedStarts?: readonly number[]): void {
    let tail = this.tailChunk[device]!;
    let fill = this.tailFill[device]!;
    if (tail === -1 || fill === CHUNK_READINGS) {
      const chunk = this.takeChunk();
      if (tail === -1) this.headChunk[device] = chunk;
      else this.chunkNext[tail] = chunk;
      this.tailChunk[device] = tail = chunk;
      fill = 0;
    }
    let ticket = 0;
    if (missedStarts !== undefined && missedStarts.length > 0) {
      ticket = this.nextTicket++;
      this.missed.set(ticket, [...missedStarts]);
    }
    const at = tail * CHUNK_DOUBLES + fill * SLOT;
    this.pool[at] = eventTime;
    this.pool[at + 1] = ingestTime;
    this.pool[at + 2] = ticket;
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
    const start = row.windowStart;
    const end = row.windowEnd;
    // Readings kept (stamped outside [start, end)) are moved forward in place: the write position never passes the read one.
    let keptChunk = head;
    let keptFill = 0;
    for (let chunk = head; chunk !== -1; chunk = chunk === tail ? -1 : chunkNext[chunk]!) {
      const base = chunk * CHUNK_DOUBLES;
      const fill = chunk === tail ? tailFill : CHUNK_READINGS;
      for (let k = 0; k < fill; k++) {
        const eventTime = pool[base + SLOT * k]!;
        const ingestTime = pool[base + SLOT * k + 1]!;
        const ticket = pool[base + SLOT * k + 2]!;
        if (eventTime >= start && eventTime < end && (ticket === 0 || !this.missed.get(ticket)!.includes(start))) {
          histogram.record(visibleAt - ingestTime);
          if (ticket !== 0) this.missed.delete(ticket);
          continue;
        }
        if (keptFill === CHUNK_READINGS) {
          keptChunk = chunkNext[keptChunk]!;
          keptFill = 0;
        }
        const at = keptChunk * CHUNK_DOUBLES + keptFill * SLOT;
        pool[at] = eventTime;
        pool[at + 1] = ingestTime;
        pool[at + 2] = ticket;
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
