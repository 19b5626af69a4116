/**
 * The main job of the quick start (`npm run demo`): the local stack, the bridge, the aggregator and
 * a simulated fleet for about a minute (JSON devices, and beside them a Sparkplug B edge node and a
 * Protobuf device, each through its codec), then a short report (throughput, P95, completeness, the
 * audit) and sample aggregate queries with their output. The stack keeps running afterwards so that
 * the tables can be explored; `npm run stack -- down` stops it.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connectClickHouse } from '../src/clickhouse/client.ts';
import { asRole } from '../src/clickhouse/roles.ts';
import { exampleQueries } from '../src/clickhouse/audit-sql.ts';
import { loadStackConfig } from '../src/stack/config.ts';
import { errorMessage } from '../src/core/errors.ts';
import { REPO_ROOT } from '../src/stack/paths.ts';
import { configForLocalStack } from '../src/stack/stack.ts';
import { runEndToEnd, type EndToEndOptions } from './e2e/run.ts';
import { textReport, writeHtmlReport } from './e2e/report.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '60' }, rate: { type: 'string', default: '2000' } } });
const say = (line: string): void => void process.stdout.write(`${line}\n`);
const options: EndToEndOptions = {
  ratePerSecond: Number(values.rate),
  durationS: Number(values.duration),
  devices: 1000,
  connections: 10,
  batchSize: 5,
  patterns: 'realistic',
  windowSizeMs: 5000,
  slaP95Ms: 10_000,
  minCompleteness: 0.999,
  aggregators: 1,
  prometheus: true,
  sideFleets: [
    { payload: 'sparkplug', devices: 1, ratePerSecond: 20 },
    { payload: 'protobuf', devices: 1, ratePerSecond: 20 },
  ],
  log: say,
};

// runEndToEnd reports the run's own failures (it does not throw for them): the demo always ends with its report.
const result = await runEndToEnd(options);
say(textReport(result, options));
try {
  say(`report (HTML): ${writeHtmlReport(result, options, join(REPO_ROOT, 'reports'))}`);
} catch (error) {
  say(`report (HTML): not written (${errorMessage(error)})`);
}

if (result.settle.kind !== 'not-reached') {
  try {
    const connection = await connectClickHouse(asRole(configForLocalStack(loadStackConfig()).clickhouse, 'reader'));
    const tenant = `load${result.runId}`;
    try {
      for (const query of exampleQueries(result.database, result.table, tenant).slice(0, 2)) {
        say(`\n-- ${query.title}\n${query.sql};`);
        const rows = await connection.query<Record<string, unknown>>(query.sql.replace(/LIMIT \d+$/, 'LIMIT 5'));
        say(formatTable(rows));
      }
    } finally {
      await connection.close();
    }
  } catch (error) {
    say(`\n(the example queries failed: ${errorMessage(error)})`);
  }
  say(`\nThe stack is still running: explore with clickhouse-client --port 9000 --user reader --password "$(npm run -s cli -- stack clickhouse-password)" (database ${result.database}), stop it with: npm run stack -- down`);
}
// The demo does not hold a laptop to the release SLA, but loss, duplicates and a run that broke down are failures anywhere.
const brokeDown = result.failures.length > 0 || result.exited.length > 0 || result.settle.kind !== 'settled';
if (brokeDown || result.lost !== 0 || result.duplicated !== 0) say(`\ndemo FAILED: ${result.verdict.reasons.join('; ')}`);
process.exit(!brokeDown && result.lost === 0 && result.duplicated === 0 ? 0 : 1);

function formatTable(rows: readonly Record<string, unknown>[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((row) => columns.map((column) => String(row[column])));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => line[index]!.length)));
  const line = (values: string[]): string => values.map((value, index) => value.padEnd(widths[index]!)).join('  ');
  return [line(columns), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join('\n');
}
