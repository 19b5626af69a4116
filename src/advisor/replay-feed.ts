import type { PartitionProcessor, ProcessorOutput } from '../core/processor.ts';
import type { ReadingRecord } from '../core/readings.ts';
import { DeviceNumbers } from './device-numbers.ts';
import { PartitionedReplayLog } from './replay-log.ts';
import { resolvePartitions, type Trace } from './trace.ts';

/** The replay's tick interval unless one is given (the aggregator's tick, in log time). */
export const DEFAULT_TICK_INTERVAL_MS = 1000;

/** What every replay of a trace shares: each entry's partition, the log split by partition, device numbers. */
export interface PreparedReplay {
  readonly partitionOf: Int32Array;
  readonly log: PartitionedReplayLog;
  readonly numbers: DeviceNumbers;
}

export function prepareReplay(trace: Trace, options: { readonly partitions: number; readonly tickIntervalMs?: number }): PreparedReplay {
  const partitionOf = resolvePartitions(trace, options.partitions);
  return {
    partitionOf,
    log: new PartitionedReplayLog(trace, partitionOf, options.partitions, options.tickIntervalMs ?? DEFAULT_TICK_INTERVAL_MS),
    numbers: new DeviceNumbers(trace, partitionOf, options.partitions),
  };
}

/**
 * The record pool of a replay: the processor keeps no reference to a record, so one object serves
 * every trace entry. Its id stays empty: processors that count only (aggregates 'count') read no id.
 */
export interface PooledReading {
  v: 1;
  tenant: string;
  device: string;
  id: string;
  eventTime: number;
  ingestTime: number;
  metrics: { value: number };
}

export function pooledReading(): PooledReading {
  return { v: 1, tenant: '', device: '', id: '', eventTime: 0, ingestTime: 0, metrics: { value: 1 } };
}

/**
 * Trace entry `index` into `processor` at `offset` through the pooled `record`, by its device
 * number where it has one: the one way a replay feeds a processor (the benchmark's bare peer too).
 */
export function feedReading(
  processor: PartitionProcessor,
  trace: Trace,
  numbers: DeviceNumbers,
  record: PooledReading,
  index: number,
  offset: number,
  out: ProcessorOutput,
): void {
  const device = trace.device[index]!;
  record.tenant = trace.tenants[device]!;
  record.device = trace.devices[device]!;
  record.eventTime = trace.eventTime[index]!;
  record.ingestTime = trace.ingestTime[index]!;
  const number = numbers.numberAt(index);
  if (number >= 0) processor.processNumbered(record as unknown as ReadingRecord, number, offset, out);
  else processor.process(record as unknown as ReadingRecord, offset, out);
}
