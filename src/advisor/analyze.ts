import { logHistogram, median, quantileSorted, summarizeSorted, type DistributionSummary, type HistogramBin } from './stats.ts';
import { resolvePartitions, type Trace } from './trace.ts';

/**
 * Arrival-delay analysis of a trace: delay = ingest time − event time, overall, per partition,
 * for the worst devices, and over time; plus devices whose clocks look wrong.
 *
 * Clock skew: a device is flagged AHEAD when its median delay is below −aheadToleranceMs (its
 * readings are stamped in the future, consistently), and BEHIND when its median delay exceeds
 * behindThresholdMs (default: the larger of 5 minutes and 10 × the P99 of the typical device — the
 * median over devices of their P99, which a minority of skewed devices cannot move). A gateway
 * that was offline for a while raises the tail of its devices, not their median: not flagged.
 */
export interface AnalysisOptions {
  readonly partitions: number;
  /** How many devices to list as the worst (by P99 delay). */
  readonly worstDevices?: number;
  /** Number of ingest-time buckets of the drift table. */
  readonly driftBuckets?: number;
  readonly aheadToleranceMs?: number;
  readonly behindThresholdMs?: number;
  /** Devices need this many readings to be ranked or flagged. */
  readonly minDeviceReadings?: number;
}

export interface DeviceDelay {
  readonly tenant: string;
  readonly device: string;
  readonly partition: number;
  readonly summary: DistributionSummary;
  /** Share of the device's readings stamped ahead of their ingest time. */
  readonly negativeShare: number;
}

export interface SkewedDevice extends DeviceDelay {
  readonly clock: 'ahead' | 'behind';
}

export interface DriftBucket {
  readonly from: number;
  readonly to: number;
  readonly count: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export interface DelayAnalysis {
  readonly readings: number;
  readonly devices: number;
  readonly firstIngest: number;
  readonly lastIngest: number;
  readonly overall: DistributionSummary;
  /** Readings stamped ahead of their ingest time (negative delay). */
  readonly negative: number;
  readonly histogram: HistogramBin[];
  readonly perPartition: ReadonlyArray<{ readonly partition: number; readonly summary: DistributionSummary }>;
  readonly worstDevices: readonly DeviceDelay[];
  readonly drift: readonly DriftBucket[];
  /** P95 of the last drift bucket minus that of the first (ms): how far the delay moved. */
  readonly driftP95Ms: number;
  readonly skewedDevices: readonly SkewedDevice[];
  readonly behindThresholdMs: number;
  readonly aheadToleranceMs: number;
}

export function analyzeDelays(trace: Trace, options: AnalysisOptions): DelayAnalysis {
  const n = trace.length;
  const partitionOf = resolvePartitions(trace, options.partitions);
  const delays = new Float64Array(n);
  for (let i = 0; i < n; i++) delays[i] = trace.ingestTime[i]! - trace.eventTime[i]!;

  const sorted = Float64Array.from(delays).sort();
  const overall = summarizeSorted(sorted);
  let negative = 0;
  while (negative < n && sorted[negative]! < 0) negative++;

  const perPartition = groupSummaries(delays, partitionOf, options.partitions).map((summary, partition) => ({ partition, summary }));
  const devicePartition = new Int32Array(trace.devices.length);
  for (let i = 0; i < n; i++) devicePartition[trace.device[i]!] = partitionOf[i]!;
  const deviceSummaries = groupSummaries(delays, trace.device, trace.devices.length);
  const deviceNegatives = new Float64Array(trace.devices.length);
  for (let i = 0; i < n; i++) if (delays[i]! < 0) deviceNegatives[trace.device[i]!]!++;

  const minReadings = options.minDeviceReadings ?? 5;
  const aheadToleranceMs = options.aheadToleranceMs ?? 1000;
  const devices: DeviceDelay[] = [];
  deviceSummaries.forEach((summary, d) => {
    if (summary.count < minReadings) return;
    devices.push({
      tenant: trace.tenants[d]!,
      device: trace.devices[d]!,
      partition: devicePartition[d]!,
      summary,
      negativeShare: deviceNegatives[d]! / summary.count,
    });
  });
  const typicalP99 = median(devices.map((device) => device.summary.p99));
  const behindThresholdMs = options.behindThresholdMs ?? Math.max(5 * 60_000, 10 * (Number.isFinite(typicalP99) ? typicalP99 : 0));
  const skewedDevices: SkewedDevice[] = [];
  for (const device of devices) {
    if (device.summary.p50 < -aheadToleranceMs) skewedDevices.push({ ...device, clock: 'ahead' });
    else if (device.summary.p50 > behindThresholdMs) skewedDevices.push({ ...device, clock: 'behind' });
  }
  skewedDevices.sort((a, b) => Math.abs(b.summary.p50) - Math.abs(a.summary.p50));
  // The worst devices by P99 among those with plausible clocks: a skewed clock is its own finding.
  const skewed = new Set(skewedDevices.map((device) => device.device + '\u0000' + device.tenant));
  const worstDevices = devices
    .filter((device) => !skewed.has(device.device + '\u0000' + device.tenant))
    .sort((a, b) => b.summary.p99 - a.summary.p99 || b.summary.max - a.summary.max)
    .slice(0, options.worstDevices ?? 10);

  const drift = driftBuckets(trace, delays, options.driftBuckets ?? 12);
  const firstDrift = drift[0];
  const lastDrift = drift[drift.length - 1];
  return {
    readings: n,
    devices: trace.devices.length,
    firstIngest: n === 0 ? Number.NaN : trace.ingestTime[0]!,
    lastIngest: n === 0 ? Number.NaN : trace.ingestTime[n - 1]!,
    overall,
    negative,
    histogram: logHistogram(sorted),
    perPartition,
    worstDevices,
    drift,
    driftP95Ms: firstDrift && lastDrift ? lastDrift.p95 - firstDrift.p95 : 0,
    skewedDevices,
    behindThresholdMs,
    aheadToleranceMs,
  };
}

/**
 * Exact summaries of the delays grouped by `group[i]` (0 .. groups−1): a counting sort into one
 * array, then a native sort of each group's slice.
 */
function groupSummaries(delays: Float64Array, group: ArrayLike<number>, groups: number): DistributionSummary[] {
  const n = delays.length;
  const start = new Float64Array(groups + 1);
  for (let i = 0; i < n; i++) start[group[i]! + 1]!++;
  for (let g = 0; g < groups; g++) start[g + 1]! += start[g]!;
  const cursor = Float64Array.from(start);
  const grouped = new Float64Array(n);
  for (let i = 0; i < n; i++) grouped[cursor[group[i]!]!++] = delays[i]!;
  const out: DistributionSummary[] = [];
  for (let g = 0; g < groups; g++) out.push(summarizeSorted(grouped.subarray(start[g]!, start[g + 1]!).sort()));
  return out;
}

/** Exact P50/P95/P99 per equal slice of ingest time (the trace is sorted by ingest time). */
function driftBuckets(trace: Trace, delays: Float64Array, buckets: number): DriftBucket[] {
  const n = trace.length;
  if (n === 0) return [];
  const first = trace.ingestTime[0]!;
  const last = trace.ingestTime[n - 1]!;
  const width = Math.max(1, Math.ceil((last - first + 1) / buckets));
  const out: DriftBucket[] = [];
  let i = 0;
  for (let from = first; from <= last; from += width) {
    const to = from + width;
    const begin = i;
    while (i < n && trace.ingestTime[i]! < to) i++;
    if (i === begin) continue;
    const slice = Float64Array.from(delays.subarray(begin, i)).sort();
    out.push({ from, to, count: i - begin, p50: quantileSorted(slice, 0.5), p95: quantileSorted(slice, 0.95), p99: quantileSorted(slice, 0.99) });
  }
  return out;
}
