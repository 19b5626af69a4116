import { PipelineError, errorMessage } from '../core/errors.ts';
import type { ReadingRecord } from '../core/readings.ts';
import { encodeReading } from '../core/wire/reading.ts';
import type { KafkaProducer } from '../kafka/producer.ts';
import type { TransactionalProducer } from '../kafka/transactional-producer.ts';
import type { AggregatorMetrics } from './metrics.ts';

export interface LateRouterDeps {
  readonly pipeline: string;
  readonly topic: string;
  readonly labels: { readonly pipeline: string; readonly tier: string };
  readonly metrics: AggregatorMetrics;
  /** Non-transactional producer for the late topic (tiers without Kafka transactions). */
  readonly lateProducer?: KafkaProducer;
  /** The Kafka transaction's producer, once started (tiers with Kafka transactions). */
  readonly transactional: () => TransactionalProducer | null;
  /** Records a failure as the pipeline's (the first one counts) and returns it. */
  readonly fail: (error: PipelineError) => PipelineError;
}

/**
 * A late value to the late topic, as a reading record carrying that one metric: in the Kafka
 * transaction when there is one, else through the plain producer. Returns the write, already
 * handled (resolves with its failure, passed to fail(), or null), for the flush to wait on; null
 * when there is no producer at all (also passed to fail()).
 */
export function routeLate(deps: LateRouterDeps, reading: ReadingRecord, metric: string): Promise<PipelineError | null> | null {
  const value = reading.metrics[metric];
  const record = encodeReading({ ...reading, metrics: value === undefined ? {} : { [metric]: value } });
  const transactional = deps.transactional();
  const write = transactional ? transactional.produce(deps.topic, reading.device, record) : deps.lateProducer?.produce(deps.topic, reading.device, record);
  if (!write) {
    deps.fail(new PipelineError('LATE_TOPIC_UNAVAILABLE', `pipeline ${deps.pipeline} has no producer for the late topic`, { context: { pipeline: deps.pipeline } }));
    return null;
  }
  // Handled now, not when the flush awaits it: a write can fail long before (a producer being
  // re-created refuses at once), and a rejection nobody handles yet ends the process without fail().
  const handled = write.then(
    () => null,
    (error: unknown) =>
      deps.fail(error instanceof PipelineError ? error : new PipelineError('LATE_TOPIC_FAILED', `pipeline ${deps.pipeline}: late write failed: ${errorMessage(error)}`, { cause: error })),
  );
  deps.metrics.lateTopicWrites.inc(deps.labels);
  return handled;
}
