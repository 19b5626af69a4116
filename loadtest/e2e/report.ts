import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EndToEndOptions, EndToEndResult } from './run.ts';

/**
 * The run's report for a person: a self-contained HTML page (inline SVG, no scripts, no network)
 * with latency percentiles over time against the SLA, throughput over time, and where the run
 * stands between latency and completeness; plus the text summary printed at the end of a run.
 */
export function textReport(result: EndToEndResult, options: EndToEndOptions): string {
  const pct = (x: number): string => `${(x * 100).toFixed(3)} %`;
  const lost = result.lost === null ? 'unknown' : String(result.lost);
  const lines = [
    '',
    '== end-to-end report ==',
    `run ${result.runId}  (database ${result.database}, table ${result.table})`,
    `throughput      ${Math.round(result.readingsPerS).toLocaleString('en-US')} readings/s acknowledged (${result.fleet.acked.toLocaleString('en-US')} in ${result.fleet.seconds.toFixed(1)} s, ${result.fleet.failed} failed)`,
    `MQTT ack        p50 ${result.fleet.ackLatencyMs.p50} ms, p95 ${result.fleet.ackLatencyMs.p95} ms, p99 ${result.fleet.ackLatencyMs.p99} ms (publish → PUBACK, after Kafka's ack)`,
    `settling        ${settleText(result.settle)}`,
    `end to end      p50 ${sec(result.latency.p50)}, p95 ${sec(result.latency.p95)}, p99 ${sec(result.latency.p99)}, max ${sec(result.latency.max)} (intake → aggregate queryable; ${result.latency.readings.toLocaleString('en-US')} readings)`,
    `SLA             p95 ≤ ${sec(options.slaP95Ms)} and completeness ≥ ${pct(options.minCompleteness)}: ${result.slaMet ? 'MET' : 'MISSED'}`,
    `completeness    ${pct(result.completeness)} (${result.countedValues.toLocaleString('en-US')} counted of ${result.acceptedValues.toLocaleString('en-US')} accepted; late dropped ${result.lateDropped})`,
    `audit           lost ${lost}, duplicated ${result.duplicated ?? 'unknown'} (acknowledged ids vs readings_raw; keys and counts under FINAL)`,
    ...(result.lostSample.length > 0 ? [`lost (sample)   ${result.lostSample.join(', ')}`] : []),
    'processes       ' + result.processes.map((p) => `${p.name} ${p.cores} cores ${p.peakRssMb} MB`).join(', '),
    `verdict         ${result.verdict.passed ? 'PASSED' : 'FAILED'}`,
    ...result.verdict.reasons.map((reason) => `  - ${reason}`),
  ];
  return lines.join('\n');
}

/** The one JSON line a release check ends with (machine-read: keep the field names stable). */
export function jsonSummary(result: EndToEndResult): string {
  return JSON.stringify({
    bench: 'e2e',
    readings_per_s: Math.round(result.readingsPerS),
    acknowledged: result.fleet.acked,
    e2e_p50_ms: result.latency.p50,
    e2e_p95_ms: result.latency.p95,
    e2e_p99_ms: result.latency.p99,
    completeness: Number(result.completeness.toFixed(6)),
    late_dropped: result.lateDropped,
    lost: result.lost,
    lost_sample: result.lostSample,
    duplicated: result.duplicated,
    settle: result.settle.kind,
    settle_timed_out: result.settle.kind === 'timed-out',
    sla_met: result.verdict.passed,
    passed: result.verdict.passed,
    reasons: result.verdict.reasons,
  });
}

function settleText(settle: EndToEndResult['settle']): string {
  switch (settle.kind) {
    case 'settled':
      return `settled after ${sec(settle.waitedMs)}`;
    case 'timed-out':
      return `NOT settled: gave up after ${sec(settle.waitedMs)}${settle.lastError ? ` (last error: ${settle.lastError})` : ''}`;
    case 'service-exited':
      return `NOT settled: stopped waiting after ${sec(settle.waitedMs)}, ${settle.exited.map((service) => `${service.name} exited (${service.exit})`).join(', ')}`;
    case 'not-reached':
      return 'not reached (the run failed before the fleet finished)';
  }
}

function sec(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

export function writeHtmlReport(result: EndToEndResult, options: EndToEndOptions, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `e2e-${result.runId}.html`);
  const timeline = result.latencyOverTime;
  const t0 = timeline[0]?.bucketMs ?? 0;
  const latencyChart = lineChart(
    'End-to-end latency by intake time (5 s buckets)',
    's',
    [
      { name: 'p50', color: '#2b8a3e', points: timeline.map((b) => [(b.bucketMs - t0) / 1000, b.p50 / 1000]) },
      { name: 'p95', color: '#e67700', points: timeline.map((b) => [(b.bucketMs - t0) / 1000, b.p95 / 1000]) },
      { name: 'p99', color: '#c92a2a', points: timeline.map((b) => [(b.bucketMs - t0) / 1000, b.p99 / 1000]) },
    ],
    options.slaP95Ms / 1000,
  );
  const throughputChart = lineChart('Readings acknowledged per second', 'readings/s', [
    { name: 'acked', color: '#1971c2', points: result.fleet.ackedPerSecond.map((value, second) => [second, value]) },
  ]);
  const tradeoff = scatter(
    'Latency–completeness of this run',
    [{ x: result.latency.p95 / 1000, y: result.completeness * 100, label: `this run: p95 ${sec(result.latency.p95)}, ${(result.completeness * 100).toFixed(3)} %` }],
    options.slaP95Ms / 1000,
    options.minCompleteness * 100,
  );
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>Telemetry pipeline run ${result.runId}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#212529}h1{font-size:1.4em}table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #dee2e6;text-align:left}.ok{color:#2b8a3e;font-weight:600}.bad{color:#c92a2a;font-weight:600}svg{background:#fff;border:1px solid #dee2e6;margin:1em 1em 0 0}</style></head><body>
<h1>End-to-end run ${result.runId}: SLA <span class="${result.slaMet ? 'ok">MET' : 'bad">MISSED'}</span></h1>
<table>
<tr><th>throughput</th><td>${Math.round(result.readingsPerS).toLocaleString('en-US')} readings/s</td></tr>
<tr><th>end-to-end latency</th><td>p50 ${sec(result.latency.p50)} · p95 ${sec(result.latency.p95)} · p99 ${sec(result.latency.p99)} (SLA p95 ≤ ${sec(options.slaP95Ms)})</td></tr>
<tr><th>completeness</th><td>${(result.completeness * 100).toFixed(3)} % (late dropped ${result.lateDropped})</td></tr>
<tr><th>audit</th><td>lost ${result.lost ?? 'unknown'} · duplicated ${result.duplicated ?? 'unknown'}${result.lostSample.length > 0 ? ` (lost, for example: ${escapeHtml(result.lostSample.join(', '))})` : ''}</td></tr>
<tr><th>verdict</th><td class="${result.verdict.passed ? 'ok">PASSED' : `bad">FAILED`}</td></tr>${result.verdict.reasons.map((reason) => `<tr><th></th><td>${escapeHtml(reason)}</td></tr>`).join('')}
<tr><th>processes</th><td>${result.processes.map((p) => `${p.name}: ${p.cores} cores, ${p.peakRssMb} MB`).join('<br>')}</td></tr>
<tr><th>load</th><td>${options.devices} devices, ${options.ratePerSecond} readings/s target, ${options.batchSize} per message, ${options.patterns} arrivals, ${options.durationS} s, ${options.windowSizeMs / 1000} s tumbling windows, adaptive watermark</td></tr>
</table>
${latencyChart}${throughputChart}${tradeoff}
</body></html>`;
  writeFileSync(file, html);
  return file;
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Series {
  readonly name: string;
  readonly color: string;
  readonly points: (readonly [number, number])[];
}

const W = 640;
const H = 300;
const M = { left: 60, right: 20, top: 30, bottom: 40 };

function lineChart(title: string, unit: string, series: Series[], threshold?: number): string {
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...all.map((p) => p[0]));
  const maxY = Math.max(1e-9, threshold ?? 0, ...all.map((p) => p[1])) * 1.1;
  const x = (v: number): number => M.left + (v / maxX) * (W - M.left - M.right);
  const y = (v: number): number => H - M.bottom - (v / maxY) * (H - M.top - M.bottom);
  const lines = series
    .map((s) => `<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${s.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}"/>`)
    .join('');
  const legend = series.map((s, i) => `<text x="${M.left + 10 + i * 70}" y="${M.top + 14}" fill="${s.color}" font-size="12">${s.name}</text>`).join('');
  const line = threshold === undefined ? '' : `<line x1="${M.left}" x2="${W - M.right}" y1="${y(threshold)}" y2="${y(threshold)}" stroke="#868e96" stroke-dasharray="6 4"/><text x="${W - M.right - 60}" y="${y(threshold) - 4}" font-size="11" fill="#868e96">SLA ${threshold}</text>`;
  return `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg"><text x="${M.left}" y="18" font-size="14" font-weight="600">${title}</text>${axes(maxX, maxY, x, y, 'seconds into the run', unit)}${line}${lines}${legend}</svg>`;
}

function scatter(title: string, points: { x: number; y: number; label: string }[], slaX: number, slaY: number): string {
  const maxX = Math.max(slaX, ...points.map((p) => p.x)) * 1.2;
  const minY = Math.min(slaY, ...points.map((p) => p.y)) - 0.05;
  const x = (v: number): number => M.left + (v / maxX) * (W - M.left - M.right);
  const y = (v: number): number => H - M.bottom - ((v - minY) / (100 - minY)) * (H - M.top - M.bottom);
  const dots = points.map((p) => `<circle cx="${x(p.x)}" cy="${y(p.y)}" r="6" fill="#1971c2"/><text x="${x(p.x) + 10}" y="${y(p.y) + 4}" font-size="12">${p.label}</text>`).join('');
  return `<svg width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg"><text x="${M.left}" y="18" font-size="14" font-weight="600">${title}</text>
<rect x="${M.left}" y="${y(100)}" width="${x(slaX) - M.left}" height="${y(slaY) - y(100)}" fill="#d3f9d8" opacity="0.6"/>
<text x="${M.left + 6}" y="${y(100) + 16}" font-size="11" fill="#2b8a3e">meets the SLA</text>
<text x="${M.left}" y="${H - 8}" font-size="11">p95 end-to-end latency (s)</text><text x="4" y="${M.top}" font-size="11">completeness %</text>${dots}</svg>`;
}

function axes(maxX: number, maxY: number, x: (v: number) => number, y: (v: number) => number, xLabel: string, yLabel: string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    `<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="#495057"/>` +
    `<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="#495057"/>` +
    ticks.map((t) => `<text x="${x(t * maxX) - 8}" y="${H - M.bottom + 16}" font-size="11">${Math.round(t * maxX)}</text>`).join('') +
    ticks.map((t) => `<text x="8" y="${y(t * maxY) + 4}" font-size="11">${(t * maxY).toPrecision(3)}</text>`).join('') +
    `<text x="${W / 2 - 40}" y="${H - 6}" font-size="11">${xLabel}</text><text x="${M.left + 4}" y="${M.top - 4}" font-size="11">${yLabel}</text>`
  );
}
