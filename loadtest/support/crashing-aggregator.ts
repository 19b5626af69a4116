import { fileURLToPath } from 'node:url';
import { CrashPoints } from '../../src/aggregator/crash-points.ts';
import { runAggregator } from '../../src/aggregator/run.ts';

/**
 * TEST-ONLY entry point: the aggregator (src/aggregator/run.ts) with crash points installed, for the
 * failure tests (test/integration/aggregator-recovery.test.ts, aggregator-late-transaction.test.ts)
 * and the chaos run (loadtest/chaos). `TEST_AGGREGATOR_CRASH_AT=<point>:<n>` SIGKILLs the process
 * the n-th time it reaches the point (src/aggregator/crash-points.ts). The container image copies
 * src/ and edge/ only, so no production deployment can start this; the production entry,
 * src/aggregator/main.ts, installs nothing and its configuration has no such key.
 *
 * Supervised workers run this same entry; the crash fires in a worker's first life only, since a
 * restarted worker reaching the same point again would crash forever.
 */
export const CRASHING_AGGREGATOR_SCRIPT = 'loadtest/support/crashing-aggregator.ts';
export const CRASH_AT_ENV = 'TEST_AGGREGATOR_CRASH_AT';

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  let crashPoints: CrashPoints;
  try {
    crashPoints = new CrashPoints(process.env[CRASH_AT_ENV] ?? '');
  } catch (error) {
    process.stderr.write(`crashing-aggregator: ${CRASH_AT_ENV}: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(2);
  }
  await runAggregator(process.argv.slice(2), {
    crashPoints,
    worker: { script: fileURLToPath(import.meta.url), env: (life) => (life > 1 ? { [CRASH_AT_ENV]: '' } : {}) },
  });
}
