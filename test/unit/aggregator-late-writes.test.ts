import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { PipelineRunner } from '../../src/aggregator/pipeline-runner.ts';
import { createAggregatorMetrics } from '../../src/aggregator/metrics.ts';
import type { PartitionStates, PartitionPosition } from '../../src/aggregator/partitions.ts';
import type { ProcessorOutput } from '../../src/core/processor.ts';
import type { ReadingRecord } from '../../src/core/readings.ts';
import { PipelineError } from '../../src/core/errors.ts';
import type { AggregateSink } from '../../src/clickhouse/sink.ts';
import type { CheckpointStore } from '../../src/clickhouse/checkpoints.ts';
import { KafkaProduceError, type KafkaProducer } from '../../src/kafka/producer.ts';
import { TransactionStateError } from '../../src/kafka/transaction-state.ts';
import { KafkaTransactionAbortedError, KafkaTransactionError } from '../../src/kafka/transaction-errors.ts';
import { createLogger } from '../../src/util/log.ts';
import kafkaJs from '@confluentinc/kafka-javascript';

/**
 * The pipeline runner's handling of its writes to the late topic, without servers: the runner is
 * built with fakes for ClickHouse and the producers, and its late path and commit are driven
 * directly. Nothing here connects (the consumer is created, never connected).
 */
const ERR = kafkaJs.CODES.ERRORS;

/** The runner's members these tests drive (private in the class: the tests reach in on purpose). */
interface RunnerInternals {
  readonly output: ProcessorOutput;
  readonly partitions: PartitionStates;
  transactional: unknown;
  /** The commit protocol (CommitCoordinator); `complete` is the part after a commit is taken. */
  readonly commits: { complete(durable: Promise<void>, positions: readonly PartitionPosition[], checkpointed: boolean): Promise<void> };
}

function runnerWith(lateProducer: Partial<KafkaProducer>): { runner: PipelineRunner; internals: RunnerInternals; commitErrors: () => Promise<number> } {
  const config = loadConfig({
    env: {},
    overrides: {
      // Nothing connects here; the consumer only checks at construction that it could log in.
      kafka: { security: { protocol: 'plaintext' } },
      aggregator: {
        pipelines: [
          {
            name: 'main',
            guarantee: 'at-least-once',
            window: { kind: 'tumbling', sizeMs: 5000 },
            watermark: { kind: 'fixed', delayMs: 1000 },
            latePolicy: { kind: 'late-topic' },
            idleTimeoutMs: 5000,
            consumerGroup: 'unit-late-writes',
            table: 'agg_main',
          },
        ],
      },
    },
  });
  const metrics = createAggregatorMetrics();
  const runner = new PipelineRunner({
    config,
    pipeline: config.aggregator.pipelines[0]!,
    sink: { rawReadingsBuffer: () => ({ size: 0, push: () => undefined }) } as unknown as AggregateSink,
    checkpoints: {} as CheckpointStore,
    metrics,
    logger: createLogger('test', 'silent'),
    writesRawReadings: false,
    instanceId: 'unit',
    lateProducer: lateProducer as KafkaProducer,
  });
  const commitErrors = async () => (await metrics.commitErrors.get()).values.reduce((sum, value) => sum + value.value, 0);
  return { runner, internals: runner as unknown as RunnerInternals, commitErrors };
}

const reading: ReadingRecord = { v: 1, tenant: 'acme', device: 'dev-1', id: 'dev-1:1', eventTime: 1000, ingestTime: 30_000, metrics: { temperature: 20 } };

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 200 && !condition(); turn++) await new Promise((resolve) => setImmediate(resolve));
}

test('a late write rejected before any flush fails the pipeline, and is never an unhandled rejection', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    // What the plain producer does while it re-creates its librdkafka instance.
    const notReady = new KafkaProduceError('KAFKA_NOT_READY', 'producer is recreating; record for telemetry.late not sent', { retriable: true });
    const { runner, internals } = runnerWith({ produce: () => Promise.reject(notReady) });
    internals.output.emitLate(reading, 'temperature', 7);
    await until(() => runner.status()['error'] !== null);
    // Let a turn of the event loop pass so that Node reports an unhandled rejection if there is one.
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(unhandled, [], 'no unhandled rejection (it ends the process without fail())');
    assert.equal(runner.status()['error'], notReady.message, 'the pipeline failed with the producer error');
    assert.equal(runner.isHealthy(), false);
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
});

/** A commit through a fake transactional producer that refuses with `error`. */
async function commitRefusedWith(error: Error, options: { stillOwned: boolean }): Promise<{ failedWith: unknown; commitErrors: number }> {
  const { runner, internals, commitErrors } = runnerWith({});
  await internals.partitions.assign([0], new Map([[0, null]]));
  internals.transactional = {
    commit: () => {
      // A rebalance during the commit hands the partition to its next owner (the broker then refuses it).
      if (!options.stillOwned) internals.partitions.revoke([0]);
      return Promise.reject(error);
    },
  };
  const position: PartitionPosition = { partition: 0, offset: 5, processor: internals.partitions.get(0)! };
  await internals.commits.complete(Promise.resolve(), [position], false);
  return { failedWith: runner.status()['error'], commitErrors: await commitErrors() };
}

const context = { transactionalId: 'tp-unit' };
const abortable = new KafkaTransactionError('commitTransaction', { code: ERR.ERR__MSG_TIMED_OUT }, context);

test('a commit refused because the producer is in an impossible state (after a failed abort) fails the pipeline loudly', async () => {
  const { failedWith } = await commitRefusedWith(new TransactionStateError('fatal', 'begin', context), { stillOwned: true });
  assert.match(String(failedWith), /cannot take 'begin' while fatal/);
});

test('a fatal transaction error (fenced, failed abort) fails the pipeline loudly', async () => {
  const fenced = new KafkaTransactionError('commitTransaction', { code: ERR.ERR_PRODUCER_FENCED }, context);
  const { failedWith } = await commitRefusedWith(fenced, { stillOwned: true });
  assert.match(String(failedWith), /ERR_PRODUCER_FENCED/);
});

test('an aborted transaction that took late records back, with the partitions still owned, fails the pipeline (else they are lost)', async () => {
  const { failedWith } = await commitRefusedWith(new KafkaTransactionAbortedError(abortable, 3, context), { stillOwned: true });
  assert.match(String(failedWith), /aborted with 3 record/);
});

test('an aborted transaction is harmless when it held no records, or when the partitions went to their next owner meanwhile', async () => {
  for (const [records, stillOwned] of [[0, true], [3, false]] as const) {
    const outcome = await commitRefusedWith(new KafkaTransactionAbortedError(abortable, records, context), { stillOwned });
    assert.equal(outcome.failedWith, null, `records ${records}, still owned ${stillOwned}: not a failure`);
    assert.equal(outcome.commitErrors, 1, 'counted as a refused commit');
  }
});

test('a refused plain offset commit stays harmless (the next owner resumes from the last checkpoint)', async () => {
  const refused = new PipelineError('KAFKA_COMMIT', 'offset commit failed (group g): Broker: Specified group generation id is not valid');
  const { runner, internals, commitErrors } = runnerWith({});
  await internals.partitions.assign([0], new Map([[0, null]]));
  const consumer = (runner as unknown as { consumer: { commit: () => Promise<void> } }).consumer;
  consumer.commit = () => Promise.reject(refused);
  await internals.commits.complete(Promise.resolve(), [{ partition: 0, offset: 5, processor: internals.partitions.get(0)! }], false);
  assert.equal(runner.status()['error'], null);
  assert.equal(await commitErrors(), 1);
});
