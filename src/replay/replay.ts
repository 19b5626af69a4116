import type { Message } from '@confluentinc/kafka-javascript';
import type { Config, PipelineConfig } from '../config/schema.ts';
import { guaranteeSettings } from '../config/guarantees.ts';
import { guaranteeProfile } from '../core/guarantees.ts';
import { PartitionProcessor, type ProcessorOutput } from '../core/processor.ts';
import type { AggregateRow } from '../core/rows.ts';
import type { ClickHouseCheckpointStore } from '../clickhouse/checkpoints.ts';
import type { EncodedRows } from '../clickhouse/encode.ts';
import type { AggregateSink } from '../clickhouse/sink.ts';
import { PartitionStates } from '../aggregator/partitions.ts';
import { decodeMessage, feedRecord } from '../aggregator/record-decoding.ts';
import type { Logger } from '../util/log.ts';
import type { Progress } from '../util/progress.ts';
import { PartitionReader } from './reader.ts';
import { ReplayError, planPartition, recordsToRead, type PartitionFacts, type PartitionPlan, type Position } from './plan.ts';

/**
 * `replay`: recomputes a pipeline's rows from the readings topic into its table (see plan.ts for
 * why the rows are the live ones). Reads with its own reader (manual assignment, its own group
 * id, no commits): the live group's members, assignment and committed offsets are untouched.
 * Writes only the aggregate table: raw readings and late-topic records were written the first time.
 */
export interface ReplayDeps {
  readonly config: Config;
  readonly pipeline: PipelineConfig;
  readonly partitions: number;
  readonly checkpoints: Pick<ClickHouseCheckpointStore, 'atOrBefore'>;
  readonly sink: AggregateSink;
  readonly logger: Logger;
  readonly progress: Progress;
  readonly now?: () => number;
}

export interface ReplaySummary {
  readonly pipeline: string;
  readonly plans: readonly PartitionPlan[];
  /** Records read, including those before --from that rebuilt the state. */
  readonly recordsRead: number;
  /** Records at or after --from (the ones whose rows were written). */
  readonly recordsInRange: number;
  readonly rowsWritten: number;
  /** Late readings met in range (not sent to the late topic again: the live pipeline did). */
  readonly lateSeen: number;
  readonly durationMs: number;
}

const CONSUME_BATCH = 5000;
/** With nothing arriving for this long while partitions are unfinished, the replay gives up. */
const STALL_MS = 60_000;

export async function replay(deps: ReplayDeps, from: Position, to: Position | null): Promise<ReplaySummary> {
  const { config, pipeline } = deps;
  const now = deps.now ?? Date.now;
  const startedAt = now();
  const profile = guaranteeProfile(pipeline.guarantee);
  if (!profile.state.checkpointed) {
    throw new ReplayError(
      'REPLAY_NOT_REPRODUCIBLE',
      `pipeline '${pipeline.name}' runs ${pipeline.guarantee}, which keeps no window checkpoints: its rows after a restart depend on where it restarted, ` +
        'so no replay can promise the rows it wrote. Replay needs guarantee exactly-once.',
      { pipeline: pipeline.name, guarantee: pipeline.guarantee },
    );
  }
  const reader = new PartitionReader({
    connection: config.kafka,
    topic: config.kafka.readingsTopic,
    // Never joins the group (manual assignment) and never commits: a name of its own all the same.
    groupId: `${pipeline.consumerGroup}-replay-${process.pid}-${startedAt}`,
    clientId: `${config.kafka.clientId}-${pipeline.name}-replay`,
    isolation: guaranteeSettings(config, pipeline).consumer.isolation,
  });
  await reader.connect();
  try {
    const plans = await planReplay(deps, reader, from, to);
    const counts = await run(deps, reader, plans, now);
    return { pipeline: pipeline.name, plans, ...counts, durationMs: now() - startedAt };
  } finally {
    await reader.disconnect();
  }
}

async function planReplay(deps: ReplayDeps, reader: PartitionReader, from: Position, to: Position | null): Promise<PartitionPlan[]> {
  const partitions = Array.from({ length: deps.partitions }, (_, partition) => partition);
  const fromTimes = from.kind === 'time' ? await reader.offsetsForTime(partitions, from.ms) : null;
  const toTimes = to?.kind === 'time' ? await reader.offsetsForTime(partitions, to.ms) : null;
  const plans: PartitionPlan[] = [];
  for (const partition of partitions) {
    const { low, high } = await reader.watermarks(partition);
    const facts: PartitionFacts = { partition, low, high, fromTimeOffset: fromTimes?.get(partition) ?? null, toTimeOffset: toTimes?.get(partition) ?? null };
    // The plan without a checkpoint says where --from lands; the checkpoint is looked up there.
    const probe = planPartition(deps.pipeline.name, { ...facts, low: 0 }, from, to, null);
    if (probe === null) continue;
    const checkpoint = await deps.checkpoints.atOrBefore(deps.pipeline.name, partition, probe.writeFrom);
    const plan = planPartition(deps.pipeline.name, facts, from, to, checkpoint);
    if (plan !== null) plans.push(plan);
  }
  return plans;
}

async function run(
  deps: ReplayDeps,
  reader: PartitionReader,
  plans: readonly PartitionPlan[],
  now: () => number,
): Promise<{ recordsRead: number; recordsInRange: number; rowsWritten: number; lateSeen: number }> {
  const states = new PartitionStates(deps.pipeline, guaranteeProfile(deps.pipeline.guarantee), unusedCheckpoints, deps.logger);
  const byPartition = new Map<number, { plan: PartitionPlan; processor: PartitionProcessor; read: number }>();
  for (const plan of plans) {
    const spec = states.spec(plan.partition);
    const processor = plan.state === null ? new PartitionProcessor(spec) : PartitionProcessor.restore(spec, plan.state);
    byPartition.set(plan.partition, { plan, processor, read: 0 });
  }
  const ingestClock = deps.config.kafka.ingestClock;
  const table = deps.pipeline.table;
  let buffer: EncodedRows<AggregateRow> = deps.sink.aggregateRowsBuffer(now());
  let writing = false;
  let rowsWritten = 0;
  let recordsInRange = 0;
  let lateSeen = 0;
  const output: ProcessorOutput = {
    // Encoded at once: a count-only processor reuses its row object.
    emitRow: (row) => {
      if (writing) buffer.push(row);
    },
    emitLate: () => {
      if (writing) lateSeen++;
    },
  };
  const flush = async (): Promise<void> => {
    if (buffer.size === 0) return;
    const full = buffer;
    buffer = deps.sink.aggregateRowsBuffer(now());
    await deps.sink.insertAggregates(table, full);
    rowsWritten += full.size;
  };

  const unfinished = new Set(byPartition.keys());
  const finish = (partition: number): void => {
    if (!unfinished.delete(partition)) return;
    reader.pause(partition);
  };
  deps.progress.start(recordsToRead(plans));
  reader.assign(new Map(plans.map((plan) => [plan.partition, plan.startOffset])));
  let lastArrival = now();
  let read = 0;
  const feed = (message: Message): void => {
    const entry = byPartition.get(message.partition);
    if (entry === undefined || !unfinished.has(message.partition)) return;
    const { plan, processor } = entry;
    if (message.offset >= plan.stopAt) {
      finish(message.partition);
      return;
    }
    entry.read = message.offset + 1 - plan.startOffset;
    read++;
    writing = message.offset >= plan.writeFrom;
    if (writing) recordsInRange++;
    if (message.value !== null) {
      // Decoded and fed exactly as the live runner does it (the same ingest clock).
      const decoded = decodeMessage(message.value, message.timestamp, ingestClock);
      if (decoded.ok) feedRecord(processor, decoded, message.offset, output);
    }
    if (message.offset + 1 >= plan.stopAt) finish(message.partition);
  };
  try {
    while (unfinished.size > 0) {
      const { messages, ends } = await reader.consume(CONSUME_BATCH);
      for (const message of messages) feed(message);
      for (const end of ends) {
        const entry = byPartition.get(end.partition);
        if (entry !== undefined && end.offset >= entry.plan.stopAt) finish(end.partition);
      }
      if (messages.length > 0 || ends.length > 0) lastArrival = now();
      else if (now() - lastArrival > STALL_MS) {
        throw new ReplayError('REPLAY_STALLED', `nothing arrived for ${STALL_MS / 1000} s from partitions ${[...unfinished].join(',')} before their end offsets`, {
          pipeline: deps.pipeline.name,
          partitions: [...unfinished].join(','),
        });
      }
      if (buffer.size >= deps.config.aggregator.maxRowsPerInsert) await flush();
      let done = 0;
      for (const entry of byPartition.values()) done += unfinished.has(entry.plan.partition) ? entry.read : entry.plan.stopAt - entry.plan.startOffset;
      deps.progress.update(done);
    }
    writing = false;
    await flush();
  } finally {
    deps.progress.stop();
  }
  return { recordsRead: read, recordsInRange, rowsWritten, lateSeen };
}

/** PartitionStates is used here only for the processor spec of a partition: it never loads. */
const unusedCheckpoints = {
  save: () => Promise.reject(new Error('replay saves no checkpoints')),
  saveAll: () => Promise.reject(new Error('replay saves no checkpoints')),
  load: () => Promise.reject(new Error('replay loads checkpoints through atOrBefore')),
  latest: () => Promise.reject(new Error('replay loads checkpoints through atOrBefore')),
};
