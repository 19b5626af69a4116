import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { Config } from './config/schema.ts';
import { configReference } from './config/reference.ts';
import { redactSecrets } from './config/secrets.ts';
import { connectClickHouse } from './clickhouse/client.ts';
import { asRole } from './clickhouse/roles.ts';
import { migrate, schemaLayout } from './clickhouse/migrations.ts';
import { refreshRollups } from './clickhouse/rollups.ts';
import { applyRetention } from './clickhouse/retention.ts';
import { explain, explainMarkdown, parseTierCosts } from './guarantees/explain.ts';
import { PipelineError, errorMessage } from './core/errors.ts';
import { loadStackConfig, servicesConfig } from './stack/config.ts';
import type { LocalStackConfig } from './stack/config-schema.ts';
import { configForLocalStack, formatHealth, stackDown, stackHealth, stackUp } from './stack/stack.ts';
import { forgetPipelineServices, pipelineServicesHealth, startPipelineServices } from './stack/pipeline-services.ts';
import { registerWatermarkCommands } from './advisor/cli.ts';
import { registerReplayCommand } from './replay/cli.ts';
import { registerBackfillCommand } from './backfill/cli.ts';
import { registerGatewayKeyCommands } from './gateway-keys-cli.ts';
import { registerTlsCommands } from './stack/tls-cli.ts';
import { registerCredentialCommands } from './stack/credentials-cli.ts';

/**
 * The one command-line entry: `npm run cli -- <command>`. Apps only wire: each command loads the
 * configuration once, calls into the library, prints, and sets the exit code.
 */
const program = new Command('telemetry')
  .description('IoT telemetry pipeline: local stack, migrations, analysis')
  .option('-c, --config <file>', 'configuration file (YAML); default $TP_CONFIG')
  .showHelpAfterError();

/**
 * The services' configuration (src/config/schema.ts), as a deployment's services see it. The CLI is
 * also the local stack's, so one file (or TP_STACK__* variables) with a `stack` section serves every
 * command: it is read with the local stack's schema and the section set aside here.
 */
function config(): Config {
  return servicesConfig(stackConfig());
}

/** The local stack's configuration (the services' sections plus `stack`), for `stack …` and `--local`. */
function stackConfig(nodes?: string, clickhouseReplicas?: string): LocalStackConfig {
  const stackOverrides = {
    ...(nodes ? { kafkaNodes: Number(nodes) } : {}),
    ...(clickhouseReplicas ? { clickhouseReplicas: Number(clickhouseReplicas) } : {}),
  };
  const overrides = Object.keys(stackOverrides).length > 0 ? { stack: stackOverrides } : undefined;
  return loadStackConfig({ file: program.opts<{ config?: string }>().config, overrides });
}

/** The aggregate table of the pipeline named, or a NO_SUCH_PIPELINE error. */
function pipelineTable(resolved: Config, name: string): string {
  const pipeline = resolved.aggregator.pipelines.find((candidate) => candidate.name === name);
  if (!pipeline) throw new PipelineError('NO_SUCH_PIPELINE', `no pipeline named '${name}' in the configuration`);
  return pipeline.table;
}

const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const stack = program.command('stack').description('the local stack: Kafka (KRaft), ClickHouse, Mosquitto');
const nodesOption = new Option('--nodes <n>', 'Kafka nodes: 1, or 3 for replication factor 3').choices(['1', '3']);
const replicasOption = new Option('--clickhouse-replicas <n>', 'ClickHouse servers: 1, or 2 replicas with ZooKeeper').choices(['1', '2']);
type StackOptions = { nodes?: string; clickhouseReplicas?: string };
const count = (what: string) => (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 16) throw new InvalidArgumentError(`${what}: expected a whole number from 0 to 16, got '${value}'`);
  return parsed;
};

/** Prints the health of the stack and of the pipeline services it started; exit code 1 when anything is unhealthy. */
async function reportHealth(resolved: LocalStackConfig): Promise<void> {
  const health = [...(await stackHealth(resolved)), ...(await pipelineServicesHealth(resolved))];
  print(formatHealth(health));
  if (health.some((entry) => !entry.healthy)) process.exitCode = 1;
}

stack
  .command('up')
  .description('start what is not running (idempotent), create topics, report health')
  .addOption(nodesOption)
  .addOption(replicasOption)
  .option('--bridges <m>', 'also start M bridges (direct mode: bridge i is an MQTT endpoint on mqtt.listen.port + i − 1; broker mode: one shared subscription)', count('--bridges'), 0)
  .option('--aggregators <n>', 'also start N aggregators (one consumer group per pipeline)', count('--aggregators'), 0)
  .option('--prometheus', 'also start Prometheus (Debian\'s package) scraping the pipeline services, with the alert rules')
  .action(async (options: StackOptions & { bridges: number; aggregators: number; prometheus?: boolean }) => {
    const resolved = stackConfig(options.nodes, options.clickhouseReplicas);
    await stackUp(resolved, print);
    const { services } =
      options.bridges > 0 || options.aggregators > 0
        ? await startPipelineServices(resolved, { bridges: options.bridges, aggregators: options.aggregators }, print)
        : { services: [] };
    if (options.prometheus) {
      // Loaded only here: the container image carries src/ and edge/, not the local Prometheus tooling.
      const { startPrometheus } = await import('../deploy/prometheus/local.ts');
      const hostsOf = (kind: string): string[] => services.filter((service) => service.kind === kind).map((service) => new URL(service.url).host);
      const prometheus = await startPrometheus(resolved.stack, { bridges: hostsOf('bridge'), aggregators: hostsOf('aggregator') });
      print(`prometheus: ${prometheus.started ? 'started' : 'reloaded'} (${prometheus.url}), scraping ${services.length} pipeline service(s), alert rules from deploy/prometheus/rules.yml`);
    }
    await reportHealth(resolved);
  });

stack
  .command('down')
  .description('stop every process the stack started, by recorded pid')
  .addOption(nodesOption)
  .addOption(replicasOption)
  .action(async (options: StackOptions) => {
    const resolved = stackConfig(options.nodes, options.clickhouseReplicas);
    const stopped = await stackDown(resolved, print);
    forgetPipelineServices(resolved);
    if (stopped.length === 0) print('nothing was running');
  });

stack
  .command('status')
  .description('health of each service')
  .addOption(nodesOption)
  .addOption(replicasOption)
  .action(async (options: StackOptions) => {
    const resolved = stackConfig(options.nodes, options.clickhouseReplicas);
    await reportHealth(resolved);
  });

/** Runs `work` on an admin connection to ClickHouse (the configured one, or the local stack's with --local), closed afterwards. */
async function withAdminConnection(
  local: boolean | undefined,
  work: (connection: Awaited<ReturnType<typeof connectClickHouse>>, resolved: Config) => Promise<void>,
): Promise<void> {
  const resolved = local ? configForLocalStack(stackConfig()) : config();
  const connection = await connectClickHouse(asRole(resolved.clickhouse, 'admin'));
  try {
    await work(connection, resolved);
  } finally {
    await connection.close();
  }
}

program
  .command('migrate')
  .description('create or update the ClickHouse tables of every configured pipeline (the aggregator also does this at start)')
  .option('--local', 'against the local stack')
  .action(async (options: { local?: boolean }) => {
    await withAdminConnection(options.local, async (connection, resolved) => {
      const report = await migrate(connection, resolved);
      print(`ClickHouse ${connection.capabilities.version} at ${connection.url}, database ${report.database}`);
      for (const id of report.applied) print(`applied  ${id}`);
      for (const id of report.alreadyApplied) print(`present  ${id}`);
    });
  });

const rollupsCommand = program.command('rollups').description('rollup tables built from each pipeline\'s aggregate table (pipeline.rollups)');
rollupsCommand
  .command('refresh')
  .description('rebuild the rollup buckets whose windows changed since the last refresh (run it after a replay or backfill; idempotent)')
  .option('--pipeline <name>', 'only this pipeline')
  .option('--local', 'against the local stack')
  .action(async (options: { pipeline?: string; local?: boolean }) => {
    await withAdminConnection(options.local, async (connection, resolved) => {
      const pipelines = schemaLayout(resolved, connection.capabilities).rollups ?? [];
      const chosen = pipelines.filter((rollups) => !options.pipeline || rollups.source === pipelineTable(resolved, options.pipeline));
      if (chosen.length === 0) print('no pipeline with rollups (set aggregator.pipelines[].rollups)');
      for (const rollups of chosen) {
        const report = await refreshRollups(connection, resolved.clickhouse.database, rollups);
        for (const level of report.levels) {
          print(`${level.table}: ${level.dirtyHours} hour(s) changed, ${level.statements} rebuild statement(s)${level.skippedHours ? `, ${level.skippedHours} hour(s) older than the level below keeps, skipped` : ''}`);
        }
      }
    });
  });

program
  .command('retention')
  .description('retention of the aggregate and rollup tables')
  .command('apply')
  .description('set TTLs (servers with TTL) or drop expired partitions (18.16); idempotent')
  .option('--dry-run', 'print what would change, change nothing')
  .option('--local', 'against the local stack')
  .action(async (options: { dryRun?: boolean; local?: boolean }) => {
    await withAdminConnection(options.local, async (connection, resolved) => {
      const report = await applyRetention(connection, resolved, { dryRun: options.dryRun });
      const verb = report.dryRun ? 'would ' : '';
      print(`ClickHouse ${connection.capabilities.version}: retention by ${report.mechanism === 'ttl' ? 'table TTL' : 'dropping expired partitions'}, ${report.tables.length} table(s)`);
      for (const action of report.actions) {
        print(action.kind === 'ttl'
          ? `${action.table}: ${verb}set TTL ${action.to === 0 ? 'off' : `${action.to} day(s)`} (was ${action.from === 0 ? 'off' : `${action.from} day(s)`})`
          : `${action.table}: ${verb}drop partition ${action.partition}`);
      }
      if (report.actions.length === 0) print('nothing to change');
    });
  });

program
  .command('guarantees')
  .description('delivery guarantees of the configured pipelines')
  .command('explain')
  .description('the failure table of every pipeline: each failure → lost, duplicated or exact, and by which mechanism')
  .option('--pipeline <name>', 'only this pipeline')
  .option('--costs <file>', 'measured costs of the tiers to show (the result of npm run bench:tiers, loadtest/results/tiers.json)')
  .addOption(new Option('--format <format>', 'output format').choices(['md', 'json']).default('md'))
  .action((options: { pipeline?: string; format: 'md' | 'json'; costs?: string }) => {
    const costs = options.costs === undefined ? null : parseTierCosts(readFileSync(options.costs, 'utf8'), options.costs);
    const explanations = explain(config(), options.pipeline, costs);
    if (explanations.length === 0) throw new PipelineError('NO_SUCH_PIPELINE', `no pipeline named '${options.pipeline}' in the configuration`);
    print(options.format === 'json' ? JSON.stringify(explanations, null, 2) : explainMarkdown(explanations));
  });

program
  .command('config')
  .description('validate the configuration and print it as the services will see it (secrets hidden)')
  .option('--local', 'as adjusted to the local stack')
  .option('--reference', 'print the reference of every key (Markdown)')
  .action((options: { local?: boolean; reference?: boolean }) => {
    if (options.reference) return print(configReference());
    // As the services see it: the local stack hands them its configuration without its own `stack` section.
    const resolved = options.local ? servicesConfig(configForLocalStack(stackConfig())) : config();
    print(JSON.stringify(redactSecrets(resolved), null, 2));
  });

registerWatermarkCommands(program, () => config());
registerReplayCommand(program, () => config(), print);
registerBackfillCommand(program, () => config(), print);
registerGatewayKeyCommands(program, print, () => stackConfig().stack);
registerTlsCommands(stack, () => stackConfig(), print);
registerCredentialCommands(stack, () => stackConfig().stack, print);

program.parseAsync(process.argv).catch((error: unknown) => {
  const code = error instanceof PipelineError ? ` [${error.code}]` : '';
  process.stderr.write(`error${code}: ${errorMessage(error)}\n`);
  process.exitCode = 1;
});
