/**
 * `npm run bench:aggregator [-- --readings N --devices D --instances I]`: fills a fresh topic with N
 * readings (10,000 devices, log-normal arrival delays, so event order differs from arrival order),
 * then in the same run measures (1) one bare consumer draining the topic and (2) the aggregator
 * service (a real child process with I workers — default: the service's own default, one per core —
 * exactly-once, 5 s tumbling windows, raw readings on) processing it into ClickHouse, then (1)
 * again: baseline_per_s is the mean of the bare consumer before and after. The bare consumer uses
 * the library's own consume(); baseline_batch_per_s, one more pass after, is a bare consumer on
 * the batch consume the aggregator reads with (loadtest/support/bare-consumer.ts).
 * Ends with one JSON line:
 *   {"bench":"aggregator","instances":…,"readings_per_s":…,"baseline_per_s":…,"ratio":…,"baseline_batch_per_s":…,"cpu_us_per_reading":…,"clickhouse_cpu_us_per_reading":…,"rss_mb":…,"open_windows_peak":…,"rows":…,…}
 * cpu_us_per_reading is the service's user + system CPU (every worker and the supervising parent)
 * from its first reading to its last; rss_mb the sum of their peak RSS;
 * clickhouse_cpu_us_per_reading the server's query threads' CPU over the same span (server-wide).
 *
 * Then (unless `--memory-check false`) memory against readings and windows: the aggregator runs
 * again, each time on a fresh topic with the same pipeline, over
 *   A: M readings of D devices (`--memory-readings`, default 400,000; `--memory-devices`, 2,000),
 *   B: 2M readings of D devices — twice the readings, the same windows at any moment,
 *   C: 2M readings of 2D devices — the same readings as B, twice the windows at any moment.
 * M/D is 200 s of event time, well past the 60 s allowed lateness (a window is kept that long after
 * it is emitted, for corrections) and the adaptive watermark's 60 s horizon, so every run reaches
 * its steady state of windows and then only adds readings. Reported for each: windows peak (open
 * plus kept for lateness), live heap (what full garbage collections left, from --trace-gc: what the
 * process really holds; the median over the second half of the run, and the peak), V8 heap used
 * peak (sampled, garbage included), the processors' window-state estimate, and peak RSS. `memory_vs_readings` in the JSON line carries
 * them with the live heap's growth per added reading (B − A) and per added window (C − B).
 */
import { parseArgs } from 'node:util';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { deleteTopics } from '../src/kafka/admin.ts';
import { AggregatorScenario } from './support/aggregator-harness.ts';
import { fillReadingsTopic } from './support/fill-topic.ts';
import { drainTopic } from './support/bare-consumer.ts';
import { sampleProcess } from './e2e/process-stats.ts';
import { cgroupCpuLimit, resolveInstances } from '../src/aggregator/instances.ts';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '2000000' },
    devices: { type: 'string', default: '10000' },
    'raw-readings': { type: 'string', default: 'true' },
    'memory-check': { type: 'string', default: 'true' },
    'memory-readings': { type: 'string', default: '400000' },
    'memory-devices': { type: 'string', default: '2000' },
    // 0: what the service chooses by default (aggregator.instances 0: one worker per usable core).
    instances: { type: 'string', default: '0' },
  },
});
const INSTANCES = resolveInstances(Number(args.instances), availableParallelism(), cgroupCpuLimit());
const N = Number(args.readings);
const DEVICES = Number(args.devices);
const say = (line: string): void => void process.stdout.write(`${line}\n`);

say(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}; aggregator instances ${INSTANCES}`);

/** A fresh topic and database with the benchmark's one pipeline. */
function benchScenario(): AggregatorScenario {
  return new AggregatorScenario(
    [
      {
        name: 'bench',
        guarantee: 'exactly-once',
        window: { kind: 'tumbling', sizeMs: 5000 },
        watermark: { kind: 'adaptive', quantile: 0.99, marginMs: 500, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 },
      },
    ],
    { partitions: 12, aggregator: { flushIntervalMs: 1000, checkpointIntervalMs: 5000, writeRawReadings: args['raw-readings'] === 'true', maxRowsPerInsert: 100_000, instances: INSTANCES } },
  );
}
const scenario = benchScenario();
await scenario.setUp();

/**
 * One bare consumer draining the filled topic (all `total` records: the readings and the ticks) in
 * a group of its own: readings per second, as the aggregator's rate is counted.
 */
async function baseline(total: number, run: string, how: 'library' | 'batch' = 'library'): Promise<number> {
  return N / (await drainTopic({ connection: scenario.config.kafka, topic: scenario.topic, total, groupId: `${scenario.id}-baseline-${run}`, how }));
}

/** User + system CPU seconds each process has used so far (absent once it is gone). */
function cpuSeconds(pids: readonly number[]): Map<number, number> {
  const used = new Map<number, number>();
  for (const pid of pids) {
    const sample = sampleProcess(pid);
    if (sample) used.set(pid, sample.cpuSeconds);
  }
  return used;
}

/** The service's processes: the one started and, when it supervises workers, each worker (from its /status). */
async function servicePids(port: number, pid: number): Promise<number[]> {
  const status = (await (await fetch(`http://127.0.0.1:${port}/status`)).json()) as { workers?: { pid: number | null }[] };
  return [pid, ...(status.workers ?? []).map((worker) => worker.pid).filter((workerPid): workerPid is number => workerPid !== null)];
}

/**
 * CPU seconds ClickHouse's query threads have used so far (user + system, system.events). Server-wide:
 * anything else querying that server during the run counts too.
 */
async function clickhouseCpuSeconds(on: AggregatorScenario): Promise<number> {
  const rows = await on.query<{ value: string }>(
    "SELECT value FROM system.events WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')",
  );
  return rows.reduce((total, row) => total + Number(row.value), 0) / 1e6;
}

/** One scrape per poll: with workers, each scrape of the service is a scrape of every worker. */
async function scrape(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/** The sum of a metric's series in a scrape (over pipelines, partitions and workers). */
function metric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

const fillStarted = performance.now();
const total = await fillReadingsTopic({ connection: scenario.config.kafka, topic: scenario.topic, partitions: scenario.partitions, readings: N, devices: DEVICES, tenant: 'bench' });
say(`filled ${scenario.topic}: ${N} readings over ${DEVICES} devices in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`);

// The bare consumer runs before and after the aggregator, and the ratio is taken against the mean
// of both: on a shared machine the load drifts over a run, and one side alone would carry the drift.
const baselineBeforePerS = await baseline(total, 'before');
say(`baseline before (bare consumer): ${Math.round(baselineBeforePerS).toLocaleString()} readings/s`);

interface AggregatorRun {
  readonly readingsPerS: number;
  readonly processed: number;
  readonly seconds: number;
  readonly cpuPerReadingUs: number;
  readonly clickhouseCpuPerReadingUs: number;
  readonly rssMb: number;
  /** Resident memory when half the readings were processed, and at the end: flat if memory does not grow with readings. */
  readonly rssAtHalfMb: number | null;
  readonly rssAtEndMb: number | null;
  readonly heapUsedPeakMb: number;
  /**
   * The heap full garbage collections left (from --trace-gc; null without it): the median over the
   * second half of the processing, when the windows have reached their steady state, and the
   * largest over all of it (which also catches transient data such as a checkpoint being written).
   */
  readonly liveHeapMb: number | null;
  readonly liveHeapPeakMb: number | null;
  readonly openWindowsPeak: number;
  /** Open windows plus windows kept after emission for late corrections, at their largest. */
  readonly windowsPeak: number;
  readonly stateBytesPeakMb: number;
  readonly stop: () => Promise<unknown>;
  readonly port: number;
}

/**
 * Starts the aggregator on the scenario and polls its metrics until it has processed `readings`;
 * the caller stops it (stop()). With traceGc, the service runs with --trace-gc and the live heap
 * is read from its log.
 */
async function runAggregator(on: AggregatorScenario, readings: number, options: { traceGc: boolean }): Promise<AggregatorRun> {
  const port = 19464 + (process.pid % 500);
  // SERVICE_NODE_ARGS (for example '--cpu-prof --cpu-prof-dir=.data/profiles') profiles the service: this benchmark's launcher alone reads it.
  const nodeArgs = [...(process.env['SERVICE_NODE_ARGS'] ?? '').split(' ').filter((arg) => arg !== ''), ...(options.traceGc ? ['--trace-gc'] : [])];
  const spawnedAt = performance.now();
  const aggregator = on.startAggregator('bench', { TP_AGGREGATOR__METRICS_PORT: String(port), TP_LOG__LEVEL: 'warn' }, { nodeArgs });
  let openPeak = 0;
  let windowsPeak = 0;
  let heapPeak = 0;
  let stateBytesPeak = 0;
  let first = 0;
  let cpuAtFirst = new Map<number, number>();
  let clickhouseCpuAtFirst = 0;
  let processed = 0;
  let rssAtHalfMb: number | null = null;
  // The end is the last poll at which the counter still grew, once it has reached `readings` and
  // stood still for a second: with several workers it also counts readings re-read after the
  // start-up rebalance, so it reaches `readings` before the last one is processed.
  let lastGrowth = 0;
  const deadline = Date.now() + 20 * 60_000;
  while ((processed < readings || performance.now() - lastGrowth < 1000) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    try {
      const text = await scrape(port);
      const counted = metric(text, 'tp_agg_readings_total{');
      if (counted > processed) lastGrowth = performance.now();
      processed = counted;
      const open = metric(text, 'tp_agg_open_windows{');
      openPeak = Math.max(openPeak, open);
      windowsPeak = Math.max(windowsPeak, open + metric(text, 'tp_agg_retained_windows{'));
      heapPeak = Math.max(heapPeak, metric(text, 'tp_agg_process_nodejs_heap_size_used_bytes'));
      if (processed >= readings / 2 && rssAtHalfMb === null) rssAtHalfMb = sumRss(await servicePids(port, aggregator.pid), 'rssMb');
      stateBytesPeak = Math.max(stateBytesPeak, metric(text, 'tp_agg_state_bytes{'));
      if (processed > 0 && first === 0) {
        first = performance.now();
        cpuAtFirst = cpuSeconds(await servicePids(port, aggregator.pid));
        clickhouseCpuAtFirst = await clickhouseCpuSeconds(on);
      }
    } catch {
      // The ops endpoint answers once the aggregator has started.
    }
  }
  const end = lastGrowth;
  const seconds = (end - first) / 1000;
  const pids = await servicePids(port, aggregator.pid);
  let cpuUsed = 0;
  // A worker restarted during the run started after the first reading: all its CPU counts.
  for (const [pid, seconds] of cpuSeconds(pids)) cpuUsed += seconds - (cpuAtFirst.get(pid) ?? 0);
  const cpuPerReadingUs = (cpuUsed / readings) * 1e6;
  const clickhouseCpuPerReadingUs = (((await clickhouseCpuSeconds(on)) - clickhouseCpuAtFirst) / readings) * 1e6;
  return {
    readingsPerS: readings / seconds,
    processed,
    seconds,
    cpuPerReadingUs,
    clickhouseCpuPerReadingUs,
    rssMb: sumRss(pids, 'peakRssMb') ?? 0,
    rssAtHalfMb,
    rssAtEndMb: sumRss(pids, 'rssMb'),
    heapUsedPeakMb: Math.round(heapPeak / 2 ** 20),
    ...liveHeap(options.traceGc ? aggregator.log() : null, first - spawnedAt, end - spawnedAt),
    openWindowsPeak: openPeak,
    windowsPeak,
    stateBytesPeakMb: Number((stateBytesPeak / 2 ** 20).toFixed(1)),
    port,
    stop: async () => {
      aggregator.signal('SIGTERM');
      return aggregator.exited;
    },
  };
}

/** Resident memory summed over the service's processes (each one's peak, for peakRssMb: an upper bound of the sum's peak). */
function sumRss(pids: readonly number[], field: 'rssMb' | 'peakRssMb'): number | null {
  const samples = pids.map((pid) => sampleProcess(pid)).filter((sample) => sample !== null);
  return samples.length === 0 ? null : samples.reduce((sum, sample) => sum + sample[field], 0);
}

/**
 * The heap full garbage collections left, from V8's --trace-gc lines
 * ("[pid:0x…]  8314 ms: Mark-Compact 143.7 (170.2) -> 45.2 (160.5) MB, …", times since the process
 * started): what the process really holds, which a sampled heap-used figure overstates by whatever
 * garbage awaits the next collection. `from` and `to` bound the processing, in ms after the spawn.
 */
function liveHeap(log: string | null, from: number, to: number): { liveHeapMb: number | null; liveHeapPeakMb: number | null } {
  if (log === null) return { liveHeapMb: null, liveHeapPeakMb: null };
  const collections = [...log.matchAll(/ (\d+) ms: Mark-Compact [\d.]+ \([\d.]+\) -> ([\d.]+) \(/g)].map((match) => ({ at: Number(match[1]), mb: Number(match[2]) }));
  const during = collections.filter((gc) => gc.at >= from && gc.at <= to).map((gc) => gc.mb);
  const steady = collections.filter((gc) => gc.at >= (from + to) / 2 && gc.at <= to).map((gc) => gc.mb).sort((a, b) => a - b);
  const median = steady.length === 0 ? null : (steady[(steady.length - 1) >> 1]! + steady[steady.length >> 1]!) / 2;
  return {
    liveHeapMb: median === null ? null : Math.round(median * 10) / 10,
    liveHeapPeakMb: during.length === 0 ? null : Math.round(Math.max(...during) * 10) / 10,
  };
}

const run = await runAggregator(scenario, N, { traceGc: false });
const { readingsPerS, processed, cpuPerReadingUs, clickhouseCpuPerReadingUs, rssMb } = run;
/**
 * The rows once they stop changing (the last flushes land after the last reading is counted; with
 * several workers, readings re-read after the start-up rebalance count too, so the counter reaches
 * N a little before the end: `reprocessed` in the JSON line says by how much).
 */
async function settledRows(on: AggregatorScenario): Promise<number> {
  let previous = -1;
  for (let attempt = 0; attempt < 30; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const [row] = await on.query<{ n: string }>(`SELECT count() AS n FROM ${on.database}.agg_bench FINAL`);
    const rows = Number(row?.n ?? 0);
    if (rows === previous) return rows;
    previous = rows;
  }
  return previous;
}
const rows = await settledRows(scenario);
const reprocessed = Math.max(0, (await scrape(run.port).then((text) => metric(text, 'tp_agg_readings_total{'), () => processed)) - N);
say(`aggregator: ${Math.round(readingsPerS).toLocaleString()} readings/s (${processed} processed in ${run.seconds.toFixed(1)} s), peak RSS ${rssMb} MB (RSS at half the readings ${run.rssAtHalfMb ?? '?'} MB, at the end ${run.rssAtEndMb ?? '?'} MB; V8 heap used peak ${run.heapUsedPeakMb} MB), open windows peak ${run.openWindowsPeak}, rows ${rows}, ${cpuPerReadingUs.toFixed(1)} µs CPU per reading (ClickHouse: ${clickhouseCpuPerReadingUs.toFixed(1)} µs)`);
await run.stop();
const baselineAfterPerS = await baseline(total, 'after');
const baselinePerS = (baselineBeforePerS + baselineAfterPerS) / 2;
say(`baseline after (bare consumer): ${Math.round(baselineAfterPerS).toLocaleString()} readings/s`);
const baselineBatchPerS = await baseline(total, 'after-batch', 'batch');
say(`bare consumer on the batch consume: ${Math.round(baselineBatchPerS).toLocaleString()} readings/s`);
await scenario.tearDown();
await deleteTopics(scenario.config.kafka, [scenario.topic, `${scenario.topic}-late`]).catch(() => undefined);

interface MemoryCase {
  readonly readings: number;
  readonly devices: number;
  readonly open_windows_peak: number;
  readonly windows_peak: number;
  readonly live_heap_mb: number | null;
  readonly live_heap_peak_mb: number | null;
  readonly heap_used_peak_mb: number;
  readonly state_bytes_peak_mb: number;
  readonly rss_mb: number;
}

/** One aggregator over `readings` readings of `devices` devices on a fresh topic, measured for memory only. */
async function memoryCase(readings: number, devices: number): Promise<MemoryCase> {
  const on = benchScenario();
  await on.setUp();
  try {
    await fillReadingsTopic({ connection: on.config.kafka, topic: on.topic, partitions: on.partitions, readings, devices, tenant: 'bench' });
    const measured = await runAggregator(on, readings, { traceGc: true });
    await measured.stop();
    if (measured.processed < readings) throw new Error(`memory check: the aggregator processed ${measured.processed} of ${readings} readings`);
    const result: MemoryCase = {
      readings,
      devices,
      open_windows_peak: measured.openWindowsPeak,
      windows_peak: measured.windowsPeak,
      live_heap_mb: measured.liveHeapMb,
      live_heap_peak_mb: measured.liveHeapPeakMb,
      heap_used_peak_mb: measured.heapUsedPeakMb,
      state_bytes_peak_mb: measured.stateBytesPeakMb,
      rss_mb: measured.rssMb,
    };
    say(
      `memory: ${readings.toLocaleString()} readings of ${devices.toLocaleString()} devices: windows peak ${result.windows_peak} (open ${result.open_windows_peak}), ` +
        `live heap ${result.live_heap_mb ?? '?'} MB (peak ${result.live_heap_peak_mb ?? '?'} MB), heap used peak ${result.heap_used_peak_mb} MB, window state ${result.state_bytes_peak_mb} MB, RSS ${result.rss_mb} MB`,
    );
    return result;
  } finally {
    await on.tearDown();
    await deleteTopics(on.config.kafka, [on.topic, `${on.topic}-late`]).catch(() => undefined);
  }
}

let memoryVsReadings: Record<string, unknown> | null = null;
if (args['memory-check'] === 'true') {
  const M = Number(args['memory-readings']);
  const D = Number(args['memory-devices']);
  const a = await memoryCase(M, D);
  const b = await memoryCase(2 * M, D);
  const c = await memoryCase(2 * M, 2 * D);
  const growth = (from: MemoryCase, to: MemoryCase, per: number): number | null =>
    from.live_heap_mb === null || to.live_heap_mb === null || per === 0 ? null : Math.round(((to.live_heap_mb - from.live_heap_mb) * 2 ** 20) / per);
  const ratio = (from: number | null, to: number | null): number | null => (from === null || to === null || from === 0 ? null : Number((to / from).toFixed(2)));
  memoryVsReadings = {
    cases: [a, b, c],
    // Twice the readings, the same windows: ~1× and ~0 bytes per added reading.
    live_heap_ratio_2x_readings: ratio(a.live_heap_mb, b.live_heap_mb),
    live_heap_bytes_per_added_reading: growth(a, b, b.readings - a.readings),
    // The same readings, twice the windows: the heap grows by what a window holds.
    live_heap_ratio_2x_windows: ratio(b.live_heap_mb, c.live_heap_mb),
    live_heap_bytes_per_added_window: growth(b, c, c.windows_peak - b.windows_peak),
  };
  say(
    `memory vs readings: 2× readings (same windows) → live heap ×${memoryVsReadings['live_heap_ratio_2x_readings'] ?? '?'} ` +
      `(${memoryVsReadings['live_heap_bytes_per_added_reading'] ?? '?'} bytes per added reading); ` +
      `2× windows (same readings) → live heap ×${memoryVsReadings['live_heap_ratio_2x_windows'] ?? '?'} (${memoryVsReadings['live_heap_bytes_per_added_window'] ?? '?'} bytes per added window)`,
  );
}

say(
  JSON.stringify({
    bench: 'aggregator',
    instances: INSTANCES,
    readings_per_s: Math.round(readingsPerS),
    baseline_per_s: Math.round(baselinePerS),
    baseline_before_per_s: Math.round(baselineBeforePerS),
    baseline_after_per_s: Math.round(baselineAfterPerS),
    ratio: Number((readingsPerS / baselinePerS).toFixed(3)),
    baseline_batch_per_s: Math.round(baselineBatchPerS),
    cpu_us_per_reading: Number(cpuPerReadingUs.toFixed(1)),
    clickhouse_cpu_us_per_reading: Number(clickhouseCpuPerReadingUs.toFixed(1)),
    rss_mb: rssMb,
    rss_at_half_mb: run.rssAtHalfMb,
    rss_at_end_mb: run.rssAtEndMb,
    heap_used_peak_mb: run.heapUsedPeakMb,
    open_windows_peak: run.openWindowsPeak,
    rows,
    reprocessed,
    readings: N,
    raw_readings: args['raw-readings'] === 'true',
    memory_vs_readings: memoryVsReadings,
  }),
);
process.exit(processed >= N ? 0 : 1);
