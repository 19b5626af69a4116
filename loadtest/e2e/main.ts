/**
 * `npm run loadtest -- --rate R --duration S --sla-p95 10s [--min-completeness 99.9%] [--settle-timeout 180s] [--payload json|sparkplug|protobuf]`:
 * the release check. Runs the pipeline on the local stack under a simulated MQTT fleet, prints a
 * report, writes an HTML page under reports/, exits non-zero when the SLA, the completeness target
 * or the audit (lost, duplicated) is missed, or when anything on the way failed (the aggregates did
 * not settle in time, a service exited, a query failed), and ends with one JSON line whatever happened.
 * `--bridges N` runs N bridges in one shared subscription; `--bridge-clock-skew 30s` runs the last of
 * them with its JavaScript clock 30 s behind (`+30s`: ahead), as on a host with broken NTP.
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { cpus, totalmem } from 'node:os';
import { errorMessage } from '../../src/core/errors.ts';
import { REPO_ROOT } from '../../src/stack/paths.ts';
import { PAYLOAD_FORMATS, type PayloadFormat } from '../fleet/formats.ts';
import { runEndToEnd, type EndToEndOptions } from './run.ts';
import { jsonSummary, textReport, writeHtmlReport } from './report.ts';
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
    'settle-timeout': { type: 'string', default: '180s' },
    bridges: { type: 'string', default: '1' },
    'bridge-clock-skew': { type: 'string', default: '0s' },
    payload: { type: 'string', default: 'json' },
  },
});

let options: EndToEndOptions;
try {
  options = {
    ratePerSecond: positive('rate', Number(values.rate)),
    payload: payloadFormat(values.payload!),
    durationS: parseDurationMs(values.duration!) / 1000,
    devices: positive('devices', Number(values.devices)),
    connections: positive('connections', Number(values.connections)),
    batchSize: positive('batch', Number(values.batch)),
    patterns: values.patterns === 'steady' ? 'steady' : 'realistic',
    windowSizeMs: parseDurationMs(values.window!),
    slaP95Ms: parseDurationMs(values['sla-p95']!),
    minCompleteness: parsePercent(values['min-completeness']!),
    // 0 runs the bridge alone: nothing stores the readings, and the audit must say so.
    aggregators: count('aggregators', Number(values.aggregators)),
    settleTimeoutMs: parseDurationMs(values['settle-timeout']!),
    bridges: positive('bridges', count('bridges', Number(values.bridges))),
    bridgeClockSkewMs: clockSkewMs(values['bridge-clock-skew']!),
    log: (line) => process.stdout.write(`${line}\n`),
  };
} catch (error) {
  process.stderr.write(`${errorMessage(error)}\n`);
  process.exit(2);
}

process.stdout.write(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}\n`);
try {
  const result = await runEndToEnd(options);
  process.stdout.write(`${textReport(result, options)}\n`);
  try {
    process.stdout.write(`report: ${writeHtmlReport(result, options, join(REPO_ROOT, 'reports'))}\n`);
  } catch (error) {
    process.stdout.write(`report: the HTML page was not written (${errorMessage(error)})\n`);
  }
  process.stdout.write(`${jsonSummary(result)}\n`);
  process.exit(result.verdict.exitCode);
} catch (error) {
  // runEndToEnd reports the run's own failures; this is a defect of the load test itself. Still end with the JSON line.
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.stdout.write(`${JSON.stringify({ bench: 'e2e', lost: null, lost_sample: [], settle: 'not-reached', settle_timed_out: false, sla_met: false, passed: false, reasons: [`load test failed: ${errorMessage(error)}`] })}\n`);
  process.exit(1);
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a number above 0, got '${values[name as keyof typeof values]}'`);
  return value;
}

function payloadFormat(value: string): PayloadFormat {
  if (!(PAYLOAD_FORMATS as readonly string[]).includes(value)) throw new Error(`--payload must be one of ${PAYLOAD_FORMATS.join(', ')}, got '${value}'`);
  return value as PayloadFormat;
}

/** '30s' → −30 000 (the clock behind), '+30s' → +30 000 (ahead); '-30s' is the same as '30s'. */
function clockSkewMs(text: string): number {
  const trimmed = text.trim();
  const ahead = trimmed.startsWith('+');
  const size = parseDurationMs(trimmed.replace(/^[+-]/, ''));
  return ahead ? size : -size;
}

function count(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a whole number, 0 or more, got '${values[name as keyof typeof values]}'`);
  return value;
}
