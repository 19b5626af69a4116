/**
 * `npm run loadtest -- --rate R --duration S --sla-p95 10s [--min-completeness 99.9%]`:
 * the release check. Runs the pipeline on the local stack under a simulated MQTT fleet, prints a
 * report, writes an HTML page under reports/, exits non-zero when the SLA, the completeness target
 * or the audit (lost, duplicated) is missed, and ends with one JSON line.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import { runEndToEnd, type EndToEndOptions } from './run.ts';
import { textReport, writeHtmlReport } from './report.ts';
import { parseDurationMs, parsePercent } from './units.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '20000' },
    duration: { type: 'string', default: '300' },
    'sla-p95': { type: 'string', default: '10s' },
    'min-completeness': { type: 'string', default: '99.9%' },
    devices: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '20' },
    batch: { type: 'string', default: '10' },
    patterns: { type: 'string', default: 'realistic' },
    window: { type: 'string', default: '5s' },
    aggregators: { type: 'string', default: '1' },
  },
});

const options: EndToEndOptions = {
  ratePerSecond: Number(values.rate),
  durationS: parseDurationMs(values.duration!) / 1000,
  devices: Number(values.devices),
  connections: Number(values.connections),
  batchSize: Number(values.batch),
  patterns: values.patterns === 'steady' ? 'steady' : 'realistic',
  windowSizeMs: parseDurationMs(values.window!),
  slaP95Ms: parseDurationMs(values['sla-p95']!),
  minCompleteness: parsePercent(values['min-completeness']!),
  aggregators: Number(values.aggregators),
  log: (line) => process.stdout.write(`${line}\n`),
};

process.stdout.write(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}\n`);
const result = await runEndToEnd(options);
process.stdout.write(`${textReport(result, options)}\n`);
process.stdout.write(`report: ${writeHtmlReport(result, options, join(REPO_ROOT, 'reports'))}\n`);
process.stdout.write(
  `${JSON.stringify({
    bench: 'e2e',
    readings_per_s: Math.round(result.readingsPerS),
    e2e_p50_ms: result.latency.p50,
    e2e_p95_ms: result.latency.p95,
    e2e_p99_ms: result.latency.p99,
    completeness: Number(result.completeness.toFixed(6)),
    late_dropped: result.lateDropped,
    lost: result.lost,
    duplicated: result.duplicated,
    sla_met: result.slaMet && result.duplicated === 0,
  })}\n`,
);
process.exit(result.slaMet && result.duplicated === 0 ? 0 : 1);
