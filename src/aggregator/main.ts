import { loadConfig } from '../config/load.ts';
import { errorMessage } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../util/log.ts';
import { instancesFor } from './instances.ts';
import { AggregatorService } from './service.ts';
import { SupervisedAggregatorService } from './supervised-service.ts';
import type { WorkerListening } from './supervisor.ts';

/**
 * `npm run aggregator [-- --config file] [--instances N]`: runs every configured pipeline until
 * SIGTERM/SIGINT (graceful: flush, checkpoint, commit, leave the group) or until a pipeline fails
 * (exit 1; a supervisor restarts it and it resumes from the last checkpoint).
 *
 * With N > 1 (default: one per core, `aggregator.instances`) this process supervises N workers,
 * each this same program with instances 1 (src/aggregator/supervised-service.ts).
 */
const logger = createLogger('aggregator');
const configFlag = process.argv.indexOf('--config');
const configFile = configFlag >= 0 ? process.argv[configFlag + 1] : undefined;
let config: Config;
let instances: number;
try {
  config = loadConfig({ file: configFile });
  instances = instancesFor(config.aggregator.instances, process.argv);
} catch (error) {
  // A bad configuration is the operator's to fix: say what is wrong, not where in our code.
  process.stderr.write(`aggregator: ${errorMessage(error)}\n`);
  process.exit(2);
}

// A worker's parent holds the other end of its IPC channel: when the channel closes the parent is
// gone (even by SIGKILL), and the worker goes too rather than run on unsupervised. Without a flush:
// as after a crash, its partitions resume from their checkpoints wherever they go next.
const supervised = typeof process.send === 'function';
if (supervised) {
  process.on('disconnect', () => {
    logger.warn('the supervising aggregator process is gone; exiting');
    process.exit(1);
  });
}

const service =
  instances > 1
    ? new SupervisedAggregatorService(config, instances, logger, { args: configFile === undefined ? [] : ['--config', configFile] })
    : new AggregatorService(config, logger);

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
