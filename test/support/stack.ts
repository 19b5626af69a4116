/** Kept in loadtest/support/, where the load tests (which may not import test/) use it too. */
export { freePort, testConfig, uniqueName } from '../../loadtest/support/stack.ts';
