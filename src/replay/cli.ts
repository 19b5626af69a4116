import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import { ConfigError } from '../core/errors.ts';
import { connectClickHouse } from '../clickhouse/client.ts';
import { createCheckpointStore } from '../clickhouse/checkpoints.ts';
import { createClickHouseSink } from '../clickhouse/sink.ts';
import { fetchMetadata } from '../kafka/admin.ts';
import { createLogger } from '../util/log.ts';
import { createProgress } from '../util/progress.ts';
import { parsePosition } from './plan.ts';
import { replay } from './replay.ts';

/**
 * `replay` of the project CLI. Registered by src/cli.ts with `registerReplayCommand(program, config)`.
 */
export function registerReplayCommand(program: Command, config: () => Config, print: (line: string) => void): void {
  program
    .command('replay')
    .description("recompute a pipeline's windows from Kafka into its table (rows identical to the live ones; the live consumer group is not touched)")
    .requiredOption('--pipeline <name>', 'the pipeline (exactly-once: replay restores its checkpoints)')
    .requiredOption('--from <time|offset>', 'ISO-8601 time with a zone, an offset (every partition), or partition:offset,…')
    .option('--to <time|offset>', 'where to stop (same forms); default: the end of the topic as the replay starts')
    .action(async (options: { pipeline: string; from: string; to?: string }) => {
      const resolved = config();
      const pipeline = resolved.aggregator.pipelines.find((candidate) => candidate.name === options.pipeline);
      if (pipeline === undefined) {
        throw new ConfigError(`no pipeline named '${options.pipeline}' in the configuration (pipelines: ${resolved.aggregator.pipelines.map((p) => p.name).join(', ')})`, { key: 'aggregator.pipelines' });
      }
      const from = parsePosition(options.from, '--from');
      const to = options.to === undefined ? null : parsePosition(options.to, '--to');
      const partitions = (await fetchMetadata(resolved.kafka)).topics.get(resolved.kafka.readingsTopic);
      if (partitions === undefined) throw new ConfigError(`topic '${resolved.kafka.readingsTopic}' does not exist on ${resolved.kafka.brokers.join(',')}`, { key: 'kafka.readingsTopic' });
      const connection = await connectClickHouse(resolved.clickhouse);
      try {
        const summary = await replay(
          {
            config: resolved,
            pipeline,
            partitions,
            checkpoints: createCheckpointStore(connection, resolved),
            sink: createClickHouseSink(connection, resolved),
            logger: createLogger('replay', resolved.log.level),
            progress: createProgress(`replay ${pipeline.name}`),
          },
          from,
          to,
        );
        for (const plan of summary.plans) {
          print(`partition ${plan.partition}: ${plan.state === null ? 'empty state at 0' : `checkpoint at ${plan.startOffset}`}, rows of offsets ${plan.writeFrom}…${plan.stopAt - 1}`);
        }
        print(
          `replay ${summary.pipeline}: ${summary.recordsRead} records read (${summary.recordsInRange} in range), ${summary.rowsWritten} rows written to ${pipeline.table}` +
            `${summary.lateSeen > 0 ? `, ${summary.lateSeen} late values met (not re-sent)` : ''}, ${(summary.durationMs / 1000).toFixed(1)} s`,
        );
      } finally {
        await connection.close();
      }
    });
}
