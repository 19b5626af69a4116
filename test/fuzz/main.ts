import { Command, InvalidArgumentError } from 'commander';
import { checkProperty, type PropertyResult } from './property.ts';
import { fuzzProperties } from './registry.ts';

/**
 * `npm run fuzz -- --cases N --seed S`: runs every property of the harness with N cases in all
 * (split evenly over the properties), prints each failure as a pasteable unit test, and ends with
 * one JSON line. Exits 1 when any property failed.
 */
const wholeNumber = (what: string) => (value: string): number => {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 1) throw new InvalidArgumentError(`${what}: expected a whole number of at least 1, got '${value}'`);
  return parsed;
};

const options = new Command('fuzz')
  .description('differential and hostile-input properties of the core and the edge validator')
  .option('--cases <n>', 'cases in all, split evenly over the properties', wholeNumber('--cases'), 2000)
  .option('--seed <s>', 'seed of the run (printed; the same seed replays the same cases)', wholeNumber('--seed'), Date.now() % 2 ** 31)
  .option('--only <name>', 'run only the properties whose name contains this text')
  .parse()
  .opts<{ cases: number; seed: number; only?: string }>();

const selected = fuzzProperties.filter((property) => options.only === undefined || property.name.includes(options.only));
if (selected.length === 0) {
  process.stderr.write(`no property matches '${String(options.only)}'\n`);
  process.exit(2);
}
const perProperty = Math.max(1, Math.ceil(options.cases / selected.length));
process.stdout.write(`fuzz: ${selected.length} properties, ${perProperty} cases each, seed ${options.seed}\n`);

const started = performance.now();
const results: PropertyResult[] = [];
for (const property of selected) {
  const result = checkProperty(property, { numRuns: perProperty, seed: options.seed });
  results.push(result);
  const seconds = (result.durationMs / 1000).toFixed(1);
  process.stdout.write(`${result.failed ? 'FAIL' : 'ok  '} ${property.name} (${result.runs} cases, ${seconds} s): ${property.description}\n`);
  if (result.failed) {
    process.stdout.write(`  ${String(result.error)}\n  replay: --seed ${String(result.seed)} (fast-check path ${String(result.path)})\n${String(result.unitTest)}\n`);
  }
}
const failures = results.filter((result) => result.failed).length;
const summary = {
  bench: 'fuzz',
  cases: results.reduce((sum, result) => sum + result.runs, 0),
  seed: options.seed,
  failures,
  seconds: Math.round((performance.now() - started) / 100) / 10,
  properties: results.map((result) => ({ name: result.name, cases: result.runs, failed: result.failed, seconds: Math.round(result.durationMs / 100) / 10 })),
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
process.exitCode = failures === 0 ? 0 : 1;
