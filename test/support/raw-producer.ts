/** Kept in loadtest/support/, where the benchmarks (which may not import test/) use it too. */
export { connectRawProducer } from '../../loadtest/support/raw-producer.ts';
