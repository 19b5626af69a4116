import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import type { Config, PipelineConfig } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { REPO_ROOT } from '../stack/paths.ts';
import { analyzeDelays, type DelayAnalysis } from './analyze.ts';
import {
  DEFAULT_FIXED_DELAYS_MS,
  DEFAULT_MARGINS_MS,
  DEFAULT_QUANTILES,
  candidateGrid,
  describeWindow,
  parseLatePolicy,
  parseWindow,
  type Candidate,
} from './candidates.ts';
import { formatAnalysis, formatRecommendation, formatResults } from './format.ts';
import { compareAllAdaptive, recommend, type Preference, type Sla } from './recommend.ts';
import { renderReport } from './report-html.ts';
import { simulateAll, type SimulationResult } from './simulate.ts';
import { recordedPartitionCount, type Trace } from './trace.ts';
import { readTraceFile, writeTraceFile, formatFromName, type TraceOutputFormat } from './trace-file.ts';
import { readTraceFromTopic } from './trace-kafka.ts';
import { TRACE_KINDS, generateTrace, type TraceKind } from './traces.ts';
import { formatDuration, parseDuration, parseDurationList, parseQuantile, parseShare } from './units.ts';

/**
 * `watermark` commands of the project CLI: analyze arrival delays, simulate candidate
 * configurations, recommend one for an SLA, generate traces. Registered by src/cli.ts with
 * `registerWatermarkCommands(program, config)`.
 */
const DEFAULT_SIMULATE_WINDOWS = ['tumbling:5s', 'tumbling:60s', 'sliding:60s/10s', 'session:30s'];
const DEFAULT_REPORT = join(REPO_ROOT, 'reports', 'watermark-report.html');

interface SourceOptions {
  trace?: string;
  topic?: string;
  from?: string;
  to?: string;
  partitions?: string;
}

interface GridOptions {
  windows?: string;
  window?: string;
  fixed: string;
  quantiles: string;
  margins: string;
  latePolicy: string;
  idleTimeout?: string;
  deviceClocks?: string;
  flush: string;
  tick: string;
}

interface OutputOptions {
  json?: boolean;
  html?: string | boolean;
  latency: 'end-to-end' | 'window';
}

const write = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
const progress = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

export function registerWatermarkCommands(program: Command, loadConfig: () => Config): void {
  const group = program
    .command('watermark')
    .description('arrival delays, what-if replay of watermark and window settings, and a recommendation for an SLA');

  withSource(group.command('analyze').description('delay distribution overall, per partition, worst devices, drift; devices with skewed clocks'))
    .option('--worst <n>', 'how many worst devices to list', '10')
    .option('--json', 'print the analysis as JSON')
    .option('--html [file]', 'also write an HTML report (default reports/watermark-report.html)')
    .action(async (options: SourceOptions & { worst: string; json?: boolean; html?: string | boolean }) => {
      const config = loadConfig();
      const { trace, partitions, source } = await loadTrace(options, config);
      const analysis = analyzeDelays(trace, { partitions, worstDevices: Number(options.worst) });
      write(options.json ? JSON.stringify(analysis, null, 2) : formatAnalysis(analysis));
      if (options.html) writeReport(options.html, { title: 'Arrival delays', source, analysis, results: [], recommendation: null, comparisons: [] });
    });

  withOutput(withGrid(withSource(group.command('simulate').description('replay the trace through candidate configurations (the aggregator\'s PartitionProcessor)')), DEFAULT_SIMULATE_WINDOWS.join(',')))
    .action(async (options: SourceOptions & GridOptions & OutputOptions) => {
      const config = loadConfig();
      const { trace, partitions, source } = await loadTrace(options, config);
      const candidates = gridFrom(options, parseWindows(options.windows ?? DEFAULT_SIMULATE_WINDOWS.join(',')));
      const results = runGrid(trace, candidates, partitions, options);
      const sla = { latency: options.latency };
      if (options.json) write(JSON.stringify(results.map(jsonResult), null, 2));
      else {
        write(formatResults(results, sla));
        for (const comparison of compareAllAdaptive(results, sla)) write(`- ${comparison.sentence}`);
      }
      if (options.html !== false) {
        const analysis = analyzeDelays(trace, { partitions });
        writeReport(options.html ?? true, { title: 'Watermark what-if replay', source, analysis, results, recommendation: null, comparisons: compareAllAdaptive(results, sla) });
      }
    });

  withOutput(withGrid(withSource(group.command('recommend').description('the configuration that meets an SLA, as the aggregator\'s YAML')), undefined))
    .requiredOption('--sla-p95 <duration>', 'bound on the P95 latency, e.g. 10s')
    .requiredOption('--min-completeness <share>', 'lowest acceptable completeness, e.g. 99.9%')
    .option('--pipeline <name>', 'pipeline of the configuration whose name, guarantee and window to use (default: the first)')
    .addOption(new Option('--prefer <what>', 'among configurations that meet the SLA, rank by').choices(['latency', 'completeness']).default('latency'))
    .action(async (options: SourceOptions & GridOptions & OutputOptions & { slaP95: string; minCompleteness: string; pipeline?: string; prefer: Preference }) => {
      const config = loadConfig();
      const pipeline = pickPipeline(config, options.pipeline);
      const { trace, partitions, source } = await loadTrace(options, config);
      const windows = options.windows ? parseWindows(options.windows) : [options.window ? parseWindow(options.window) : pipeline.window];
      const candidates = gridFrom(
        { ...options, idleTimeout: options.idleTimeout ?? `${pipeline.idleTimeoutMs}ms`, deviceClocks: options.deviceClocks ?? `${pipeline.maxDeviceClockOffsetMs}ms` },
        windows,
      );
      const results = runGrid(trace, candidates, partitions, options);
      const sla: Sla = { p95LatencyMs: parseDuration(options.slaP95), minCompleteness: parseShare(options.minCompleteness), latency: options.latency };
      const recommendation = recommend(results, sla, { name: pipeline.name, guarantee: pipeline.guarantee }, options.prefer);
      const comparisons = compareAllAdaptive(results, sla);
      if (options.json) {
        write(JSON.stringify({ sla, recommended: recommendation.recommended ? jsonResult(recommendation.recommended) : null, explanation: recommendation.explanation, pipeline: recommendation.pipeline, comparisons: comparisons.map((c) => ({ adaptive: c.adaptive.label, verdict: c.verdict, sentence: c.sentence })), results: results.map(jsonResult) }, null, 2));
      } else {
        write(formatRecommendation(recommendation, results, comparisons));
      }
      if (options.html !== false) {
        const analysis = analyzeDelays(trace, { partitions });
        writeReport(options.html ?? true, { title: 'Watermark recommendation', source, analysis, results, recommendation, comparisons });
      }
      if (!recommendation.recommended) process.exitCode = 2;
    });

  group
    .command('generate')
    .description('write a synthetic trace with a known delay distribution')
    .addOption(new Option('--kind <kind>', 'distribution').choices([...TRACE_KINDS]).makeOptionMandatory())
    .requiredOption('--readings <n>', 'number of readings')
    .requiredOption('--out <file>', 'output file')
    .option('--devices <n>', 'devices (each sends every --period)', '1000')
    .option('--period <duration>', 'sending interval of each device', '1s')
    .option('--seed <n>', 'PRNG seed', '1')
    .option('--start <iso>', 'event time of the first reading (default 2024-01-01T00:00:00Z)')
    .addOption(new Option('--format <format>', 'output format (default: from the file name, else csv)').choices(['csv', 'ndjson', 'records']))
    .action(async (options: { kind: TraceKind; readings: string; out: string; devices: string; period: string; seed: string; start?: string; format?: TraceOutputFormat }) => {
      const generated = generateTrace({
        kind: options.kind,
        readings: positiveInteger(options.readings, '--readings'),
        devices: positiveInteger(options.devices, '--devices'),
        periodMs: parseDuration(options.period),
        seed: Number(options.seed),
        ...(options.start ? { start: parseTime(options.start, '--start') } : {}),
      });
      const format = options.format ?? formatFromName(options.out) ?? 'csv';
      mkdirSync(dirname(options.out), { recursive: true });
      const lines = await writeTraceFile(generated.trace, options.out, format);
      write(`${options.out}: ${lines} readings (${format}), ${generated.description}`);
      write(`parameters: ${JSON.stringify(generated.params)}`);
      write(`true delay quantiles: ${[0.5, 0.9, 0.95, 0.99, 0.999].map((q) => `P${q * 100} ${formatDuration(generated.delayQuantile(q))}`).join(', ')}`);
    });
}

function withSource(command: Command): Command {
  return command
    .option('--trace <file>', 'trace file (CSV or NDJSON; see src/advisor/trace-file.ts), - for stdin')
    .option('--topic <name>', 'read the readings topic instead (with --from and --to)')
    .option('--from <iso>', 'start of the time range (Kafka record timestamps)')
    .option('--to <iso>', 'end of the time range (exclusive)')
    .option('--partitions <n>', 'partitions to replay into (default: as recorded in the trace, else kafka.partitions)');
}

function withGrid(command: Command, defaultWindows: string | undefined): Command {
  return command
    .option('--windows <list>', `windows to try, e.g. ${DEFAULT_SIMULATE_WINDOWS.join(',')}${defaultWindows ? ' (default)' : ''}`)
    .option('--window <window>', 'one window (recommend: default the pipeline\'s)')
    .option('--fixed <list>', 'fixed delays to try', DEFAULT_FIXED_DELAYS_MS.map((ms) => formatDuration(ms)).join(','))
    .option('--quantiles <list>', 'adaptive quantiles to try', DEFAULT_QUANTILES.join(','))
    .option('--margins <list>', 'adaptive margins to try', DEFAULT_MARGINS_MS.map((ms) => formatDuration(ms)).join(','))
    .option('--late-policy <policy>', 'late policy of every candidate: drop, late-topic or reemit:60s', 'drop')
    .option('--idle-timeout <duration>', 'idle timeout of a partition (default 5s, or the pipeline\'s)')
    .option(
      '--device-clocks <list>',
      'maxDeviceClockOffsetMs values to try, e.g. 5m,0 (0: no per-device clock shift; default 5m, or the pipeline\'s)',
    )
    .option('--flush <duration>', 'sink flush latency added to every emission', '1s')
    .option('--tick <duration>', 'interval of the synthesized partition ticks', '1s');
}

function withOutput(command: Command): Command {
  return command
    .option('--json', 'print results as JSON')
    .option('--html [file]', 'HTML report path (default reports/watermark-report.html)')
    .option('--no-html', 'write no HTML report')
    .addOption(new Option('--latency <which>', 'latency the tables and the SLA use').choices(['end-to-end', 'window']).default('end-to-end'));
}

async function loadTrace(options: SourceOptions, config: Config): Promise<{ trace: Trace; partitions: number; source: string }> {
  let trace: Trace;
  let source: string;
  let recorded = 0;
  if (options.trace !== undefined) {
    if (options.topic !== undefined) throw new ConfigError('give either --trace or --topic, not both', { key: 'trace' });
    trace = await readTraceFile(options.trace);
    source = `trace ${options.trace}`;
    recorded = recordedPartitionCount(trace);
  } else if (options.topic !== undefined) {
    if (!options.from || !options.to) throw new ConfigError('--topic needs --from and --to (ISO-8601 times)', { key: 'from' });
    const fromTopic = await readTraceFromTopic({ connection: config.kafka, topic: options.topic, from: parseTime(options.from, '--from'), to: parseTime(options.to, '--to'), ingestClock: config.kafka.ingestClock });
    trace = fromTopic.trace;
    recorded = fromTopic.partitions;
    source = `topic ${options.topic} ${options.from} … ${options.to} (${fromTopic.ticks} ticks and ${fromTopic.undecodable} undecodable records skipped)`;
  } else {
    throw new ConfigError('name the arrivals: --trace <file>, or --topic <name> --from <iso> --to <iso>', { key: 'trace' });
  }
  if (trace.length === 0) throw new ConfigError(`${source} holds no readings`, { key: 'trace' });
  const partitions = options.partitions ? positiveInteger(options.partitions, '--partitions') : recorded > 0 ? recorded : config.kafka.partitions;
  return { trace, partitions, source };
}

function parseWindows(list: string): Candidate['window'][] {
  return list.split(',').filter((part) => part.trim() !== '').map(parseWindow);
}

function gridFrom(options: GridOptions, windows: Candidate['window'][]): Candidate[] {
  return candidateGrid({
    windows,
    fixedDelaysMs: parseDurationList(options.fixed),
    quantiles: options.quantiles.split(',').filter((part) => part.trim() !== '').map(parseQuantile),
    marginsMs: parseDurationList(options.margins),
    latePolicy: parseLatePolicy(options.latePolicy),
    idleTimeoutMs: options.idleTimeout ? parseDuration(options.idleTimeout) : undefined,
    ...(options.deviceClocks ? { deviceClockOffsetsMs: parseDurationList(options.deviceClocks) } : {}),
  });
}

function runGrid(trace: Trace, candidates: Candidate[], partitions: number, options: GridOptions): SimulationResult[] {
  progress(`replaying ${trace.length} readings through ${candidates.length} configurations on ${partitions} partitions …`);
  return simulateAll(trace, candidates, { partitions, flushMs: parseDuration(options.flush), tickIntervalMs: parseDuration(options.tick) }, (result, index) =>
    progress(`[${index + 1}/${candidates.length}] ${result.label}: ${(result.wallMs / 1000).toFixed(1)} s`),
  );
}

function pickPipeline(config: Config, name: string | undefined): PipelineConfig {
  const pipelines = config.aggregator.pipelines;
  const pipeline = name === undefined ? pipelines[0] : pipelines.find((candidate) => candidate.name === name);
  if (!pipeline) throw new ConfigError(`no pipeline named '${name}'; configured: ${pipelines.map((p) => p.name).join(', ')}`, { key: 'pipeline' });
  return pipeline;
}

function writeReport(target: string | boolean, input: Omit<Parameters<typeof renderReport>[0], 'generatedAt'>): void {
  const path = typeof target === 'string' ? target : DEFAULT_REPORT;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderReport({ ...input, generatedAt: new Date().toISOString() }));
  progress(`report: ${path}`);
}

function jsonResult(result: SimulationResult): Record<string, unknown> {
  const { finalRows: _rows, candidate, ...rest } = result;
  return { ...rest, window: describeWindow(candidate.window), candidate };
}

function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new ConfigError(`${flag} ${text} must be a positive integer`, { key: flag });
  return value;
}

function parseTime(text: string, flag: string): number {
  const value = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (!Number.isFinite(value)) throw new ConfigError(`${flag} '${text}' is not an ISO-8601 time (or epoch milliseconds)`, { key: flag });
  return value;
}

export type { DelayAnalysis };
