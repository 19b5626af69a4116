/**
 * V8 flags the aggregator runs with. They size the heap, which is fixed before any of our code
 * runs, so the launcher puts them on the node command line: src/stack/services.ts (tests,
 * benchmarks, `stack up`) and the `aggregator` npm script (which spells them out).
 *
 * --max-semi-space-size=64 (MB; Node 20's default is 16): a young generation of 2 × 64 MB instead
 * of 2 × 16 MB. The aggregator allocates short-lived objects at a high rate (Kafka messages,
 * decoded records, encoded lines: several hundred bytes per reading), so with the default a
 * scavenge ran every few tens of milliseconds and copied, each time, whatever was live then (the
 * batch being processed, rows waiting for their flush), promoting much of it to the old generation
 * for a full collection to find dead later. bench:aggregator measured GC at ~20 % of the
 * aggregator's main thread; with 64 MB the hot path took 5–15 % less CPU per reading (in-process
 * harness, interleaved runs) for ~100 MB more RSS, a fixed cost that does not grow with readings
 * or windows. Larger sizes gained nothing more.
 */
export const AGGREGATOR_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];
