/**
 * `npm run bench:aggregator [-- --readings N --devices D]`: fills a fresh topic with N readings
 * (10,000 devices, log-normal arrival delays, so event order differs from arrival order), then in
 * the same run measures (1) a bare consumer draining the topic and (2) the aggregator (a real
 * child process, exactly-once, 5 s tumbling windows, raw readings on) processing it into
 * ClickHouse, then (1) again: baseline_per_s is the mean of the bare consumer before and after.
 * Ends with one JSON line:
 *   {"bench":"aggregator","readings_per_s":…,"baseline_per_s":…,"ratio":…,"cpu_us_per_reading":…,"clickhouse_cpu_us_per_reading":…,"rss_mb":…,"open_windows_peak":…,"rows":…,…}
 * cpu_us_per_reading is the aggregator process's user + system CPU from its first reading to its last;
 * clickhouse_cpu_us_per_reading the server's query threads' CPU over the same span (server-wide).
 */
import { parseArgs } from 'node:util';
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { ReadingsConsumer } from '../src/kafka/consumer.ts';
import { AggregatorScenario } from '../test/support/aggregator-harness.ts';
import { fillReadingsTopic } from './support/fill-topic.ts';

const { values: args } = parseArgs({
  options: {
    readings: { type: 'string', default: '2000000' },
    devices: { type: 'string', default: '10000' },
    'raw-readings': { type: 'string', default: 'true' },
  },
});
const N = Number(args.readings);
const DEVICES = Number(args.devices);
const say = (line: string): void => void process.stdout.write(`${line}\n`);

say(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`);
const scenario = new AggregatorScenario(
  [
    {
      name: 'bench',
      guarantee: 'exactly-once',
      window: { kind: 'tumbling', sizeMs: 5000 },
      watermark: { kind: 'adaptive', quantile: 0.99, marginMs: 500, floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 },
    },
  ],
  { partitions: 12, aggregator: { flushIntervalMs: 1000, checkpointIntervalMs: 5000, writeRawReadings: args['raw-readings'] === 'true', maxRowsPerInsert: 100_000 } },
);
await scenario.setUp();

async function baseline(total: number, run: string): Promise<number> {
  const consumer = new ReadingsConsumer({
    brokers: scenario.config.kafka.brokers,
    groupId: `${scenario.id}-baseline-${run}`,
    clientId: 'bench-baseline',
    topic: scenario.topic,
    sessionTimeoutMs: 10_000,
    isolation: 'read_committed',
    autoCommit: false,
    onAssigned: async () => new Map(),
    onRevoked: () => undefined,
    onError: (error) => {
      throw error;
    },
  });
  await consumer.connect();
  consumer.setConsumeTimeout(100);
  let seen = 0;
  let started = 0;
  while (seen < total) {
    const batch = await consumer.consume(5000);
    if (batch.length > 0 && started === 0) started = performance.now();
    seen += batch.length;
  }
  const seconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  return N / seconds;
}

/** User + system CPU seconds the process has used so far (Linux /proc; clock ticks are 100 Hz). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * CPU seconds ClickHouse's query threads have used so far (user + system, system.events). Server-wide:
 * anything else querying that server during the run counts too.
 */
async function clickhouseCpuSeconds(): Promise<number> {
  const rows = await scenario.query<{ value: string }>(
    "SELECT value FROM system.events WHERE event IN ('UserTimeMicroseconds', 'SystemTimeMicroseconds')",
  );
  return rows.reduce((total, row) => total + Number(row.value), 0) / 1e6;
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

const fillStarted = performance.now();
const total = await fillReadingsTopic({ brokers: scenario.config.kafka.brokers, topic: scenario.topic, partitions: scenario.partitions, readings: N, devices: DEVICES, tenant: 'bench' });
say(`filled ${scenario.topic}: ${N} readings over ${DEVICES} devices in ${((performance.now() - fillStarted) / 1000).toFixed(1)} s`);

// The bare consumer runs before and after the aggregator, and the ratio is taken against the mean
// of both: on a shared machine the load drifts over a run, and one side alone would carry the drift.
const baselineBeforePerS = await baseline(total, 'before');
say(`baseline before (bare consumer): ${Math.round(baselineBeforePerS).toLocaleString()} readings/s`);

const port = 19464 + (process.pid % 500);
const aggregator = scenario.startAggregator('bench', { TP_AGGREGATOR__METRICS_PORT: String(port), LOG_LEVEL: 'warn' });
let openPeak = 0;
let heapPeak = 0;
let first = 0;
let cpuAtFirst = 0;
let clickhouseCpuAtFirst = 0;
let processed = 0;
const deadline = Date.now() + 20 * 60_000;
while (processed < N && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 250));
  try {
    processed = await metric(port, 'tp_agg_readings_total{');
    openPeak = Math.max(openPeak, await metric(port, 'tp_agg_open_windows{'));
    heapPeak = Math.max(heapPeak, await metric(port, 'tp_agg_process_nodejs_heap_size_used_bytes'));
    if (processed > 0 && first === 0) {
      first = performance.now();
      cpuAtFirst = cpuSeconds(aggregator.pid);
      clickhouseCpuAtFirst = await clickhouseCpuSeconds();
    }
  } catch {
    // The ops endpoint answers once the aggregator has started.
  }
}
const aggregatorSeconds = (performance.now() - first) / 1000;
const cpuPerReadingUs = ((cpuSeconds(aggregator.pid) - cpuAtFirst) / N) * 1e6;
const clickhouseCpuPerReadingUs = ((await clickhouseCpuSeconds()) - clickhouseCpuAtFirst) / N * 1e6;
const rss = readFileSync(`/proc/${aggregator.pid}/status`, 'utf8').match(/VmHWM:\s+(\d+)/)?.[1];
const rssMb = Math.round(Number(rss ?? 0) / 1024);
const readingsPerS = N / aggregatorSeconds;
const [rowsRow] = await new Promise<{ n: string }[]>((resolve) => setTimeout(async () => resolve(await scenario.query<{ n: string }>(`SELECT count() AS n FROM ${scenario.database}.agg_bench FINAL`)), 3000));
const rows = Number(rowsRow?.n ?? 0);
say(`aggregator: ${Math.round(readingsPerS).toLocaleString()} readings/s (${processed} processed in ${aggregatorSeconds.toFixed(1)} s), peak RSS ${rssMb} MB (V8 heap used peak ${Math.round(heapPeak / 2 ** 20)} MB), open windows peak ${openPeak}, rows ${rows}, ${cpuPerReadingUs.toFixed(1)} µs CPU per reading (ClickHouse: ${clickhouseCpuPerReadingUs.toFixed(1)} µs)`);
aggregator.signal('SIGTERM');
await aggregator.exited;
const baselineAfterPerS = await baseline(total, 'after');
const baselinePerS = (baselineBeforePerS + baselineAfterPerS) / 2;
say(`baseline after (bare consumer): ${Math.round(baselineAfterPerS).toLocaleString()} readings/s`);
await scenario.tearDown();
say(
  JSON.stringify({
    bench: 'aggregator',
    readings_per_s: Math.round(readingsPerS),
    baseline_per_s: Math.round(baselinePerS),
    baseline_before_per_s: Math.round(baselineBeforePerS),
    baseline_after_per_s: Math.round(baselineAfterPerS),
    ratio: Number((readingsPerS / baselinePerS).toFixed(3)),
    cpu_us_per_reading: Number(cpuPerReadingUs.toFixed(1)),
    clickhouse_cpu_us_per_reading: Number(clickhouseCpuPerReadingUs.toFixed(1)),
    rss_mb: rssMb,
    heap_used_peak_mb: Math.round(heapPeak / 2 ** 20),
    open_windows_peak: openPeak,
    rows,
    readings: N,
    raw_readings: args['raw-readings'] === 'true',
  }),
);
process.exit(processed >= N ? 0 : 1);
