import type { ReadingRecord } from '../../src/core/readings.ts';
import { mulberry32 } from '../../src/util/random.ts';

export { mulberry32 };

/**
 * A generated, seeded data set of readings with what a correct pipeline must make of it: devices
 * that send every 500 ms with random network delay (so arrival order differs from event order),
 * a pause in the middle (two sessions per device), duplicate deliveries of the same id, and a few
 * readings that arrive 20 s late. Values are multiples of 1/4 so that sums are exact in floating
 * point whatever the order of addition.
 */
export interface Dataset {
  /** Records in arrival (ingest) order; duplicates included. */
  readonly arrivals: ReadingRecord[];
  /** Distinct readings (one per id). */
  readonly distinct: ReadingRecord[];
  readonly firstEventTime: number;
  readonly lastIngestTime: number;
}

export interface DatasetOptions {
  readonly seed?: number;
  readonly devices?: number;
  readonly tenant?: string;
  /** Event time of the first reading; aligned to a minute so that windows line up. */
  readonly start?: number;
}

export function generateDataset(options: DatasetOptions = {}): Dataset {
  const random = mulberry32(options.seed ?? 42);
  const devices = options.devices ?? 60;
  const tenant = options.tenant ?? 'acme';
  const start = options.start ?? Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000;
  const distinct: ReadingRecord[] = [];
  const arrivals: { record: ReadingRecord; arrival: number }[] = [];
  for (let d = 0; d < devices; d++) {
    const device = `dev-${String(d).padStart(4, '0')}`;
    const offset = Math.floor(random() * 500);
    let seq = 0;
    // 0–15 s, a 5 s pause, then 20–40 s: two sessions with a 2 s gap.
    for (let t = offset; t < 40_000; t += 500) {
      if (t >= 15_000 && t < 20_000) continue;
      seq++;
      const eventTime = start + t;
      const inMiddleOfSession = (t > 2_000 && t < 13_000) || (t > 22_000 && t < 38_000);
      const veryLate = inMiddleOfSession && random() < 0.01;
      const delay = veryLate ? 20_000 : 100 + Math.floor(random() * 1400);
      const metrics: Record<string, number> = { temperature: Math.round((15 + random() * 10) * 4) / 4 };
      // Humidity is sparse, so its sessions have real gaps; a very late reading carries only the dense
      // temperature, because a late reading that bridged two emitted sessions could not be merged
      // (the row key is the session start) and is handled by the late policy instead.
      if (random() < 0.5 && !veryLate) metrics['humidity'] = Math.round((30 + random() * 40) * 4) / 4;
      const record: ReadingRecord = { v: 1, tenant, device, id: `${device}:${seq}`, eventTime, ingestTime: eventTime + delay, metrics };
      distinct.push(record);
      arrivals.push({ record, arrival: record.ingestTime });
      if (random() < 0.05) {
        const again = record.ingestTime + 200 + Math.floor(random() * 2000);
        arrivals.push({ record: { ...record, ingestTime: again }, arrival: again });
      }
    }
  }
  arrivals.sort((a, b) => a.arrival - b.arrival || (a.record.id < b.record.id ? -1 : 1));
  return {
    arrivals: arrivals.map((entry) => entry.record),
    distinct,
    firstEventTime: start,
    lastIngestTime: arrivals[arrivals.length - 1]!.arrival,
  };
}

/** The expected aggregate row of a window, as the tables show it (the fields that are exact). */
export interface ExpectedRow {
  device: string;
  metric: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  sum: number;
  min: number;
  max: number;
}

/** Naive reference aggregation, written independently of the core: group, then reduce. */
export function expectedRows(
  readings: readonly ReadingRecord[],
  window: { kind: 'tumbling'; sizeMs: number } | { kind: 'sliding'; sizeMs: number; slideMs: number } | { kind: 'session'; gapMs: number },
): ExpectedRow[] {
  const groups = new Map<string, { device: string; metric: string; start: number; end: number; values: number[] }>();
  const add = (device: string, metric: string, start: number, end: number, value: number): void => {
    const key = `${device}|${metric}|${start}`;
    const group = groups.get(key) ?? { device, metric, start, end, values: [] };
    group.values.push(value);
    group.end = Math.max(group.end, end);
    groups.set(key, group);
  };
  if (window.kind === 'session') {
    const series = new Map<string, { time: number; value: number }[]>();
    for (const reading of readings) {
      for (const [metric, value] of Object.entries(reading.metrics)) {
        const key = `${reading.device}|${metric}`;
        (series.get(key) ?? series.set(key, []).get(key)!).push({ time: reading.eventTime, value });
      }
    }
    for (const [key, points] of series) {
      const [device, metric] = key.split('|') as [string, string];
      points.sort((a, b) => a.time - b.time);
      let sessionStart = points[0]!.time;
      let previous = points[0]!.time;
      for (const point of points) {
        if (point.time - previous >= window.gapMs) sessionStart = point.time;
        add(device, metric, sessionStart, point.time + window.gapMs, point.value);
        previous = point.time;
      }
    }
  } else {
    const size = window.sizeMs;
    const slide = window.kind === 'sliding' ? window.slideMs : size;
    for (const reading of readings) {
      for (const [metric, value] of Object.entries(reading.metrics)) {
        const lastStart = Math.floor(reading.eventTime / slide) * slide;
        for (let start = lastStart; start > reading.eventTime - size; start -= slide) add(reading.device, metric, start, start + size, value);
      }
    }
  }
  return [...groups.values()]
    .map((group) => ({
      device: group.device,
      metric: group.metric,
      windowStart: group.start,
      windowEnd: group.end,
      count: group.values.length,
      sum: group.values.reduce((a, b) => a + b, 0),
      min: Math.min(...group.values),
      max: Math.max(...group.values),
    }))
    .sort(compareRows);
}

export function compareRows(a: ExpectedRow, b: ExpectedRow): number {
  return a.device.localeCompare(b.device) || a.metric.localeCompare(b.metric) || a.windowStart - b.windowStart;
}
