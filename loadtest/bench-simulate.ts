/**
 * `npm run bench:simulate [-- --readings 10000000 --devices 10000 --kind step]`: the what-if
 * simulator's replay rate. Generates a seeded trace into typed arrays (no object per reading),
 * replays it through 20 candidate configurations — each a fresh set of PartitionProcessors, one
 * per partition, fed from one pooled record object — and ends with one JSON line:
 *   {"bench":"simulate","readings":…,"configs":…,"readings_per_s_per_config":…,"rss_mb":…}
 * readings_per_s_per_config = readings × configs ÷ total replay time (wall clock; the CPU-time
 * rate is printed beside it, since other load on the machine slows the wall clock only).
 *
 * Its peer in the same run, before the replays: one configuration (`--peer`, default the first)
 * through a bare loop — the same log, the same processors used the same way (count-only
 * aggregates, devices by number, one partition after another), a pooled record, no measurement.
 * simulator_vs_processor_only (CPU-second rates) shows the simulator's own overhead; the rest of
 * the cost is the core's.
 */
import { parseArgs } from 'node:util';
import { cpus, totalmem, loadavg } from 'node:os';
import type { Candidate } from '../src/advisor/candidates.ts';
import { feedReading, pooledReading, prepareReplay, simulateAll } from '../src/advisor/simulate.ts';
import type { Trace } from '../src/advisor/trace.ts';
import { DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS } from '../src/core/device-clock.ts';
import { PartitionProcessor, type ProcessorOutput } from '../src/core/processor.ts';
import type { TickRecord } from '../src/core/readings.ts';
import { TRACE_KINDS, generateTrace, type TraceKind } from '../src/advisor/traces.ts';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '10000000' },
    devices: { type: 'string', default: '10000' },
    kind: { type: 'string', default: 'step' },
    partitions: { type: 'string', default: '12' },
    configs: { type: 'string', default: '20' },
    peer: { type: 'string', default: '1' },
    /** Comma-separated 1-based configuration numbers of the grid (default: the first --configs). */
    only: { type: 'string', default: '' },
  },
});
const readings = Number(args.readings);
const devices = Number(args.devices);
const partitions = Number(args.partitions);
const kind = args.kind as TraceKind;
if (!TRACE_KINDS.includes(kind)) throw new Error(`--kind must be one of ${TRACE_KINDS.join(', ')}`);
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const adaptive = (quantile: number, marginMs = 500) =>
  ({ kind: 'adaptive', quantile, marginMs, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 }) as const;
const fixed = (delayMs: number) => ({ kind: 'fixed', delayMs }) as const;
const tumbling = (sizeMs: number) => ({ kind: 'tumbling', sizeMs }) as const;
const GRID: Array<[Candidate['window'], Candidate['watermark']]> = [
  ...[fixed(500), fixed(1000), fixed(2000), fixed(5000), fixed(10_000), adaptive(0.99), adaptive(0.999)].map((w) => [tumbling(5000), w] as [Candidate['window'], Candidate['watermark']]),
  ...[fixed(1000), fixed(2000), fixed(5000), adaptive(0.9), adaptive(0.99), adaptive(0.999)].map((w) => [tumbling(10_000), w] as [Candidate['window'], Candidate['watermark']]),
  ...[fixed(1000), fixed(5000), adaptive(0.99)].map((w) => [tumbling(60_000), w] as [Candidate['window'], Candidate['watermark']]),
  [{ kind: 'sliding', sizeMs: 60_000, slideMs: 10_000 }, fixed(2000)],
  [{ kind: 'sliding', sizeMs: 60_000, slideMs: 10_000 }, adaptive(0.99)],
  [{ kind: 'session', gapMs: 30_000 }, fixed(2000)],
  [{ kind: 'session', gapMs: 30_000 }, adaptive(0.99)],
];
const chosen = args.only === '' ? GRID.slice(0, Number(args.configs)) : args.only.split(',').map((n) => GRID[Number(n) - 1]!);
const candidates: Candidate[] = chosen.map(([window, watermark]) => ({
  window,
  watermark,
  latePolicy: { kind: 'drop' },
  idleTimeoutMs: 5000,
  maxDeviceClockOffsetMs: DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS,
}));

say(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, load ${loadavg()[0]!.toFixed(2)}`);
const generateStart = performance.now();
const generated = generateTrace({ kind, readings, devices, seed: 1 });
const generateSeconds = (performance.now() - generateStart) / 1000;
say(`trace: ${readings} readings, ${devices} devices, ${generated.description}; generated and sorted in ${generateSeconds.toFixed(1)} s`);

/** One configuration through the processors with nothing measured: the core's own rate (per CPU-second). */
function processorOnly(trace: Trace, candidate: Candidate): number {
  const { log, numbers } = prepareReplay(trace, { partitions });
  const processors = Array.from(
    { length: partitions },
    (_, partition) => new PartitionProcessor({ pipeline: 'bare', partition, ...candidate, aggregates: 'count' }),
  );
  const record = pooledReading();
  const tick = { v: 1, tick: true, ingestTime: 0, source: 'bench' };
  const out: ProcessorOutput = { emitRow: () => undefined, emitLate: () => undefined };
  const cpuStart = process.cpuUsage();
  for (let partition = 0; partition < partitions; partition++) {
    const processor = processors[partition]!;
    let offset = 0;
    log.walkPartition(partition, {
      reading: (index) => feedReading(processor, trace, numbers, record, index, offset++, out),
      tick: (time) => {
        tick.ingestTime = time;
        processor.process(tick as unknown as TickRecord, offset++, out);
      },
    });
  }
  const cpu = process.cpuUsage(cpuStart);
  return trace.length / ((cpu.user + cpu.system) / 1e6);
}
const peerIndex = Number(args.peer) - 1;
const bareRate = processorOnly(generated.trace, candidates[peerIndex]!);
say(`peer: configuration ${peerIndex + 1} through the bare processors (no measurement): ${(bareRate / 1e6).toFixed(2)} M readings/CPU-s`);


let wallMs = 0;
let cpuMs = 0;
const rates: number[] = [];
const cpuRates: number[] = [];
const replayStart = performance.now();
simulateAll(generated.trace, candidates, { partitions }, (result, index) => {
  wallMs += result.wallMs;
  cpuMs += result.cpuMs;
  const rate = readings / (result.wallMs / 1000);
  rates.push(rate);
  cpuRates.push(readings / (result.cpuMs / 1000));
  say(
    `[${String(index + 1).padStart(2)}/${candidates.length}] ${result.label.padEnd(46)} ${(rate / 1e6).toFixed(2)} M readings/s ` +
      `(${(readings / result.cpuMs / 1000).toFixed(2)} M/CPU-s), complete ${(result.completeness * 100).toFixed(3)} %, ` +
      `P95 ${(result.endToEndLatency.p95 / 1000).toFixed(1)} s, ${result.peakOpenWindows} open windows, ${Math.round(result.peakStateBytes / 2 ** 20)} MiB state`,
  );
});

// The log split by partition and the device numbers are built once per trace, outside each replay's time.
const prepareSeconds = (performance.now() - replayStart - wallMs) / 1000;
say(`shared preparation of the trace (partitions, log, device numbers): ${prepareSeconds.toFixed(1)} s, once for all configurations`);
const rssMb = Math.round(process.resourceUsage().maxRSS / 1024);
say(
  JSON.stringify({
    bench: 'simulate',
    readings,
    configs: candidates.length,
    readings_per_s_per_config: Math.round((readings * candidates.length) / (wallMs / 1000)),
    readings_per_cpu_s_per_config: Math.round((readings * candidates.length) / (cpuMs / 1000)),
    slowest_config_per_s: Math.round(Math.min(...rates)),
    fastest_config_per_s: Math.round(Math.max(...rates)),
    processor_only_per_cpu_s: Math.round(bareRate),
    simulator_vs_processor_only: Math.round((cpuRates[peerIndex]! / bareRate) * 100) / 100,
    partitions,
    devices,
    kind,
    generate_s: Math.round(generateSeconds * 10) / 10,
    prepare_s: Math.round(prepareSeconds * 10) / 10,
    rss_mb: rssMb,
  }),
);
