import { stringify } from 'yaml';
import { parseConfig } from '../config/load.ts';
import type { Guarantee, PipelineConfig } from '../config/schema.ts';
import { describeClosing, describeDeviceClocks, describeWatermark, describeWindow, type Candidate } from './candidates.ts';
import type { SimulationResult } from './simulate.ts';
import type { LatencySummary } from './stats.ts';
import { formatDuration, formatPercent } from './units.ts';

/**
 * From simulated candidates to a recommendation: which configurations meet the SLA, the one to
 * use, a sentence on the trade-off, and the pipeline entry as the aggregator's YAML.
 *
 * Ranking among the configurations that meet the SLA: by default the lowest P95 latency first
 * (then the higher completeness, then the smaller state); with `prefer: 'completeness'` the
 * highest completeness first (then the lower latency).
 */
export interface Sla {
  readonly p95LatencyMs: number;
  readonly minCompleteness: number;
  /** Which latency the P95 bound applies to: reading ingest → visible (default), or window end → visible. */
  readonly latency: 'end-to-end' | 'window';
}

export type Preference = 'latency' | 'completeness';

export function latencyOf(result: SimulationResult, sla: Pick<Sla, 'latency'>): LatencySummary {
  return sla.latency === 'window' ? result.windowLatency : result.endToEndLatency;
}

export function meetsSla(result: SimulationResult, sla: Sla): boolean {
  const p95 = latencyOf(result, sla).p95;
  return Number.isFinite(p95) && p95 <= sla.p95LatencyMs && result.completeness >= sla.minCompleteness;
}

export function rankCandidates(results: readonly SimulationResult[], sla: Sla, prefer: Preference = 'latency'): SimulationResult[] {
  const p95 = (result: SimulationResult): number => latencyOf(result, sla).p95;
  const byLatency = (a: SimulationResult, b: SimulationResult): number => p95(a) - p95(b);
  const byCompleteness = (a: SimulationResult, b: SimulationResult): number => b.completeness - a.completeness;
  const byState = (a: SimulationResult, b: SimulationResult): number => a.peakStateBytes - b.peakStateBytes || a.cpuNsPerReading - b.cpuNsPerReading;
  return results
    .filter((result) => meetsSla(result, sla))
    .sort((a, b) =>
      prefer === 'latency'
        ? byLatency(a, b) || byCompleteness(a, b) || byState(a, b)
        : byCompleteness(a, b) || byLatency(a, b) || byState(a, b),
    );
}

export interface Recommendation {
  readonly sla: Sla;
  readonly ranked: readonly SimulationResult[];
  readonly recommended: SimulationResult | null;
  /** One or two sentences on the trade-off (or on why nothing meets the SLA). */
  readonly explanation: string;
  /** The pipeline entry (validated by parseConfig), or null when nothing meets the SLA. */
  readonly pipeline: PipelineConfig | null;
  readonly yaml: string | null;
}

export interface PipelineIdentity {
  readonly name: string;
  readonly guarantee: Guarantee;
}

export function recommend(
  results: readonly SimulationResult[],
  sla: Sla,
  identity: PipelineIdentity = { name: 'main', guarantee: 'exactly-once' },
  prefer: Preference = 'latency',
): Recommendation {
  const ranked = rankCandidates(results, sla, prefer);
  const recommended = ranked[0] ?? null;
  const explanation = recommended ? explainChoice(recommended, results, sla) : explainMiss(results, sla);
  if (!recommended) return { sla, ranked, recommended, explanation, pipeline: null, yaml: null };
  const pipeline = pipelineEntry(recommended.candidate, identity);
  const header = `# watermark recommend: P95 ${sla.latency} latency <= ${formatDuration(sla.p95LatencyMs)}, completeness >= ${formatPercent(sla.minCompleteness)}\n` +
    `# ${explanation.replace(/\n/g, '\n# ')}\n`;
  return { sla, ranked, recommended, explanation, pipeline, yaml: header + stringify({ aggregator: { pipelines: [pipelineYamlShape(pipeline)] } }) };
}

/** The candidate as an aggregator pipeline entry, validated by the configuration loader. */
export function pipelineEntry(candidate: Candidate, identity: PipelineIdentity): PipelineConfig {
  const entry = {
    name: identity.name,
    guarantee: identity.guarantee,
    window: candidate.window,
    watermark: candidate.watermark,
    latePolicy: candidate.latePolicy,
    idleTimeoutMs: candidate.idleTimeoutMs,
    maxDeviceClockOffsetMs: candidate.maxDeviceClockOffsetMs,
  };
  const config = parseConfig({ aggregator: { pipelines: [structuredClone(entry)] } });
  return config.aggregator.pipelines[0]!;
}

/**
 * The entry without the derived defaults (consumer group, table) that the loader fills in. The
 * device-clock ceiling is written even at its default: the figures were measured with it.
 */
function pipelineYamlShape(pipeline: PipelineConfig): Record<string, unknown> {
  const { name, guarantee, window, watermark, latePolicy, idleTimeoutMs, maxDeviceClockOffsetMs } = pipeline;
  return { name, guarantee, window, watermark, latePolicy, idleTimeoutMs, maxDeviceClockOffsetMs };
}

const missed = (result: SimulationResult): number => 1 - result.completeness;

function delayPhrase(result: SimulationResult): string {
  const { watermark, maxDeviceClockOffsetMs } = result.candidate;
  const delay =
    watermark.kind === 'fixed'
      ? `a fixed ${formatDuration(watermark.delayMs)} delay`
      : `an adaptive delay (${describeWatermark(watermark)}, ${formatDuration(result.meanDelayMs)} on average)`;
  return `${delay}${describeDeviceClocks(maxDeviceClockOffsetMs)}`;
}

function outcome(result: SimulationResult, sla: Pick<Sla, 'latency'>): string {
  return `P95 ${sla.latency} latency ${formatDuration(latencyOf(result, sla).p95)}, ${formatPercent(missed(result))} of readings missed`;
}

function explainChoice(chosen: SimulationResult, results: readonly SimulationResult[], sla: Sla): string {
  const sameWindow = results.filter((result) => sameWindowAndPolicy(result.candidate, chosen.candidate) && result !== chosen);
  const head =
    `${capitalize(delayPhrase(chosen))} with ${describeWindow(chosen.candidate.window)} windows keeps P95 ${sla.latency} latency at ` +
    `${formatDuration(latencyOf(chosen, sla).p95)} and misses ${formatPercent(missed(chosen))} of readings`;
  // The contrast that explains the choice: the faster settings that fall short of the completeness bound.
  const faster = sameWindow
    .filter((result) => result.completeness < sla.minCompleteness && latencyOf(result, sla).p95 <= latencyOf(chosen, sla).p95)
    .sort((a, b) => b.completeness - a.completeness);
  const fastFixed = faster.find((result) => result.candidate.watermark.kind === 'fixed') ?? faster[0];
  if (fastFixed) {
    return `${head}; ${delayPhrase(fastFixed)} would reach P95 ${formatDuration(latencyOf(fastFixed, sla).p95)} but miss ${formatPercent(missed(fastFixed))}.`;
  }
  const complete = sameWindow.filter((result) => result.completeness > chosen.completeness).sort((a, b) => latencyOf(a, sla).p95 - latencyOf(b, sla).p95)[0];
  if (complete) {
    return `${head}; ${delayPhrase(complete)} would miss only ${formatPercent(missed(complete))} but needs P95 ${formatDuration(latencyOf(complete, sla).p95)}.`;
  }
  return `${head}.`;
}

function explainMiss(results: readonly SimulationResult[], sla: Sla): string {
  if (results.length === 0) return 'No configuration was simulated.';
  const complete = results.filter((result) => result.completeness >= sla.minCompleteness).sort((a, b) => latencyOf(a, sla).p95 - latencyOf(b, sla).p95)[0];
  const fast = results.filter((result) => latencyOf(result, sla).p95 <= sla.p95LatencyMs).sort((a, b) => b.completeness - a.completeness)[0];
  const parts = [`No configuration meets P95 ${sla.latency} latency <= ${formatDuration(sla.p95LatencyMs)} with completeness >= ${formatPercent(sla.minCompleteness)}.`];
  if (complete) parts.push(`The fastest that reaches the completeness is ${complete.label} (${outcome(complete, sla)}).`);
  else parts.push(`None reaches the completeness: the best is ${formatPercent([...results].sort((a, b) => b.completeness - a.completeness)[0]!.completeness)}.`);
  if (fast) parts.push(`The most complete within the latency bound is ${fast.label} (${outcome(fast, sla)}).`);
  return parts.join(' ');
}

/** Same window, late policy and device clocks: candidates that differ in the watermark alone. */
function sameWindowAndPolicy(a: Candidate, b: Candidate): boolean {
  return (
    JSON.stringify(a.window) === JSON.stringify(b.window) &&
    JSON.stringify(a.latePolicy) === JSON.stringify(b.latePolicy) &&
    a.maxDeviceClockOffsetMs === b.maxDeviceClockOffsetMs
  );
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * Does an adaptive setting beat every fixed delay that is (at least) as complete? A fixed delay
 * is comparable when its completeness is at least the adaptive one's minus `tolerance` (same
 * window and late policy). Verdicts:
 *   'adaptive-better'  lower P95 latency than every comparable fixed delay;
 *   'fixed-as-good'    some comparable fixed delay is as fast or faster (`bestFixed`);
 *   'no-comparable'    no fixed delay in the grid is that complete.
 */
export interface AdaptiveComparison {
  readonly adaptive: SimulationResult;
  readonly verdict: 'adaptive-better' | 'fixed-as-good' | 'no-comparable';
  readonly comparable: readonly SimulationResult[];
  /** The fastest comparable fixed delay. */
  readonly bestFixed: SimulationResult | null;
  readonly sentence: string;
}

export const COMPARABLE_COMPLETENESS_TOLERANCE = 0.0005;

export function compareAdaptiveWithFixed(
  adaptive: SimulationResult,
  results: readonly SimulationResult[],
  sla: Pick<Sla, 'latency'>,
  tolerance = COMPARABLE_COMPLETENESS_TOLERANCE,
): AdaptiveComparison {
  const comparable = results
    .filter((result) => result.candidate.watermark.kind === 'fixed' && sameWindowAndPolicy(result.candidate, adaptive.candidate))
    .filter((result) => result.completeness >= adaptive.completeness - tolerance)
    .sort((a, b) => latencyOf(a, sla).p95 - latencyOf(b, sla).p95);
  const bestFixed = comparable[0] ?? null;
  const p95 = latencyOf(adaptive, sla).p95;
  const name = `${describeClosing(adaptive.candidate)} (${describeWindow(adaptive.candidate.window)})`;
  const asComplete = `as complete (within ${Math.round(tolerance * 1e4) / 100} percentage points)`;
  const at = `${formatPercent(adaptive.completeness)} complete at P95 ${formatDuration(p95)}`;
  if (!bestFixed) {
    return {
      adaptive,
      verdict: 'no-comparable',
      comparable,
      bestFixed,
      sentence: `${name} is ${at}; no fixed delay in the grid is that complete, so there is nothing to compare it with.`,
    };
  }
  const fixedP95 = latencyOf(bestFixed, sla).p95;
  if (p95 < fixedP95) {
    return {
      adaptive,
      verdict: 'adaptive-better',
      comparable,
      bestFixed,
      sentence:
        `${name} is ${at}: faster than every fixed delay ${asComplete} ` +
        `(the fastest, ${describeClosing(bestFixed.candidate)}, has P95 ${formatDuration(fixedP95)} at ${formatPercent(bestFixed.completeness)}).`,
    };
  }
  return {
    adaptive,
    verdict: 'fixed-as-good',
    comparable,
    bestFixed,
    sentence:
      `${name} is ${at}: it does NOT beat ${describeClosing(bestFixed.candidate)}, which is ${asComplete}, ` +
      `${formatPercent(bestFixed.completeness)}, at P95 ${formatDuration(fixedP95)}.`,
  };
}

/** The comparison for every adaptive candidate of the results. */
export function compareAllAdaptive(results: readonly SimulationResult[], sla: Pick<Sla, 'latency'>): AdaptiveComparison[] {
  return results.filter((result) => result.candidate.watermark.kind === 'adaptive').map((adaptive) => compareAdaptiveWithFixed(adaptive, results, sla));
}
