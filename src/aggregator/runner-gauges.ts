import type { PartitionProcessor } from '../core/processor.ts';
import type { ReadingsConsumer } from '../kafka/consumer.ts';
import type { AggregatorMetrics } from './metrics.ts';
import type { PartitionStates } from './partitions.ts';

type Labels = { readonly pipeline: string; readonly tier: string };
type SeenStats = { duplicates: number; lateDropped: number; lateToTopic: number; lateAbsorbed: number };

/** A pipeline's gauges (windows, state, watermark, lag) and its counters kept by the processors. */
export class RunnerGauges {
  private readonly lastSeenStats = new WeakMap<PartitionProcessor, SeenStats>();

  constructor(
    private readonly metrics: AggregatorMetrics,
    private readonly labels: Labels,
    private readonly partitions: PartitionStates,
    private readonly consumer: Pick<ReadingsConsumer, 'lag'>,
  ) {}

  publish(now: number): void {
    const { metrics, labels } = this;
    let open = 0;
    let retained = 0;
    let bytes = 0;
    let delay = 0;
    let behind = 0;
    let ahead = 0;
    let beyondCeiling = 0;
    const positions = new Map<number, number>();
    for (const [partition, processor] of this.partitions.entries()) {
      open += processor.openWindows();
      const clocks = processor.deviceClockCounts();
      behind += clocks.behind;
      ahead += clocks.ahead;
      beyondCeiling += clocks.beyondCeiling;
      retained += processor.retainedWindows();
      bytes += processor.estimatedStateBytes();
      delay = Math.max(delay, processor.currentDelayMs());
      this.countStatsSinceLastLook(processor);
      const next = processor.nextOffset();
      if (next !== null) positions.set(partition, next);
    }
    metrics.openWindows.set(labels, open);
    metrics.retainedWindows.set(labels, retained);
    metrics.stateBytes.set(labels, bytes);
    metrics.watermarkDelay.set(labels, delay);
    metrics.assignedPartitions.set(labels, this.partitions.size);
    metrics.clockShiftedDevices.set({ ...labels, state: 'behind' }, behind);
    metrics.clockShiftedDevices.set({ ...labels, state: 'ahead' }, ahead);
    metrics.clockShiftedDevices.set({ ...labels, state: 'beyond_ceiling' }, beyondCeiling);
    const watermark = this.partitions.instanceWatermark();
    if (watermark !== null) {
      metrics.watermark.set(labels, watermark);
      metrics.watermarkLag.set(labels, Math.max(0, now - watermark) / 1000);
    }
    for (const [partition, lag] of this.consumer.lag(positions)) {
      metrics.consumerLag.set({ ...labels, partition: String(partition) }, lag);
    }
  }

  /**
   * The processors count duplicates and late values themselves (their counts survive restarts in
   * the checkpoint); the metrics advance by what changed since the last look at each processor,
   * starting from whatever a restored processor already carried.
   */
  private countStatsSinceLastLook(processor: PartitionProcessor): void {
    const stats = processor.stats;
    const current = { duplicates: stats.duplicates, lateDropped: stats.lateDropped, lateToTopic: stats.lateToTopic, lateAbsorbed: stats.lateAbsorbed };
    const last = this.lastSeenStats.get(processor);
    this.lastSeenStats.set(processor, current);
    if (!last) return;
    const { metrics, labels } = this;
    metrics.duplicates.inc(labels, current.duplicates - last.duplicates);
    metrics.late.inc({ ...labels, outcome: 'dropped' }, current.lateDropped - last.lateDropped);
    metrics.late.inc({ ...labels, outcome: 'late_topic' }, current.lateToTopic - last.lateToTopic);
    metrics.late.inc({ ...labels, outcome: 'absorbed' }, current.lateAbsorbed - last.lateAbsorbed);
  }
}
