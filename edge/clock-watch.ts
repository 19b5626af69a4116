import type { Logger } from '../src/util/log.ts';
import { ClockOffsetEstimator, OffsetAlarm } from './clock-offset.ts';
import type { EdgeMetrics } from './metrics.ts';

/** One record in this many milliseconds is timed against the broker's append time. */
export const CLOCK_PROBE_INTERVAL_MS = 1000;

/**
 * Turns the producer's clock samples into the offset gauge and a warning when the host's clock is
 * more than the bound away from the broker's. The pipeline does not need this host's clock to be
 * right (its ingest clock is the broker's), but what the bridge stamps itself does: dead-letter
 * receipt times, the event-time plausibility limits, and the operator's trust in this host.
 */
export function createClockWatch(boundMs: number, metrics: EdgeMetrics, logger: Logger): (sentAt: number, deliveredAt: number, brokerTime: number) => void {
  const estimator = new ClockOffsetEstimator();
  const alarm = new OffsetAlarm(boundMs);
  metrics.clockOffsetBound.set(boundMs / 1000);
  return (sentAt, deliveredAt, brokerTime) => {
    if (!estimator.add({ sentAt, deliveredAt, brokerTime })) return;
    const offsetMs = estimator.offsetMs()!;
    metrics.clockOffset.set(offsetMs / 1000);
    const transition = alarm.update(offsetMs);
    const fields = { offsetSeconds: Math.round(offsetMs) / 1000, boundSeconds: boundMs / 1000 };
    if (transition === 'crossed') {
      logger.warn(fields, "this host's clock is off the Kafka broker's by more than edge.clockOffsetWarnMs; check its time synchronisation (the pipeline's ingest times are the broker's)");
    } else if (transition === 'recovered') {
      logger.info(fields, "this host's clock is back within edge.clockOffsetWarnMs of the Kafka broker's");
    }
  };
}
