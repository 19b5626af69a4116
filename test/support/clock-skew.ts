/**
 * A preload (`node --import ./test/support/clock-skew.ts`): the clock skew of TEST_CLOCK_SKEW_MS,
 * kept in loadtest/support/clock-skew.ts, where the load tests (which may not import test/) use it too.
 */
import '../../loadtest/support/clock-skew.ts';
