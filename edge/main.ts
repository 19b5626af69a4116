import { loadConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import { parseCommandLine } from '../src/util/args.ts';
import { errorMessage } from '../src/core/errors.ts';
import { createLogger } from '../src/util/log.ts';
import { followParent } from '../src/util/follow-parent.ts';
import { createBridge } from './bridge.ts';

/**
 * The edge bridge service: `node --import tsx edge/main.ts [--config file]` (npm run bridge).
 * Wiring only: configuration, bridge, signals. SIGTERM/SIGINT stop intake, flush, acknowledge
 * what Kafka acknowledged, and exit 0.
 */
let config: Config;
try {
  const values = parseCommandLine('bridge', process.argv.slice(2), { config: { type: 'string', short: 'c' } });
  config = loadConfig({ file: values.config });
} catch (error) {
  // A bad command line or configuration is the operator's to fix: say what is wrong, not where in our code.
  process.stderr.write(`bridge: ${errorMessage(error)}\n`);
  process.exit(2);
}
const logger = createLogger('edge', config.log.level);
let stopping = false;

// Exiting as after a crash loses nothing: what a device was not acknowledged it sends again.
followParent(logger, 'bridge');

async function main(): Promise<void> {
  const bridge = createBridge(config, logger);

  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'signal received');
    bridge.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: errorMessage(error) }, 'bridge did not stop cleanly');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  await bridge.start();
}

main().catch((error: unknown) => {
  if (stopping) return; // a signal during start-up: stop() decides the exit code
  logger.fatal({ err: errorMessage(error), code: (error as { code?: string }).code }, 'bridge failed to start');
  process.exit(1);
});
