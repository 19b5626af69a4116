import { loadConfig } from '../config/load.ts';
import { errorMessage } from '../core/errors.ts';
import type { Config } from '../config/schema.ts';
import { createLogger } from '../util/log.ts';
import { AggregatorService } from './service.ts';

/**
 * `npm run aggregator [-- --config file]`: runs every configured pipeline until SIGTERM/SIGINT
 * (graceful: flush, checkpoint, commit, leave the group) or until a pipeline fails (exit 1; a
 * supervisor restarts it and it resumes from the last checkpoint).
 */
const logger = createLogger('aggregator');
const configFlag = process.argv.indexOf('--config');
let config: Config;
try {
  config = loadConfig({ file: configFlag >= 0 ? process.argv[configFlag + 1] : undefined });
} catch (error) {
  // A bad configuration is the operator's to fix: say what is wrong, not where in our code.
  process.stderr.write(`aggregator: ${errorMessage(error)}\n`);
  process.exit(2);
}
const service = new AggregatorService(config, logger);

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
  await service.whenAnyFails();
} catch (error) {
  logger.fatal({ err: error }, `aggregator failed: ${errorMessage(error)}`);
  await service.stop().catch(() => undefined);
  process.exit(1);
}
