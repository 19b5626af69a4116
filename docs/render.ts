import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_REFERENCE_PAGE, configReferencePage } from '../src/config/reference.ts';
import { StackSchema } from '../src/stack/config-schema.ts';
import { METRICS_PAGE, metricsReferencePage } from './tools/metrics.ts';
import { CLI_PAGE, cliReferencePage } from './tools/cli.ts';
import { ALERTS_PAGE, alertsPage } from './tools/alerts.ts';
import { SUMMARY_PAGE, summaryPage } from '../loadtest/results/summary.ts';
import { FAILURE_TABLES_PAGE, failureTablesPage } from './tools/failure-tables.ts';

/**
 * Writes every generated documentation page from the code it describes:
 *
 *   node --import tsx docs/render.ts
 *
 * test/unit/docs-generated.test.ts fails while a committed page differs from what this writes.
 */
export async function generatedPages(root: string): Promise<Map<string, string>> {
  return new Map([
    [CONFIG_REFERENCE_PAGE, configReferencePage(StackSchema)],
    [METRICS_PAGE, metricsReferencePage()],
    [CLI_PAGE, await cliReferencePage(root)],
    [ALERTS_PAGE, alertsPage(root)],
    [SUMMARY_PAGE, summaryPage(root)],
    [FAILURE_TABLES_PAGE, failureTablesPage(root)],
  ]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  for (const [page, text] of await generatedPages(root)) {
    mkdirSync(dirname(join(root, page)), { recursive: true });
    writeFileSync(join(root, page), text);
    process.stdout.write(`wrote ${page}\n`);
  }
}
