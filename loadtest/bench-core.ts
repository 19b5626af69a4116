/**
 * Micro-benchmark of the pure aggregation core: how many readings per second one
 * PartitionProcessor replays on one core (what the what-if simulator depends on).
 *
 *   node --import tsx loadtest/bench-core.ts [--readings 2000000] [--devices 10000] [--size 5000]
 *        [--window tumbling|sliding|session] [--watermark adaptive|fixed] [--rounds 3]
 *
 * Every device reads once per second, so --devices also sets how many series are live and how
 * many readings a window holds (size / 1 s); the per-reading cost is mostly cache misses and
 * grows with the number of live series. Records are generated (seeded) in small chunks between
 * timed sections, so only processing is timed and the live heap stays small (as in a streaming
 * replay). Prints machine info, one line per round, and a final JSON line {"bench":"core",...}
 * for the best round. Two rates: wall clock, and per CPU-second of the whole process (GC helper
 * threads included) — the second is the honest one on a shared machine.
 */
import { cpus, totalmem } from 'node:os';
import { PartitionProcessor, type ProcessorOutput, type ProcessorSpec } from '../src/core/processor.ts';
import type { ReadingRecord } from '../src/core/readings.ts';
import type { WindowSpec } from '../src/core/windows.ts';
import type { WatermarkSpec } from '../src/core/watermarks.ts';
import { mulberry32 } from '../src/util/random.ts';
import { parseCommandLine } from '../src/util/args.ts';

const OPTIONS = {
  readings: { type: 'string', default: '2000000' },
  devices: { type: 'string', default: '10000' },
  window: { type: 'string', default: 'tumbling' },
  watermark: { type: 'string', default: 'adaptive' },
  rounds: { type: 'string', default: '3' },
  size: { type: 'string', default: '5000' },
} as const;
const values = parseCommandLine('bench-core', process.argv.slice(2), OPTIONS);

const readingCount = Number(values.readings);
const deviceCount = Number(values.devices);
const windowKind = values.window;
const watermarkKind = values.watermark;
const rounds = Number(values.rounds);

const windows: Record<string, WindowSpec> = {
  tumbling: { kind: 'tumbling', sizeMs: Number(values.size) },
  sliding: { kind: 'sliding', sizeMs: 10_000, slideMs: 5000 },
  session: { kind: 'session', gapMs: 3000 },
};
const watermarks: Record<string, WatermarkSpec> = {
  adaptive: { kind: 'adaptive', quantile: 0.99, marginMs: 500, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 },
  fixed: { kind: 'fixed', delayMs: 2000 },
};
const window = windows[windowKind];
const sizeMs = window?.kind === 'tumbling' ? window.sizeMs : undefined;
const watermark = watermarks[watermarkKind];
if (!window || !watermark) throw new Error(`unknown --window ${windowKind} or --watermark ${watermarkKind}`);

const spec: ProcessorSpec = {
  pipeline: 'bench',
  partition: 0,
  window,
  watermark,
  latePolicy: { kind: 'reemit', allowedLatenessMs: 10_000 },
  idleTimeoutMs: 5000,
};

const CHUNK = 16_384;
const START = 1_700_000_000_000;
const devices = Array.from({ length: deviceCount }, (_, index) => `dev-${index}`);
const stepMs = 1000 / deviceCount;

/**
 * Every device reads once per second; arrival delays are mostly 50–1500 ms with a 1 % tail up
 * to 8 s; 1 % of readings are redelivered (duplicates). Ingest order = record order.
 */
function generate(random: () => number, from: number, into: ReadingRecord[]): void {
  into.length = 0;
  const to = Math.min(readingCount, from + CHUNK);
  for (let i = from; i < to; i++) {
    const ingestTime = Math.floor(START + i * stepMs);
    const delay = random() < 0.01 ? 1500 + random() * 6500 : 50 + random() * 1450;
    const duplicate = i > deviceCount && random() < 0.01;
    const seq = Math.floor(i / deviceCount) - (duplicate ? 1 : 0);
    into.push({
      v: 1,
      tenant: 'acme',
      device: devices[i % deviceCount]!,
      id: `${seq}`,
      eventTime: Math.floor(ingestTime - delay),
      ingestTime,
      metrics: { temperature: 20 + random() * 5 },
    });
  }
}

let rows = 0;
let late = 0;
const out: ProcessorOutput = {
  emitRow: () => {
    rows++;
  },
  emitLate: () => {
    late++;
  },
};

console.log(`node ${process.version}, ${cpus()[0]?.model ?? 'cpu?'} x${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB`);
console.log(`window=${windowKind} watermark=${watermarkKind} readings=${readingCount} devices=${deviceCount}`);

// Wall-clock rate of the best round; the CPU-time rate shows how much other load on the machine cost.
let best = 0;
let bestCpu = 0;
let last: PartitionProcessor | undefined;
for (let round = 1; round <= rounds; round++) {
  rows = 0;
  late = 0;
  const processor = new PartitionProcessor(spec);
  const random = mulberry32(42);
  const chunk: ReadingRecord[] = [];
  let seconds = 0;
  let cpuSeconds = 0;
  for (let from = 0; from < readingCount; from += CHUNK) {
    generate(random, from, chunk);
    const begin = process.hrtime.bigint();
    const cpuBegin = process.cpuUsage();
    for (let i = 0; i < chunk.length; i++) processor.process(chunk[i]!, from + i, out);
    if (from + CHUNK >= readingCount) processor.flushAll(out);
    const cpu = process.cpuUsage(cpuBegin);
    cpuSeconds += (cpu.user + cpu.system) / 1e6;
    seconds += Number(process.hrtime.bigint() - begin) / 1e9;
  }
  const rate = readingCount / seconds;
  const cpuRate = readingCount / cpuSeconds;
  if (rate > best) {
    best = rate;
    bestCpu = cpuRate;
  }
  last = processor;
  console.log(
    `round ${round}: ${(rate / 1e6).toFixed(2)} M readings/s wall, ${(cpuRate / 1e6).toFixed(2)} M/s per CPU-second ` +
      `(${seconds.toFixed(3)} s, ${rows} rows)`,
  );
}

const stats = last!.stats;
console.log(
  JSON.stringify({
    bench: 'core',
    window: windowKind,
    sizeMs,
    watermark: watermarkKind,
    readings: readingCount,
    late,
    devices: deviceCount,
    readingsPerSecond: Math.round(best),
    readingsPerCpuSecond: Math.round(bestCpu),
    rows,
    duplicates: stats.duplicates,
    lateAbsorbed: stats.lateAbsorbed,
    lateDropped: stats.lateDropped,
    heapUsedMb: Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  }),
);
