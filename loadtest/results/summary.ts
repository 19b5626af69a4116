import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The benchmark history is data: one JSON file per benchmark result in loadtest/results/, each
 * with the date and the machine it was measured on. This script renders them into one page,
 * docs/development/benchmark-results.md (a unit test holds the committed page equal to it):
 *
 *   node --import tsx loadtest/results/summary.ts
 */
export const RESULTS_DIR = 'loadtest/results';
export const SUMMARY_PAGE = 'docs/development/benchmark-results.md';

type Value = string | number | boolean | null;

interface Result {
  readonly file: string;
  readonly benchmark: string;
  readonly title: string;
  readonly command: string;
  readonly measuredAt: string;
  readonly machine: string;
  readonly target?: string;
  readonly setup?: string;
  readonly results?: Record<string, Value>;
  readonly runs?: ReadonlyArray<Record<string, Value>>;
  readonly notes?: string;
}

/** tiers.json is written by bench:tiers and read by docs/tools/failure-tables.ts and `guarantees explain --costs` (parseTierCosts), so it keeps its own shape. */
interface TiersFile {
  readonly measuredAt: string;
  readonly machine?: string;
  readonly rate: number;
  readonly durationS: number;
  readonly tiers: Record<string, Record<string, Value>>;
}

export function readResults(root: string): Result[] {
  const dir = join(root, RESULTS_DIR);
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => {
      const data = JSON.parse(readFileSync(join(dir, name), 'utf8')) as Partial<Result> & Partial<TiersFile>;
      const result = data.tiers ? fromTiers(data as TiersFile) : (data as Result);
      for (const field of ['title', 'command', 'measuredAt', 'machine'] as const) {
        if (typeof result[field] !== 'string' || result[field] === '') throw new Error(`${RESULTS_DIR}/${name}: '${field}' is missing`);
      }
      return { ...result, file: name };
    });
}

function fromTiers(data: TiersFile): Result {
  return {
    file: 'tiers.json',
    benchmark: 'tiers',
    title: 'The three delivery tiers under the same load',
    command: 'npm run bench:tiers',
    measuredAt: data.measuredAt,
    machine: data.machine ?? '',
    setup: `${data.rate.toLocaleString('en-US')} readings/s for ${data.durationS} s per tier.`,
    runs: Object.entries(data.tiers).map(([tier, figures]) => ({ tier, ...figures })),
  };
}

function format(value: Value): string {
  if (typeof value === 'number' && Number.isInteger(value)) return value.toLocaleString('en-US');
  return String(value).replace(/\|/g, '\\|');
}

function table(rows: ReadonlyArray<Record<string, Value>>): string[] {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return [
    `| ${columns.join(' | ')} |`,
    `| ${columns.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${columns.map((column) => (row[column] === undefined ? '' : format(row[column]!))).join(' | ')} |`),
  ];
}

export function summaryPage(root: string): string {
  const lines = [
    '# Benchmark results',
    '',
    '<!-- Generated from loadtest/results/*.json by loadtest/results/summary.ts; do not edit by hand. -->',
    '',
    'Each section is one file of [`loadtest/results/`](../../loadtest/results/). Figures from a small',
    'shared machine: compare ratios measured in the same run, not absolute rates. How each benchmark',
    'measures: [benchmarks](benchmarks.md).',
  ];
  for (const result of readResults(root)) {
    lines.push('', `## ${result.title}`, '', `\`${result.command}\` — ${result.measuredAt}, ${result.machine} ([\`${result.file}\`](../../${RESULTS_DIR}/${result.file})).`);
    if (result.target) lines.push('', `Target: ${result.target}.`);
    if (result.setup) lines.push('', result.setup);
    if (result.runs) lines.push('', ...table(result.runs));
    if (result.results) lines.push('', ...table(Object.entries(result.results).map(([figure, value]) => ({ figure, value }))));
    if (result.notes) lines.push('', result.notes);
  }
  return `${lines.join('\n')}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  writeFileSync(join(root, SUMMARY_PAGE), summaryPage(root));
  process.stdout.write(`wrote ${SUMMARY_PAGE}\n`);
}
