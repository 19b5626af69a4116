import type { Trace } from './trace.ts';

/**
 * Device numbers for PartitionProcessor.processNumbered, dense from 0 within each partition. A
 * processor keeps its numbered caches in arrays indexed by number: numbering each partition's
 * devices apart keeps every processor's arrays small and compact (one numbering over all devices
 * would spread each processor's few entries over arrays sized for every device: cache misses).
 *
 * A device whose readings land on several partitions (a trace that says so) is numbered on the
 * first only; on the others `numberOn` answers -1 and the replay passes it by name.
 */
export class DeviceNumbers {
  private readonly number: Int32Array;
  private readonly home: Int32Array;
  /**
   * Per trace entry: its device's number on the entry's partition, or -1. Read in trace order,
   * where looking the device up would reach into per-device arrays at random.
   */
  private readonly numberOfEntry: Int32Array;

  constructor(trace: Trace, partitionOf: Int32Array, partitions: number) {
    const devices = trace.devices.length;
    this.number = new Int32Array(devices);
    this.home = new Int32Array(devices).fill(-1);
    const next = new Int32Array(partitions);
    for (let i = 0; i < trace.length; i++) {
      const device = trace.device[i]!;
      if (this.home[device] !== -1) continue;
      const partition = partitionOf[i]!;
      this.home[device] = partition;
      this.number[device] = next[partition]!++;
    }
    this.numberOfEntry = new Int32Array(trace.length);
    for (let i = 0; i < trace.length; i++) this.numberOfEntry[i] = this.numberOn(trace.device[i]!, partitionOf[i]!);
  }

  /** `numberOn` for trace entry `index` on the partition it was numbered with (the constructor's partitionOf). */
  numberAt(index: number): number {
    return this.numberOfEntry[index]!;
  }

  /** The device's number on `partition`, or -1 when it is numbered on another one. */
  numberOn(device: number, partition: number): number {
    return this.home[device] === partition ? this.number[device]! : -1;
  }
}
