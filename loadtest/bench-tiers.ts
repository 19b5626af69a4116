/**
 * `npm run bench:tiers [-- --rate R --duration S]`: the same load through the three delivery tiers,
 * one after the other in one run (same machine, same stack, same fleet), so that the price of
 * exactly-once is a measured number. Writes loadtest/results/tiers.json (read by
 * `guarantees explain`) and ends with one JSON line:
 *   {"bench":"tiers","at-most-once":{"readings_per_s":…,"e2e_p95_ms":…},"at-least-once":{…},"exactly-once":{…}}
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { REPO_ROOT } from '../src/stack/paths.ts';
import { runEndToEnd } from './e2e/run.ts';

/** The committed result: docs/render.ts renders it into the failure tables; `guarantees explain --costs` shows it. */
const TIER_COSTS_FILE = join(REPO_ROOT, 'loadtest', 'results', 'tiers.json');

const { values } = parseArgs({ options: { rate: { type: 'string', default: '5000' }, duration: { type: 'string', default: '60' } } });
const say = (line: string): void => void process.stdout.write(`${line}\n`);
say(`machine: ${cpus().length} cores, node ${process.version}; ${values.rate} readings/s for ${values.duration} s per tier`);

const tiers: Record<string, { readings_per_s: number; e2e_p95_ms: number; e2e_p50_ms: number; completeness: number; lost: number; duplicated: number; aggregator_cores: number }> = {};
for (const guarantee of ['at-most-once', 'at-least-once', 'exactly-once'] as const) {
  say(`\n== ${guarantee} ==`);
  const result = await runEndToEnd({
    ratePerSecond: Number(values.rate),
    durationS: Number(values.duration),
    devices: 2000,
    connections: 10,
    batchSize: 10,
    patterns: 'steady',
    windowSizeMs: 5000,
    slaP95Ms: 10_000,
    minCompleteness: 0.999,
    aggregators: 1,
    guarantee,
    log: say,
  });
  // A run that did not get through (a service exited, the wait timed out, a query failed) measured nothing worth writing down.
  const incomplete = [...result.failures.map((failure) => `${failure.phase}: ${failure.message}`), ...(result.settle.kind === 'settled' ? [] : [`settle: ${result.settle.kind}`]), ...result.exited.map((service) => `${service.name} exited (${service.exit})`)];
  if (incomplete.length > 0 || result.lost === null || result.duplicated === null) {
    say(`${guarantee}: the run did not complete, ${TIER_COSTS_FILE} is left as it was:\n${result.verdict.reasons.map((reason) => `  - ${reason}`).join('\n')}`);
    say(JSON.stringify({ bench: 'tiers', failed_tier: guarantee, reasons: result.verdict.reasons }));
    process.exit(1);
  }
  tiers[guarantee] = {
    readings_per_s: Math.round(result.readingsPerS),
    e2e_p50_ms: result.latency.p50,
    e2e_p95_ms: result.latency.p95,
    completeness: Number(result.completeness.toFixed(6)),
    lost: result.lost,
    duplicated: result.duplicated,
    // CPU of the aggregator process over the run: what each tier's bookkeeping costs at this rate.
    aggregator_cores: result.processes.find((p) => p.name.startsWith('aggregator'))?.cores ?? 0,
  };
  say(`${guarantee}: ${tiers[guarantee]!.readings_per_s} readings/s, P50 ${result.latency.p50} ms, P95 ${result.latency.p95} ms, completeness ${result.completeness}, ` +
    `aggregator ${tiers[guarantee]!.aggregator_cores} cores`);
}
mkdirSync(dirname(TIER_COSTS_FILE), { recursive: true });
writeFileSync(TIER_COSTS_FILE, `${JSON.stringify({ measuredAt: new Date().toISOString().slice(0, 10), rate: Number(values.rate), durationS: Number(values.duration), tiers }, null, 2)}\n`);
say(`\nwrote ${TIER_COSTS_FILE}`);
say(JSON.stringify({ bench: 'tiers', ...tiers }));
