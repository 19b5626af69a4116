import { readFile } from 'node:fs/promises';
import type { Config, PipelineConfig } from '../config/schema.ts';
import { guaranteeProfile } from '../core/guarantees.ts';
import type { Reading } from '../core/readings.ts';
import { encodeValidatedReading } from '../core/wire/reading.ts';
import { PartitionStates } from '../aggregator/partitions.ts';
import type { CheckpointStore } from '../clickhouse/checkpoints.ts';
import { ClickHouseError } from '../clickhouse/errors.ts';
import { KafkaProducer } from '../kafka/producer.ts';
import type { Logger } from '../util/log.ts';
import type { Progress } from '../util/progress.ts';
import { estimateLate, inWriteOrder, type LateEstimate } from './late-estimate.ts';
import { BackfillError, formatOf, parseFile, type LineRefusal } from './parse.ts';
import { validateLines } from './validate.ts';

/**
 * `backfill`: historical readings from a file into the readings topic, validated as the HTTP
 * intake validates them and written in the bridge's wire format (one reading record each, keyed
 * by device), so that every pipeline aggregates them like live ones. First `prepare` (read,
 * validate, order, estimate what each pipeline will treat as late: nothing is written), then
 * `write` once the operator agreed.
 */
export interface PreparedBackfill {
  readonly file: string;
  readonly tenant: string;
  /** Valid readings in write order (oldest event time first). */
  readonly readings: readonly Reading[];
  readonly refusals: readonly LineRefusal[];
  readonly estimates: readonly PipelineEstimate[];
}

export interface PipelineEstimate {
  readonly pipeline: PipelineConfig;
  readonly estimate: LateEstimate;
}

export async function prepareBackfill(
  config: Config,
  file: string,
  tenant: string,
  /** The readings topic's partitions (Kafka spreads the readings over them by device). */
  partitions: number,
  checkpoints: Pick<CheckpointStore, 'latest'> | null,
  logger: Logger,
  now: number,
): Promise<PreparedBackfill> {
  const format = formatOf(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new BackfillError('BACKFILL_FILE', `cannot read '${file}': ${(error as Error).message}`, { file });
  }
  const parsed = parseFile(text, format);
  const validated = validateLines(parsed.lines, tenant, now, config.edge.validation, config.edge.maxHttpBodyBytes);
  const readings = inWriteOrder(validated.readings);
  const refusals = [...parsed.refusals, ...validated.refusals].sort((a, b) => a.line - b.line);
  const estimates: PipelineEstimate[] = [];
  for (const pipeline of config.aggregator.pipelines) {
    const profile = guaranteeProfile(pipeline.guarantee);
    const states = new PartitionStates(pipeline, profile, NO_CHECKPOINTS, logger);
    const latest = new Map<number, string | null>();
    if (profile.state.checkpointed && checkpoints !== null) {
      for (let partition = 0; partition < partitions; partition++) {
        latest.set(partition, await latestState(checkpoints, pipeline.name, partition));
      }
    }
    const estimate = estimateLate(readings, {
      partitions,
      specOf: (partition) => states.spec(partition),
      stateOf: (partition) => latest.get(partition) ?? null,
      ingestTime: now,
    });
    estimates.push({ pipeline, estimate });
  }
  return { file, tenant, readings, refusals, estimates };
}

/** ClickHouse's UNKNOWN_TABLE and UNKNOWN_DATABASE: the pipeline never ran, so its partitions start empty. */
const NEVER_MIGRATED = new Set([60, 81]);

async function latestState(checkpoints: Pick<CheckpointStore, 'latest'>, pipeline: string, partition: number): Promise<string | null> {
  try {
    return (await checkpoints.latest(pipeline, partition))?.state ?? null;
  } catch (error) {
    if (error instanceof ClickHouseError && error.serverCode !== null && NEVER_MIGRATED.has(error.serverCode)) return null;
    throw error;
  }
}

/** What each pipeline will do with the file's readings, for a person, before anything is written. */
export function describeConsequences(prepared: PreparedBackfill): string[] {
  const lines: string[] = [];
  const { readings, refusals } = prepared;
  const first = readings[0];
  const last = readings[readings.length - 1];
  const span = first && last ? `, event times ${new Date(first.eventTime).toISOString()} … ${new Date(last.eventTime).toISOString()}` : '';
  lines.push(`${prepared.file}: ${readings.length} valid readings of tenant '${prepared.tenant}'${span}; ${refusals.length} refused (listed below)`);
  for (const { pipeline, estimate } of prepared.estimates) {
    const policy = pipeline.latePolicy;
    const fate =
      policy.kind === 'drop'
        ? 'dropped (late policy drop: not counted)'
        : policy.kind === 'late-topic'
          ? 'written to the late topic (late policy late-topic: not counted in the table)'
          : `dropped (late policy reemit: only within ${policy.allowedLatenessMs} ms after a window closes is it corrected)`;
    const basis = estimate.fromCheckpoint > 0 ? `from the last checkpoint of ${estimate.fromCheckpoint} of ${estimate.partitions} partition(s)` : 'from an empty state (no checkpoint)';
    lines.push(
      `pipeline ${pipeline.name} (${pipeline.guarantee}, ${describeWatermark(pipeline)}): ${estimate.late} of ${estimate.readings} readings late → ${fate}` +
        `${estimate.reemitted > 0 ? `; ${estimate.reemitted} correct a window already emitted (re-emitted with a higher version)` : ''}` +
        `${estimate.duplicates > 0 ? `; ${estimate.duplicates} already held (same id): not counted again` : ''} — estimated ${basis}`,
    );
  }
  if (prepared.estimates.some(({ estimate }) => estimate.late > 0)) {
    lines.push('late readings are those older than the watermark when they arrive: a pipeline that already passed these times does not reopen its windows for them');
  }
  if (refusals.length > 0) {
    lines.push('refused:');
    for (const refusal of refusals) lines.push(`  line ${refusal.line}: ${refusal.reason}: ${refusal.detail}`);
  }
  return lines;
}

function describeWatermark(pipeline: PipelineConfig): string {
  const watermark = pipeline.watermark;
  return watermark.kind === 'fixed' ? `watermark ${watermark.delayMs} ms behind` : `adaptive watermark up to ${watermark.ceilingMs} ms behind`;
}

export interface BackfillSummary {
  readonly written: number;
  readonly refused: number;
  readonly durationMs: number;
}

/** Records acknowledged by Kafka before more are handed over: bounds memory, keeps the progress honest. */
const IN_FLIGHT = 10_000;

/**
 * Writes the readings, oldest first, one record each (the bridge's record of a single reading:
 * encodeValidatedReading), with the ingest time of the moment they are written. Resolves when
 * Kafka acknowledged every one; a failure leaves the rest unwritten, and running the same file
 * again is safe: the ids are the same, so what was written already is recognised downstream.
 */
export async function writeBackfill(config: Config, prepared: PreparedBackfill, logger: Logger, progress: Progress, now: () => number = Date.now): Promise<BackfillSummary> {
  const startedAt = now();
  const producer = new KafkaProducer({
    connection: config.kafka,
    clientId: `${config.kafka.clientId}-backfill`,
    deliveryTimeoutMs: config.edge.deliveryTimeoutMs,
    logger,
    lingerMs: config.edge.producer.lingerMs,
    compression: config.edge.producer.compression,
    acks: 'all',
    idempotence: true,
    connectPolicy: { maxAttempts: 5, initialDelayMs: 500, maxDelayMs: 5000, maxElapsedMs: 30_000 },
  });
  await producer.connect();
  const topic = config.kafka.readingsTopic;
  let written = 0;
  progress.start(prepared.readings.length);
  try {
    const readings = prepared.readings;
    for (let from = 0; from < readings.length; from += IN_FLIGHT) {
      const ingestTime = now();
      const deliveries: Promise<void>[] = [];
      for (const reading of readings.slice(from, from + IN_FLIGHT)) {
        deliveries.push(producer.produce(topic, reading.device, encodeValidatedReading({ ...reading, ingestTime })));
      }
      await Promise.all(deliveries);
      written += deliveries.length;
      progress.update(written);
    }
  } catch (error) {
    throw new BackfillError(
      'BACKFILL_WRITE',
      `writing to ${topic} failed after ${written} of ${prepared.readings.length} readings were acknowledged: ${(error as Error).message}. ` +
        'Running the same file again is safe: the readings keep their ids, and those already written are not counted twice.',
      { topic, written },
    );
  } finally {
    progress.stop();
    await producer.close();
  }
  return { written, refused: prepared.refusals.length, durationMs: now() - startedAt };
}

const NO_CHECKPOINTS: CheckpointStore = {
  save: () => Promise.reject(new Error('backfill saves no checkpoints')),
  saveAll: () => Promise.reject(new Error('backfill saves no checkpoints')),
  load: () => Promise.reject(new Error('backfill loads checkpoints through latest')),
  latest: () => Promise.reject(new Error('backfill loads checkpoints through latest')),
};
