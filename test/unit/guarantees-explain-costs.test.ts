import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { explain, explainMarkdown, parseTierCosts } from '../../src/guarantees/explain.ts';

/**
 * `guarantees explain` runs where the container image runs, which has no benchmark results: the
 * measured cost of a tier is an input (the CLI's --costs file, the docs' renderer), never a file the
 * runtime code looks for in the repository (loadtest/results/tiers.json exists here, not in the image).
 */
const config = loadConfig({ env: {} });

test('without measured costs given, explain reports none, whatever files the repository holds', () => {
  for (const entry of explain(config)) assert.equal(entry.measuredCost, null, `${entry.pipeline}: ${JSON.stringify(entry.measuredCost)}`);
  assert.match(explainMarkdown(explain(config)), /Measured cost of this tier: not given/);
});

test('measured costs given are shown, with the date they were measured', () => {
  const costs = parseTierCosts(JSON.stringify({ measuredAt: '2026-01-02', tiers: { 'exactly-once': { readings_per_s: 1234, e2e_p95_ms: 2500 } } }), 'costs.json');
  const [entry] = explain(config, undefined, costs);
  assert.deepEqual(entry?.measuredCost, { readings_per_s: 1234, e2e_p95_ms: 2500, measuredAt: '2026-01-02' });
  assert.match(explainMarkdown([entry!]), /1,234 readings\/s, end-to-end P95 2\.50 s/);
});

test('a costs file of another shape is refused, naming the file', () => {
  assert.throws(() => parseTierCosts('{"tiers": 3}', 'x.json'), /x\.json/);
  assert.throws(() => parseTierCosts('not json', 'y.json'), /y\.json/);
});
