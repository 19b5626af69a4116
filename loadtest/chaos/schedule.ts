import type { FailureScenario } from '../../src/core/failure-analysis.ts';
import { mulberry32 } from '../../src/util/random.ts';

/**
 * The chaos run's faults on a seeded, reproducible schedule: the same seed, duration and fault
 * list give the same schedule, so a failing run can be replayed exactly.
 */
export const FAULT_KINDS = [
  'kill-bridge',
  'kill-aggregator',
  'crash-aggregator-at-point',
  'stop-aggregator-past-session-timeout',
  'kill-partition-leader',
  'restart-broker',
  'stop-clickhouse',
  'restart-mosquitto',
  'partition-aggregator-from-kafka',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The failure scenarios of the analysis that a fault exercises (what the table must predict). */
export const FAULT_SCENARIOS: Readonly<Record<FaultKind, readonly FailureScenario[]>> = {
  'kill-bridge': ['bridge-crash-before-kafka-ack', 'bridge-crash-after-kafka-ack', 'device-resends'],
  'kill-aggregator': ['aggregator-crash-before-insert', 'aggregator-crash-after-insert-before-commit', 'aggregator-crash-after-commit', 'rebalance'],
  'crash-aggregator-at-point': ['aggregator-crash-before-insert', 'aggregator-crash-after-insert-before-commit', 'aggregator-crash-after-commit', 'rebalance'],
  'stop-aggregator-past-session-timeout': ['zombie-instance', 'rebalance'],
  'kill-partition-leader': ['leader-failover', 'producer-timeout'],
  'restart-broker': ['leader-failover'],
  'stop-clickhouse': ['clickhouse-down'],
  'restart-mosquitto': ['device-resends'],
  'partition-aggregator-from-kafka': ['aggregator-partitioned-from-kafka', 'rebalance'],
};

export const CRASH_POINTS_IN_TURN = ['before-flush:2', 'during-insert:2', 'after-insert-before-commit:2', 'after-commit:2'] as const;

export interface ScheduledFault {
  readonly atMs: number;
  readonly kind: FaultKind;
  /** Which instance (bridge or aggregator index, or broker id) it hits. */
  readonly target: number;
  /** For crash-aggregator-at-point: the crash point. */
  readonly point?: string;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationMs: number;
  readonly kinds: readonly FaultKind[];
  readonly timesEach: number;
  /** Faults start after this and end this long before the end, so that the run settles. */
  readonly marginMs: number;
  readonly instances: number;
  readonly brokers: number;
}

export function faultSchedule(options: ScheduleOptions): ScheduledFault[] {
  const random = mulberry32(options.seed);
  const faults: ScheduledFault[] = [];
  const total = options.kinds.length * options.timesEach;
  const span = Math.max(1, options.durationMs - 2 * options.marginMs);
  // Evenly spaced slots (faults do not pile up), assigned to kinds in a seeded shuffle.
  const order: FaultKind[] = [];
  for (let round = 0; round < options.timesEach; round++) order.push(...options.kinds);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  let crashPoint = 0;
  order.forEach((kind, index) => {
    const slot = span / total;
    const atMs = Math.round(options.marginMs + index * slot + random() * slot * 0.5);
    // The partition hits the one aggregator that runs in a network namespace: the last instance.
    const target =
      kind === 'kill-partition-leader' ? 0
      : kind === 'restart-broker' ? 1 + Math.floor(random() * options.brokers)
      : kind === 'partition-aggregator-from-kafka' ? options.instances - 1
      : Math.floor(random() * options.instances);
    faults.push(kind === 'crash-aggregator-at-point' ? { atMs, kind, target, point: CRASH_POINTS_IN_TURN[crashPoint++ % CRASH_POINTS_IN_TURN.length]! } : { atMs, kind, target });
  });
  return faults;
}
