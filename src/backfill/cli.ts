import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { guaranteeProfile } from '../core/guarantees.ts';
import { connectClickHouse, type ClickHouseConnection } from '../clickhouse/client.ts';
import { createCheckpointStore } from '../clickhouse/checkpoints.ts';
import { fetchMetadata } from '../kafka/admin.ts';
import { createLogger } from '../util/log.ts';
import { createProgress } from '../util/progress.ts';
import { describeConsequences, prepareBackfill, writeBackfill } from './backfill.ts';
import { BackfillError } from './parse.ts';

/**
 * `backfill` of the project CLI. Registered by src/cli.ts with `registerBackfillCommand(program, config)`.
 */
export function registerBackfillCommand(program: Command, config: () => Config, print: (line: string) => void): void {
  program
    .command('backfill')
    .description('load historical readings (NDJSON or CSV) into Kafka through the HTTP intake\'s validation, with ids that make a re-run harmless')
    .requiredOption('--file <path>', 'readings.ndjson (gateway readings, one a line) or readings.csv (header: device,ts[,id|seq][,tenant], then metric,value or one column per metric)')
    .option('--tenant <name>', 'the tenant the readings belong to; default: the tenant of the configured gateway keys, when they name one')
    .option('--yes', 'proceed without asking, after printing what each pipeline will treat as late')
    .action(async (options: { file: string; tenant?: string; yes?: boolean }) => {
      const resolved = config();
      const tenant = options.tenant ?? onlyTenant(resolved);
      const logger = createLogger('backfill', resolved.log.level);
      const partitions = (await fetchMetadata(resolved.kafka)).topics.get(resolved.kafka.readingsTopic);
      if (partitions === undefined) throw new ConfigError(`topic '${resolved.kafka.readingsTopic}' does not exist on ${resolved.kafka.brokers.join(',')}`, { key: 'kafka.readingsTopic' });
      const checkpointed = resolved.aggregator.pipelines.some((pipeline) => guaranteeProfile(pipeline.guarantee).state.checkpointed);
      const connection: ClickHouseConnection | null = checkpointed ? await connectClickHouse(resolved.clickhouse) : null;
      let prepared;
      try {
        prepared = await prepareBackfill(resolved, options.file, tenant, partitions, connection === null ? null : createCheckpointStore(connection, resolved), logger, Date.now());
      } finally {
        await connection?.close();
      }
      for (const line of describeConsequences(prepared)) print(line);
      if (prepared.readings.length === 0) {
        print('nothing to write');
        process.exitCode = prepared.refusals.length > 0 ? 1 : 0;
        return;
      }
      if (!options.yes && !(await confirmed(`write ${prepared.readings.length} readings to ${resolved.kafka.readingsTopic}? [y/N] `))) {
        print('nothing was written (pass --yes to proceed without the question)');
        process.exitCode = 1;
        return;
      }
      const summary = await writeBackfill(resolved, prepared, logger, createProgress('backfill'));
      print(`backfill: ${summary.written} readings written to ${resolved.kafka.readingsTopic}, ${summary.refused} refused, ${(summary.durationMs / 1000).toFixed(1)} s`);
    });
}

function onlyTenant(config: Config): string {
  const tenants = [...new Set(config.edge.gatewayKeys.map((key) => key.tenant))];
  if (tenants.length === 1) return tenants[0]!;
  throw new BackfillError('BACKFILL_TENANT', `the gateway keys name ${tenants.length} tenants (${tenants.join(', ')}): say which with --tenant`);
}

/** Asks on a terminal; anywhere else there is nobody to answer, and the answer is no. */
async function confirmed(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}
