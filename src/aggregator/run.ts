import { loadConfig } from '../config/load.ts';
import { errorMessage } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../util/log.ts';
import { parseAggregatorArgs } from './args.ts';
import type { CrashPoints } from './crash-points.ts';
import { instancesFor } from './instances.ts';
import { AggregatorService } from './service.ts';
import { SupervisedAggregatorService, type WorkerLaunch } from './supervised-service.ts';
import { followParent } from '../util/follow-parent.ts';
import { joinWhenTold, type WorkerListening } from './worker-start.ts';

/**
 * What an entry point may add to the service. The production entry (src/aggregator/main.ts) adds
 * nothing; the failure tests' entry (loadtest/support/crashing-aggregator.ts, not in the image)
 * adds crash points, and has its workers run that same entry.
 */
export interface AggregatorHooks {
  readonly crashPoints?: CrashPoints;
  readonly worker?: WorkerLaunch;
}

/**
 * Runs every configured pipeline until SIGTERM/SIGINT (graceful: flush, checkpoint, commit, leave
 * the group) or until a pipeline fails (exit 1; a supervisor restarts it and it resumes from the
 * last checkpoint). With N > 1 workers (`aggregator.instances`, `--instances`) this process
 * supervises N workers, each the same entry with instances 1 (src/aggregator/supervised-service.ts).
 */
export async function runAggregator(args: readonly string[], hooks: AggregatorHooks = {}): Promise<void> {
  let config: Config;
  let instances: number;
  let configFile: string | undefined;
  let worker: boolean;
  try {
    const parsed = parseAggregatorArgs(args);
    configFile = parsed.config;
    worker = parsed.worker;
    config = loadConfig({ file: configFile });
    instances = instancesFor(config.aggregator.instances, parsed.instances);
  } catch (error) {
    // A bad command line or configuration is the operator's to fix: say what is wrong, not where in our code.
    process.stderr.write(`aggregator: ${errorMessage(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger('aggregator', config.log.level);

  // Exiting as after a crash: its partitions resume from their checkpoints wherever they go next.
  const supervised = followParent(logger, 'aggregator');

  const service =
    instances > 1
      ? new SupervisedAggregatorService(config, instances, logger, { args: configFile === undefined ? [] : ['--config', configFile], ...(hooks.worker ? { worker: hooks.worker } : {}) })
      : new AggregatorService(config, logger, {
          ...(hooks.crashPoints ? { crashPoints: hooks.crashPoints } : {}),
          ...(worker ? { beforeJoin: joinWhenTold } : {}),
        });

  let stopping = false;
  async function shutdown(signal: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'stopping');
    await service.stop();
    logger.info('stopped');
    process.exit(0);
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  try {
    await service.start();
    if (service instanceof AggregatorService) {
      const port = service.metricsPort;
      if (supervised && port !== null) process.send!({ kind: 'listening', port } satisfies WorkerListening);
      await service.whenAnyFails();
    } else {
      await service.failed;
    }
  } catch (error) {
    logger.fatal({ err: error }, `aggregator failed: ${errorMessage(error)}`);
    await service.stop().catch(() => undefined);
    process.exit(service instanceof SupervisedAggregatorService ? 2 : 1);
  }
}
