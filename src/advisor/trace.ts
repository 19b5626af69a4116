import { PipelineError } from '../core/errors.ts';
import { partitionForKey } from './partitioner.ts';

/**
 * An arrival trace: one entry per reading as it reached the readings topic — when the device
 * measured it (event time), when the bridge received it (ingest time), which device sent it and
 * on which partition it landed. Columnar typed arrays, so that ten million readings cost ~220 MB
 * rather than ten million objects. Entries are sorted by ingest time (ties keep input order):
 * the replay is a walk through the trace in the order the aggregator would have seen it.
 *
 * Times are integer epoch milliseconds (fractions are floored when a trace is built).
 */
export interface Trace {
  readonly length: number;
  readonly eventTime: Float64Array;
  readonly ingestTime: Float64Array;
  /** Index into `devices`. */
  readonly device: Uint32Array;
  /** Kafka partition, or -1 when the source did not say (the replay then hashes the device). */
  readonly partition: Int32Array;
  /** Device names by index; `tenants[i]` is device i's tenant. */
  readonly devices: readonly string[];
  readonly tenants: readonly string[];
}

export const DEFAULT_TENANT = 'trace';

export class TraceError extends PipelineError {
  constructor(message: string, context: Record<string, string | number> = {}) {
    super('ADVISOR_TRACE_INVALID', message, { retriable: false, context });
    this.name = 'TraceError';
  }
}

/**
 * Accumulates entries in arrival order and builds a sorted trace. Devices are interned by
 * (tenant, device), so a repeated device name costs one map lookup and no string.
 */
export class TraceBuilder {
  private size = 0;
  private eventTime: Float64Array;
  private ingestTime: Float64Array;
  private device: Uint32Array;
  private partition: Int32Array;
  private readonly deviceIndex = new Map<string, Map<string, number>>();
  private readonly devices: string[] = [];
  private readonly tenants: string[] = [];

  constructor(expected = 1024) {
    const capacity = Math.max(16, expected);
    this.eventTime = new Float64Array(capacity);
    this.ingestTime = new Float64Array(capacity);
    this.device = new Uint32Array(capacity);
    this.partition = new Int32Array(capacity);
  }

  get length(): number {
    return this.size;
  }

  deviceId(device: string, tenant: string = DEFAULT_TENANT): number {
    let byDevice = this.deviceIndex.get(tenant);
    if (byDevice === undefined) {
      byDevice = new Map();
      this.deviceIndex.set(tenant, byDevice);
    }
    let id = byDevice.get(device);
    if (id === undefined) {
      id = this.devices.length;
      byDevice.set(device, id);
      this.devices.push(device);
      this.tenants.push(tenant);
    }
    return id;
  }

  /** Adds one arrival; `partition` -1 means unknown. */
  add(eventTime: number, ingestTime: number, deviceId: number, partition = -1): void {
    if (!Number.isFinite(eventTime) || !Number.isFinite(ingestTime)) {
      throw new TraceError(`entry ${this.size} has a non-finite time (eventTime ${eventTime}, ingestTime ${ingestTime})`, { entry: this.size });
    }
    if (this.size === this.eventTime.length) this.grow();
    const i = this.size++;
    this.eventTime[i] = Math.floor(eventTime);
    this.ingestTime[i] = Math.floor(ingestTime);
    this.device[i] = deviceId;
    this.partition[i] = partition;
  }

  build(): Trace {
    const n = this.size;
    return sortByIngest({
      length: n,
      eventTime: this.eventTime.subarray(0, n),
      ingestTime: this.ingestTime.subarray(0, n),
      device: this.device.subarray(0, n),
      partition: this.partition.subarray(0, n),
      devices: this.devices,
      tenants: this.tenants,
    });
  }

  private grow(): void {
    const capacity = this.eventTime.length * 2;
    const eventTime = new Float64Array(capacity);
    eventTime.set(this.eventTime);
    const ingestTime = new Float64Array(capacity);
    ingestTime.set(this.ingestTime);
    const device = new Uint32Array(capacity);
    device.set(this.device);
    const partition = new Int32Array(capacity);
    partition.set(this.partition);
    this.eventTime = eventTime;
    this.ingestTime = ingestTime;
    this.device = device;
    this.partition = partition;
  }
}

/**
 * Sorts the trace by ingest time, stably, IN PLACE (its arrays are permuted) and returns it.
 * Fast path: pack (ingest − first ingest, entry index) into one exact double and let the
 * typed-array sort (no comparator) order them; the key array then serves as the scratch space of
 * the permutation, so ten million entries need 120 MB on top of the trace. A trace whose span does
 * not fit the packing falls back to sorting an index with a comparator.
 */
export function sortByIngest(trace: Trace): Trace {
  const n = trace.length;
  const ingest = trace.ingestTime;
  let sorted = true;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const t = ingest[i]!;
    if (i > 0 && t < ingest[i - 1]!) sorted = false;
    if (t < min) min = t;
    if (t > max) max = t;
  }
  if (sorted) return trace;
  const { order, scratch } = sortedOrder(ingest, min, max);
  permute(trace.eventTime, order, scratch);
  permute(trace.ingestTime, order, scratch);
  permute(trace.device, order, new Uint32Array(scratch.buffer, scratch.byteOffset, n));
  permute(trace.partition, order, new Int32Array(scratch.buffer, scratch.byteOffset, n));
  return trace;
}

function permute<T extends Float64Array | Uint32Array | Int32Array>(column: T, order: Uint32Array, scratch: T): void {
  const n = order.length;
  for (let i = 0; i < n; i++) scratch[i] = column[order[i]!]!;
  column.set(scratch.subarray(0, n));
}

function sortedOrder(ingest: Float64Array, min: number, max: number): { order: Uint32Array; scratch: Float64Array } {
  const n = ingest.length;
  const indexBits = Math.max(1, Math.ceil(Math.log2(n + 1)));
  const order = new Uint32Array(n);
  const keys = new Float64Array(n);
  if (max - min < 2 ** (53 - indexBits)) {
    const scale = 2 ** indexBits;
    for (let i = 0; i < n; i++) keys[i] = (ingest[i]! - min) * scale + i;
    keys.sort();
    for (let i = 0; i < n; i++) order[i] = keys[i]! % scale;
    return { order, scratch: keys };
  }
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => ingest[a]! - ingest[b]! || a - b);
  return { order, scratch: keys };
}

/** Partition of each entry: the recorded one, else the Kafka default partitioner's choice for the device key. */
export function resolvePartitions(trace: Trace, partitions: number): Int32Array {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new TraceError(`partition count ${partitions} must be a positive integer`, { partitions });
  }
  const byDevice = new Int32Array(trace.devices.length);
  for (let d = 0; d < byDevice.length; d++) byDevice[d] = partitionForKey(trace.devices[d]!, partitions);
  const out = new Int32Array(trace.length);
  for (let i = 0; i < trace.length; i++) {
    const recorded = trace.partition[i]!;
    out[i] = recorded >= 0 && recorded < partitions ? recorded : byDevice[trace.device[i]!]!;
  }
  return out;
}

/** How many partitions the trace itself records (max + 1), or 0 when it records none. */
export function recordedPartitionCount(trace: Trace): number {
  let max = -1;
  for (let i = 0; i < trace.length; i++) if (trace.partition[i]! > max) max = trace.partition[i]!;
  return max + 1;
}

/** Delays (ingest − event) of every entry, in trace order. */
export function delaysOf(trace: Trace): Float64Array {
  const out = new Float64Array(trace.length);
  for (let i = 0; i < trace.length; i++) out[i] = trace.ingestTime[i]! - trace.eventTime[i]!;
  return out;
}

/** A contiguous slice of the trace (still sorted), sharing its arrays. */
export function sliceTrace(trace: Trace, from: number, to: number): Trace {
  return {
    length: to - from,
    eventTime: trace.eventTime.subarray(from, to),
    ingestTime: trace.ingestTime.subarray(from, to),
    device: trace.device.subarray(from, to),
    partition: trace.partition.subarray(from, to),
    devices: trace.devices,
    tenants: trace.tenants,
  };
}
