import { runAggregator } from './run.ts';

/**
 * The aggregator service: `npm run aggregator [-- --config <file>] [--instances <n>]`
 * (src/aggregator/run.ts). Production settings only: this entry installs no test hook.
 */
await runAggregator(process.argv.slice(2));
