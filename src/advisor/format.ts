import type { DelayAnalysis } from './analyze.ts';
import { trimEmpty } from './stats.ts';
import type { AdaptiveComparison, Recommendation, Sla } from './recommend.ts';
import { latencyOf } from './recommend.ts';
import type { SimulationResult } from './simulate.ts';
import type { DistributionSummary } from './stats.ts';
import { formatBytes, formatDuration, formatPercent } from './units.ts';

/** Plain-text renderings for the terminal: aligned tables, a few sentences. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

const iso = (ms: number): string => (Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms));

function summaryCells(summary: DistributionSummary): string[] {
  return [
    String(summary.count),
    formatDuration(summary.p50),
    formatDuration(summary.p90),
    formatDuration(summary.p95),
    formatDuration(summary.p99),
    formatDuration(summary.p999),
    formatDuration(summary.max),
  ];
}

const SUMMARY_HEADER = ['readings', 'P50', 'P90', 'P95', 'P99', 'P99.9', 'max'];

export function formatAnalysis(analysis: DelayAnalysis): string {
  const out: string[] = [];
  out.push(
    `Arrival delays (ingest − event time) of ${analysis.readings} readings from ${analysis.devices} devices, ` +
      `ingested ${iso(analysis.firstIngest)} … ${iso(analysis.lastIngest)} (${formatDuration(analysis.lastIngest - analysis.firstIngest)})`,
  );
  out.push('');
  out.push(
    table(
      ['', ...SUMMARY_HEADER],
      [['overall', ...summaryCells(analysis.overall)], ...analysis.perPartition.filter((entry) => entry.summary.count > 0).map((entry) => [`partition ${entry.partition}`, ...summaryCells(entry.summary)])],
    ),
  );
  if (analysis.negative > 0) out.push(`${analysis.negative} readings (${formatPercent(analysis.negative / analysis.readings)}) are stamped ahead of their ingest time.`);
  out.push('');
  out.push('Worst devices by P99 delay (devices with skewed clocks listed separately):');
  out.push(table(['device', 'partition', ...SUMMARY_HEADER], analysis.worstDevices.map((device) => [deviceName(device), String(device.partition), ...summaryCells(device.summary)])));
  out.push('');
  if (analysis.skewedDevices.length === 0) {
    out.push(`Clock skew: no device's median delay is below −${formatDuration(analysis.aheadToleranceMs)} or above ${formatDuration(analysis.behindThresholdMs)}.`);
  } else {
    out.push(`Clock skew: ${analysis.skewedDevices.length} device(s) flagged (median delay below −${formatDuration(analysis.aheadToleranceMs)}: ahead; above ${formatDuration(analysis.behindThresholdMs)}: behind):`);
    for (const device of analysis.skewedDevices.slice(0, 20)) {
      out.push(
        `  ${deviceName(device)} runs ${device.clock === 'ahead' ? 'AHEAD' : 'BEHIND'}: median delay ${formatDuration(device.summary.p50)}, ` +
          `${formatPercent(device.negativeShare, 1)} of its ${device.summary.count} readings stamped in the future`,
      );
    }
  }
  out.push('');
  out.push(`Drift over time (P95 moved by ${formatDuration(analysis.driftP95Ms)} from the first to the last slice):`);
  out.push(table(['ingested from', 'readings', 'P50', 'P95', 'P99'], analysis.drift.map((bucket) => [iso(bucket.from), String(bucket.count), formatDuration(bucket.p50), formatDuration(bucket.p95), formatDuration(bucket.p99)])));
  out.push('');
  out.push('Histogram (log scale):');
  out.push(asciiHistogram(analysis));
  return out.join('\n');
}

function deviceName(device: { tenant: string; device: string }): string {
  return device.tenant === 'trace' ? device.device : `${device.tenant}/${device.device}`;
}

function asciiHistogram(analysis: DelayAnalysis): string {
  const bins = trimEmpty(analysis.histogram);
  // Merge to about 24 rows: each row spans whole bins.
  const perRow = Math.max(1, Math.ceil(bins.length / 24));
  const rows: { label: string; count: number }[] = [];
  for (let i = 0; i < bins.length; i += perRow) {
    const group = bins.slice(i, i + perRow);
    const first = group[0]!;
    const last = group[group.length - 1]!;
    rows.push({ label: `${formatDuration(first.from)} … ${formatDuration(last.to)}`, count: group.reduce((sum, bin) => sum + bin.count, 0) });
  }
  const max = Math.max(1, ...rows.map((row) => row.count));
  const width = Math.max(...rows.map((row) => row.label.length));
  return rows.map((row) => `${row.label.padStart(width)} | ${'#'.repeat(Math.round((row.count / max) * 50))} ${row.count}`).join('\n');
}

export function resultRow(result: SimulationResult, sla: Pick<Sla, 'latency'>, marks = ''): string[] {
  const latency = latencyOf(result, sla);
  return [
    marks + result.label,
    formatPercent(result.completeness),
    formatDuration(latency.p50),
    formatDuration(latency.p95),
    formatDuration(latency.p99),
    formatDuration(result.windowLatency.p95),
    formatDuration(result.meanDelayMs),
    String(result.peakOpenWindows),
    formatBytes(result.peakStateBytes),
    `${Math.round(result.cpuNsPerReading)}`,
  ];
}

export const RESULT_HEADER = ['configuration', 'complete', 'P50', 'P95', 'P99', 'win P95', 'mean D', 'open win', 'state', 'ns/reading'];

export function formatResults(results: readonly SimulationResult[], sla: Pick<Sla, 'latency'>, mark?: (result: SimulationResult) => string): string {
  const lines = [
    `Latency columns: ${sla.latency === 'window' ? 'window end' : 'reading ingest'} → row visible (emission + flush); win P95: window end → visible; ` +
      'mean D: the watermark delay; state: peak estimated window state over all partitions.',
    table(RESULT_HEADER, results.map((result) => resultRow(result, sla, mark?.(result) ?? ''))),
  ];
  const unresolved = results.find((result) => result.unresolved > 0);
  if (unresolved) {
    lines.push(`${unresolved.unresolved} values sat in windows that never closed (event times far ahead of the log); they are left out of completeness.`);
  }
  return lines.join('\n');
}

export function formatRecommendation(recommendation: Recommendation, results: readonly SimulationResult[], comparisons: readonly AdaptiveComparison[]): string {
  const sla = recommendation.sla;
  const out: string[] = [];
  out.push(`SLA: P95 ${sla.latency} latency <= ${formatDuration(sla.p95LatencyMs)}, completeness >= ${formatPercent(sla.minCompleteness)}`);
  out.push(`${recommendation.ranked.length} of ${results.length} configurations meet it.`);
  out.push('');
  const rank = new Map(recommendation.ranked.map((result, index) => [result, index + 1]));
  out.push(formatResults(results, sla, (result) => (result === recommendation.recommended ? '*   ' : rank.has(result) ? `${rank.get(result)}`.padStart(3) + ' ' : '    ')));
  out.push('(* recommended; numbers rank the configurations that meet the SLA)');
  out.push('');
  out.push(recommendation.explanation);
  const best = pickComparison(comparisons, recommendation);
  if (best) out.push(`Adaptive vs fixed: ${best.sentence}`);
  if (recommendation.yaml) {
    out.push('');
    out.push(recommendation.yaml.trimEnd());
  }
  return out.join('\n');
}

/**
 * The comparison worth a sentence: for the recommended setting if it is adaptive, else for the
 * best-ranked adaptive setting that meets the SLA, else for the most complete adaptive one.
 */
export function pickComparison(comparisons: readonly AdaptiveComparison[], recommendation: Recommendation): AdaptiveComparison | undefined {
  for (const ranked of recommendation.ranked) {
    const comparison = comparisons.find((candidate) => candidate.adaptive === ranked);
    if (comparison) return comparison;
  }
  return [...comparisons].sort((a, b) => b.adaptive.completeness - a.adaptive.completeness)[0];
}
