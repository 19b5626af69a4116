import type { DelayAnalysis } from './analyze.ts';
import { RESULT_HEADER, pickComparison, resultRow } from './format.ts';
import { latencyOf, type AdaptiveComparison, type Recommendation } from './recommend.ts';
import type { SimulationResult } from './simulate.ts';
import { trimEmpty } from './stats.ts';
import { formatBytes, formatDuration, formatPercent } from './units.ts';

/**
 * The advisor's report as ONE self-contained HTML file: inline SVG charts and CSS, no script, no
 * network, no build step. Charts: the delay histogram, the delay drift over time, the
 * latency–completeness frontier of all candidates with the SLA bounds and the recommendation
 * marked, and the memory of each configuration.
 */
export interface ReportInput {
  readonly title: string;
  readonly source: string;
  readonly analysis: DelayAnalysis;
  readonly results: readonly SimulationResult[];
  readonly recommendation: Recommendation | null;
  readonly comparisons: readonly AdaptiveComparison[];
  readonly generatedAt: string;
}

const W = 760;
const H = 300;
const M = { left: 64, right: 20, top: 16, bottom: 44 };

export function renderReport(input: ReportInput): string {
  const { analysis, results, recommendation } = input;
  const sla = recommendation?.sla ?? { latency: 'end-to-end' as const, p95LatencyMs: Number.NaN, minCompleteness: Number.NaN };
  const sections: string[] = [];
  sections.push(`<h1>${escape(input.title)}</h1>
<p class="meta">${escape(input.source)} · ${analysis.readings} readings · ${analysis.devices} devices · generated ${escape(input.generatedAt)}</p>`);
  if (recommendation) {
    sections.push(`<h2>Recommendation</h2>
<p>SLA: P95 ${escape(sla.latency)} latency ≤ <b>${formatDuration(sla.p95LatencyMs)}</b>, completeness ≥ <b>${formatPercent(sla.minCompleteness)}</b>.
${recommendation.ranked.length} of ${results.length} configurations meet it.</p>
<p class="verdict">${escape(recommendation.explanation)}</p>
${input.comparisons.length > 0 ? `<p>${escape(bestComparisonSentence(input.comparisons, recommendation))}</p>` : ''}
${recommendation.yaml ? `<pre>${escape(recommendation.yaml)}</pre>` : ''}`);
  }
  sections.push(`<h2>Arrival delays</h2>
<p>P50 ${formatDuration(analysis.overall.p50)} · P90 ${formatDuration(analysis.overall.p90)} · P95 ${formatDuration(analysis.overall.p95)} ·
P99 ${formatDuration(analysis.overall.p99)} · P99.9 ${formatDuration(analysis.overall.p999)} · max ${formatDuration(analysis.overall.max)}
${analysis.negative > 0 ? ` · ${analysis.negative} stamped in the future` : ''}</p>
${histogramSvg(analysis)}
${driftSvg(analysis)}
${analysis.skewedDevices.length > 0 ? `<p><b>Clock skew:</b> ${analysis.skewedDevices
    .slice(0, 10)
    .map((device) => `${escape(device.device)} runs ${device.clock} (median delay ${formatDuration(device.summary.p50)})`)
    .join('; ')}</p>` : '<p>No device clock looks skewed.</p>'}`);
  if (results.length > 0) {
    sections.push(`<h2>Latency vs completeness</h2>
<p>Each point is one configuration replayed through the aggregator's PartitionProcessor. The line joins the configurations no other one beats on both axes.
The shaded area meets the SLA.</p>
${frontierSvg(results, recommendation)}
<h2>Memory per configuration</h2>
${memorySvg(results, recommendation)}
<h2>All configurations</h2>
${resultsTable(results, recommendation)}`);
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(input.title)}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:${W + 40}px;color:#222}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.meta{color:#666}.verdict{background:#f3f8ee;border-left:4px solid #5a9a2a;padding:8px 12px}
pre{background:#f6f6f6;padding:10px;overflow:auto;font-size:12px}
table{border-collapse:collapse;font-size:12px}td,th{padding:2px 6px;text-align:right;border-bottom:1px solid #eee}
td:first-child,th:first-child{text-align:left}tr.rec{background:#fff3c4;font-weight:bold}tr.ok td:first-child{color:#2a6a0a}
svg text{font:11px system-ui,sans-serif;fill:#333}
</style></head><body>
${sections.join('\n')}
</body></html>
`;
}

function bestComparisonSentence(comparisons: readonly AdaptiveComparison[], recommendation: Recommendation): string {
  const pick = pickComparison(comparisons, recommendation);
  return pick ? `Adaptive vs fixed: ${pick.sentence}` : '';
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (value: number): string => (Number.isFinite(value) ? String(Math.round(value * 10) / 10) : '0');

function histogramSvg(analysis: DelayAnalysis): string {
  const bins = trimEmpty(analysis.histogram);
  if (bins.length === 0) return '';
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const maxCount = Math.max(...bins.map((bin) => bin.count), 1);
  const barW = plotW / bins.length;
  const bars = bins
    .map((bin, index) => {
      const h = (bin.count / maxCount) * plotH;
      const x = M.left + index * barW;
      const color = bin.to <= 0 ? '#c0392b' : '#3a7bd5';
      return `<rect x="${fmt(x)}" y="${fmt(M.top + plotH - h)}" width="${fmt(Math.max(1, barW - 1))}" height="${fmt(h)}" fill="${color}"><title>${formatDuration(bin.from)} … ${formatDuration(bin.to)}: ${bin.count}</title></rect>`;
    })
    .join('');
  const tickEvery = Math.max(1, Math.ceil(bins.length / 10));
  const labels = bins
    .map((bin, index) =>
      index % tickEvery === 0
        ? `<text x="${fmt(M.left + index * barW)}" y="${H - M.bottom + 14}" transform="rotate(30 ${fmt(M.left + index * barW)} ${H - M.bottom + 14})">${formatDuration(bin.from)}</text>`
        : '',
    )
    .join('');
  const quantileMarks = (['p50', 'p95', 'p99'] as const)
    .map((key, order) => {
      const value = analysis.overall[key];
      const index = bins.findIndex((bin) => value >= bin.from && value < bin.to);
      if (index < 0) return '';
      const x = M.left + (index + 0.5) * barW;
      return `<line x1="${fmt(x)}" x2="${fmt(x)}" y1="${M.top}" y2="${M.top + plotH}" stroke="#333" stroke-dasharray="3 3"/><text x="${fmt(x + 3)}" y="${M.top + 10 + order * 13}">${key.toUpperCase()} ${formatDuration(value)}</text>`;
    })
    .join('');
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="delay histogram">
${axes(plotW, plotH, 'arrival delay (log scale; red: stamped in the future)', 'readings', String(maxCount))}${bars}${labels}${quantileMarks}</svg>`;
}

/** About `count` round tick values (1, 2, 5 × 10^k) from 0 to max. */
function niceTicks(max: number, count: number): number[] {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= raw) ?? raw;
  const ticks: number[] = [];
  for (let value = 0; value <= max; value += step) ticks.push(value);
  return ticks;
}

function axes(plotW: number, plotH: number, xLabel: string, yLabel: string, yMax: string): string {
  return `<line x1="${M.left}" y1="${M.top + plotH}" x2="${M.left + plotW}" y2="${M.top + plotH}" stroke="#999"/>
<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + plotH}" stroke="#999"/>
<text x="${M.left + plotW / 2}" y="${H - 4}" text-anchor="middle">${escape(xLabel)}</text>
<text x="14" y="${M.top + plotH / 2}" transform="rotate(-90 14 ${M.top + plotH / 2})" text-anchor="middle">${escape(yLabel)}</text>
<text x="${M.left - 4}" y="${M.top + 8}" text-anchor="end">${escape(yMax)}</text>`;
}

function driftSvg(analysis: DelayAnalysis): string {
  const drift = analysis.drift;
  if (drift.length < 2) return '';
  const plotW = W - M.left - M.right;
  const plotH = H - M.top - M.bottom;
  const t0 = drift[0]!.from;
  const t1 = drift[drift.length - 1]!.to;
  const maxY = Math.max(...drift.map((bucket) => bucket.p99), 1);
  const x = (t: number): number => M.left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v: number): number => M.top + plotH - (Math.max(0, v) / maxY) * plotH;
  const line = (key: 'p50' | 'p95' | 'p99', color: string): string =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${drift.map((bucket) => `${fmt(x((bucket.from + bucket.to) / 2))},${fmt(y(bucket[key]))}`).join(' ')}"/>` +
    `<text x="${fmt(M.left + plotW - 30)}" y="${fmt(y(drift[drift.length - 1]![key]) - 4)}" fill="${color}">${key.toUpperCase()}</text>`;
  return `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="delay drift">
${axes(plotW, plotH, `ingest time (${formatDuration(t1 - t0)}; delay P50/P95/P99 per slice)`, 'delay', formatDuration(maxY))}
${line('p50', '#3a7bd5')}${line('p95', '#e67e22')}${line('p99', '#c0392b')}</svg>`;
}

/** Completeness on a "nines" scale: 90 % → 1, 99 % → 2, 99.9 % → 3, … (capped at 6). */
function nines(completeness: number): number {
  const missed = 1 - completeness;
  return missed <= 1e-6 ? 6 : Math.min(6, -Math.log10(missed));
}

function frontierSvg(results: readonly SimulationResult[], recommendation: Recommendation | null): string {
  const sla = recommendation?.sla;
  const latency = { latency: sla?.latency ?? ('end-to-end' as const) };
  const plotW = W - M.left - M.right;
  const plotH = H + 80 - M.top - M.bottom;
  const height = H + 80;
  const points = results.map((result) => ({ result, p95: latencyOf(result, latency).p95, y: nines(result.completeness) }));
  const maxX = Math.max(...points.map((point) => (Number.isFinite(point.p95) ? point.p95 : 0)), sla?.p95LatencyMs ?? 0, 1) * 1.08;
  const minY = Math.max(0, Math.floor(Math.min(...points.map((point) => point.y), sla ? nines(sla.minCompleteness) : 6)));
  const maxY = Math.min(6, Math.ceil(Math.max(...points.map((point) => point.y), 1)) + 0.2);
  const x = (v: number): number => M.left + (v / maxX) * plotW;
  const y = (v: number): number => M.top + plotH - ((v - minY) / Math.max(0.1, maxY - minY)) * plotH;
  const out: string[] = [];
  out.push(`<line x1="${M.left}" y1="${M.top + plotH}" x2="${M.left + plotW}" y2="${M.top + plotH}" stroke="#999"/>`);
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + plotH}" stroke="#999"/>`);
  for (let level = Math.ceil(minY); level <= Math.floor(maxY); level++) {
    const label = level >= 6 ? '100%' : formatPercent(1 - 10 ** -level, 4);
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${fmt(y(level))}" y2="${fmt(y(level))}" stroke="#eee"/><text x="${M.left - 4}" y="${fmt(y(level) + 4)}" text-anchor="end">${label}</text>`);
  }
  for (const value of niceTicks(maxX, 6)) {
    out.push(`<text x="${fmt(x(value))}" y="${M.top + plotH + 14}" text-anchor="middle">${formatDuration(value)}</text>`);
  }
  out.push(`<text x="${M.left + plotW / 2}" y="${height - 4}" text-anchor="middle">P95 ${escape(latency.latency)} latency</text>`);
  out.push(`<text x="14" y="${M.top + plotH / 2}" transform="rotate(-90 14 ${M.top + plotH / 2})" text-anchor="middle">completeness</text>`);
  if (sla) {
    const sx = x(sla.p95LatencyMs);
    const sy = y(nines(sla.minCompleteness));
    out.push(`<rect x="${M.left}" y="${M.top}" width="${fmt(Math.max(0, sx - M.left))}" height="${fmt(Math.max(0, sy - M.top))}" fill="#5a9a2a" opacity="0.08"/>`);
    out.push(`<line x1="${fmt(sx)}" x2="${fmt(sx)}" y1="${M.top}" y2="${M.top + plotH}" stroke="#5a9a2a" stroke-dasharray="6 4"/>`);
    out.push(`<line x1="${M.left}" x2="${M.left + plotW}" y1="${fmt(sy)}" y2="${fmt(sy)}" stroke="#5a9a2a" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${fmt(sx + 4)}" y="${M.top + 12}" fill="#2a6a0a">SLA P95 ${formatDuration(sla.p95LatencyMs)}</text>`);
    out.push(`<text x="${M.left + 4}" y="${fmt(sy - 4)}" fill="#2a6a0a">SLA ${formatPercent(sla.minCompleteness)}</text>`);
  }
  const frontier = points
    .filter((point) => Number.isFinite(point.p95))
    .filter((point) => !points.some((other) => other !== point && other.p95 <= point.p95 && other.y >= point.y && (other.p95 < point.p95 || other.y > point.y)))
    .sort((a, b) => a.p95 - b.p95);
  if (frontier.length > 1) {
    out.push(`<polyline fill="none" stroke="#888" stroke-width="1.5" points="${frontier.map((point) => `${fmt(x(point.p95))},${fmt(y(point.y))}`).join(' ')}"/>`);
  }
  for (const point of points) {
    if (!Number.isFinite(point.p95)) continue;
    const adaptive = point.result.candidate.watermark.kind === 'adaptive';
    const cx = x(point.p95);
    const cy = y(point.y);
    const title = `<title>${escape(point.result.label)}: P95 ${formatDuration(point.p95)}, ${formatPercent(point.result.completeness)} complete</title>`;
    out.push(
      adaptive
        ? `<rect x="${fmt(cx - 4)}" y="${fmt(cy - 4)}" width="8" height="8" fill="#e67e22" opacity="0.85">${title}</rect>`
        : `<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="4" fill="#3a7bd5" opacity="0.85">${title}</circle>`,
    );
  }
  const chosen = recommendation?.recommended;
  if (chosen) {
    const cx = x(latencyOf(chosen, latency).p95);
    const cy = y(nines(chosen.completeness));
    out.push(`<circle cx="${fmt(cx)}" cy="${fmt(cy)}" r="10" fill="none" stroke="#d4a000" stroke-width="3"/>`);
    out.push(`<text x="${fmt(cx + 13)}" y="${fmt(cy + 4)}" font-weight="bold">recommended: ${escape(chosen.label)}</text>`);
  }
  const legendY = M.top + plotH - 14;
  const legendX = M.left + plotW - 170;
  out.push(`<circle cx="${legendX}" cy="${legendY}" r="4" fill="#3a7bd5"/><text x="${legendX + 8}" y="${legendY + 4}">fixed delay</text>`);
  out.push(`<rect x="${legendX + 86}" y="${legendY - 4}" width="8" height="8" fill="#e67e22"/><text x="${legendX + 100}" y="${legendY + 4}">adaptive</text>`);
  return `<svg width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-label="latency-completeness frontier">${out.join('')}</svg>`;
}

function memorySvg(results: readonly SimulationResult[], recommendation: Recommendation | null): string {
  const rowH = 16;
  const labelW = 300;
  const height = results.length * rowH + 30;
  const maxBytes = Math.max(...results.map((result) => result.peakStateBytes), 1);
  const barMax = W - labelW - 160;
  const rows = results
    .map((result, index) => {
      const y = 10 + index * rowH;
      const w = (result.peakStateBytes / maxBytes) * barMax;
      const color = result === recommendation?.recommended ? '#d4a000' : result.candidate.watermark.kind === 'adaptive' ? '#e67e22' : '#3a7bd5';
      return `<text x="${labelW - 6}" y="${y + 11}" text-anchor="end">${escape(result.label)}</text>` +
        `<rect x="${labelW}" y="${y + 2}" width="${fmt(Math.max(1, w))}" height="${rowH - 4}" fill="${color}"/>` +
        `<text x="${fmt(labelW + w + 4)}" y="${y + 11}">${formatBytes(result.peakStateBytes)} · ${result.peakOpenWindows} open</text>`;
    })
    .join('');
  return `<svg width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-label="memory per configuration">${rows}
<text x="${labelW}" y="${height - 4}">peak window state, all partitions (estimatedStateBytes) · peak open windows</text></svg>`;
}

function resultsTable(results: readonly SimulationResult[], recommendation: Recommendation | null): string {
  const sla = recommendation?.sla ?? { latency: 'end-to-end' as const };
  const meeting = new Set(recommendation?.ranked ?? []);
  const head = `<tr>${RESULT_HEADER.map((cell) => `<th>${escape(cell)}</th>`).join('')}</tr>`;
  const body = results
    .map((result) => {
      const cls = result === recommendation?.recommended ? 'rec' : meeting.has(result) ? 'ok' : '';
      return `<tr class="${cls}">${resultRow(result, sla).map((cell) => `<td>${escape(cell)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  return `<table>${head}\n${body}</table><p class="meta">Bold: recommended; green names: meet the SLA. Latency: P50/P95/P99 ${escape(sla.latency)}; win P95: window end → visible.</p>`;
}
