import type { GuaranteeName } from './guarantees.ts';

/**
 * What a pipeline does under each failure, derived from its effective settings (not from its
 * profile's name alone): the same function refuses a contradictory configuration at start-up,
 * prints the failure table for an architecture review, and tells the chaos run what to expect.
 */
export interface GuaranteeSettings {
  readonly pipeline: string;
  readonly guarantee: GuaranteeName;
  readonly edge: {
    /** When a device's message is acknowledged: after Kafka's delivery report, or on receipt. */
    readonly ackMode: 'after-kafka' | 'on-receipt';
    readonly acks: 'all' | '1' | '0';
    readonly idempotence: boolean;
  };
  readonly kafka: { readonly replicationFactor: number; readonly minInsyncReplicas: number };
  readonly consumer: { readonly autoCommit: boolean; readonly isolation: 'read_committed' | 'read_uncommitted' };
  readonly checkpointed: boolean;
  readonly lateToKafka: boolean;
  readonly transactionalKafkaWrites: boolean;
}

export interface Violation {
  /** The configuration key that contradicts the pipeline's guarantee. */
  readonly key: string;
  readonly message: string;
}

/** Settings that break the promise of the pipeline's tier. Empty when consistent. */
export function guaranteeViolations(settings: GuaranteeSettings, keyOf: (setting: string) => string): Violation[] {
  const violations: Violation[] = [];
  const tier = settings.guarantee;
  const atLeast = tier !== 'at-most-once';
  const say = (setting: string, message: string): void => {
    violations.push({ key: keyOf(setting), message: `pipeline '${settings.pipeline}' is ${tier}, but ${message}` });
  };
  if (atLeast && settings.edge.ackMode !== 'after-kafka') {
    say('edge.ackMode', `edge.ackMode is '${settings.edge.ackMode}': a bridge that crashes after acknowledging a device but before Kafka's ack loses the reading; use 'after-kafka'`);
  }
  if (atLeast && settings.edge.acks !== 'all') {
    say('edge.producer.acks', `edge.producer.acks is '${settings.edge.acks}': a partition leader that fails over can lose acknowledged readings; use 'all'`);
  }
  if (tier === 'exactly-once' && !settings.edge.idempotence) {
    say('edge.producer.idempotence', 'edge.producer.idempotence is false: librdkafka retries could write a batch twice and reorder a device\'s readings; set it to true');
  }
  if (atLeast && settings.consumer.autoCommit) {
    say('consumer.autoCommit', 'consumer.autoCommit is true: offsets would be committed before ClickHouse has the rows they cover; set it to false');
  }
  if (tier === 'exactly-once' && settings.consumer.isolation !== 'read_committed') {
    say('consumer.isolationLevel', `consumer.isolationLevel is '${settings.consumer.isolation}': aborted transactional writes would be read; use 'read_committed'`);
  }
  if (atLeast && settings.kafka.replicationFactor >= 3 && settings.kafka.minInsyncReplicas < 2) {
    say('kafka.minInsyncReplicas', `kafka.minInsyncReplicas is ${settings.kafka.minInsyncReplicas} with replication factor ${settings.kafka.replicationFactor}: acks=all would be satisfied by one replica, which a failover can lose; use 2`);
  }
  return violations;
}

/**
 * What the audit under FINAL may show: 'exact' — nothing lost, nothing counted twice; 'duplicated'
 * — nothing lost, readings may be counted twice; 'lost' — readings may be missing.
 */
export type Outcome = 'exact' | 'lost' | 'duplicated';

export interface ScenarioOutcome {
  readonly id: FailureScenario;
  readonly scenario: string;
  readonly outcome: Outcome;
  /** How the outcome comes about, in a sentence for a review. */
  readonly mechanism: string;
}

export const FAILURE_SCENARIOS = [
  'device-resends',
  'bridge-crash-before-kafka-ack',
  'bridge-crash-after-kafka-ack',
  'leader-failover',
  'producer-timeout',
  'aggregator-crash-before-insert',
  'aggregator-crash-after-insert-before-commit',
  'aggregator-crash-after-commit',
  'zombie-instance',
  'aggregator-partitioned-from-kafka',
  'rebalance',
  'clickhouse-down',
  'replay-from-earliest',
] as const;
export type FailureScenario = (typeof FAILURE_SCENARIOS)[number];

const TITLES: Record<FailureScenario, string> = {
  'device-resends': 'a device resends a reading (same id)',
  'bridge-crash-before-kafka-ack': "the bridge crashes before Kafka's ack",
  'bridge-crash-after-kafka-ack': "the bridge crashes after Kafka's ack, before the device's ack",
  'leader-failover': 'a partition leader fails over',
  'producer-timeout': 'a producer timeout with an unknown outcome',
  'aggregator-crash-before-insert': 'the aggregator crashes before the insert',
  'aggregator-crash-after-insert-before-commit': 'the aggregator crashes after the insert, before the offset commit',
  'aggregator-crash-after-commit': 'the aggregator crashes after the offset commit',
  'zombie-instance': 'a zombie instance (paused past its session timeout) comes back',
  'aggregator-partitioned-from-kafka': 'the network between an aggregator and Kafka is cut past its session timeout (ClickHouse still reachable), then healed',
  rebalance: 'a rebalance moves partitions between instances',
  'clickhouse-down': 'ClickHouse is down or times out',
  'replay-from-earliest': 'the consumer group is replayed from the earliest offset',
};

/** The failure table of one pipeline: every scenario, what happens to the readings, and why. */
export function failureAnalysis(settings: GuaranteeSettings): ScenarioOutcome[] {
  const s = settings;
  const ackAfterKafka = s.edge.ackMode === 'after-kafka';
  const safeReplication = s.edge.acks === 'all' && (s.kafka.replicationFactor < 3 || s.kafka.minInsyncReplicas >= 2);
  const consumerLoses = s.consumer.autoCommit;
  const row = (id: FailureScenario, outcome: Outcome, mechanism: string): ScenarioOutcome => ({ id, scenario: TITLES[id], outcome, mechanism });
  const aggregatorRestart = (when: string): [Outcome, string] => {
    if (consumerLoses) {
      return ['lost', `offsets were auto-committed as records were read; the readings of windows still open ${when} are not read again`];
    }
    if (s.checkpointed) {
      return ['exact', 'the new owner loads the checkpoint of the committed offset and replays from it; processing is deterministic, so re-emitted rows are identical and ReplacingMergeTree(version) collapses them'];
    }
    return ['exact', 'the new owner replays from the earliest offset an open window still needed (the committed offset); windows are rebuilt and re-emitted, and ReplacingMergeTree keeps the most complete version (readings are counted once under FINAL)'];
  };
  const [beforeInsert, beforeInsertWhy] = aggregatorRestart('at the crash');
  const [afterInsert, afterInsertWhy] = aggregatorRestart('at the crash');
  const [afterCommit, afterCommitWhy] = aggregatorRestart('at the crash');
  return [
    row('device-resends', 'exact', 'the reading keeps its id; Kafka may hold it twice, but each window counts an id once and readings_raw is deduplicated by id'),
    ackAfterKafka
      ? row('bridge-crash-before-kafka-ack', 'exact', 'no PUBACK was sent, so the broker redelivers the message from the persistent session to another bridge (or the restarted one)')
      : row('bridge-crash-before-kafka-ack', 'lost', 'the device was acknowledged on receipt, so nobody resends the readings the bridge had not yet written to Kafka'),
    row('bridge-crash-after-kafka-ack', 'exact', ackAfterKafka ? 'the broker redelivers; the copy in Kafka carries the same id and is counted once' : 'the reading is in Kafka; the device was already acknowledged'),
    s.kafka.replicationFactor === 1 && s.edge.acks === 'all'
      ? row('leader-failover', 'exact', 'replication factor 1: there is no other replica to fail over to; the partition is unavailable until its broker returns, and meanwhile the bridge holds back acknowledgements (the broker keeps the readings)')
      : safeReplication
      ? row('leader-failover', 'exact', `acks=all with min.insync.replicas ${s.kafka.minInsyncReplicas} (replication ${s.kafka.replicationFactor}): an acknowledged record is on every in-sync replica; the idempotent producer retries into the new leader without duplicates`)
      : row('leader-failover', 'lost', `acks=${s.edge.acks} (min.insync.replicas ${s.kafka.minInsyncReplicas}): a record acknowledged by the old leader alone is gone after the failover`),
    ackAfterKafka
      ? row('producer-timeout', 'exact', 'the outcome is unknown, so the device is not acknowledged and the producer is re-created; the resent reading may land twice in Kafka and is counted once by id')
      : row('producer-timeout', 'lost', 'the device was acknowledged on receipt; a record that timed out is not resent'),
    row('aggregator-crash-before-insert', beforeInsert, beforeInsertWhy),
    row('aggregator-crash-after-insert-before-commit', afterInsert, s.checkpointed || consumerLoses ? afterInsertWhy : `${afterInsertWhy}; the rows already inserted are written again`),
    row('aggregator-crash-after-commit', afterCommit, afterCommitWhy),
    consumerLoses
      ? row('zombie-instance', 'lost', 'the zombie had auto-committed offsets of readings still in its open windows, which the new owner does not read')
      : row(
          'zombie-instance',
          'exact',
          s.transactionalKafkaWrites && s.lateToKafka
            ? 'its transaction is fenced (stale group generation, EOS v2) and aborted; rows it still writes are identical to the new owner\'s and collapse'
            : 'its offset commit is refused (stale group generation); rows it still writes carry versions no higher than the new owner\'s for the same readings and collapse',
        ),
    consumerLoses
      ? row('aggregator-partitioned-from-kafka', 'lost', 'the cut-off instance had auto-committed offsets of readings still in its open windows; the instance that takes its partitions does not read them')
      : row(
          'aggregator-partitioned-from-kafka',
          'exact',
          'the group gives its partitions to another instance, which resumes from the committed offset; the cut-off instance cannot commit, and rows it still writes to ClickHouse are identical to, or carry versions no higher than, the new owner\'s and collapse; healed, it rejoins and rebuilds its state',
        ),
    row('rebalance', ...aggregatorRestart('on the revoked partitions')),
    consumerLoses
      ? row('clickhouse-down', 'lost', 'inserts are retried within a bounded budget, but offsets were committed already; if the budget runs out the aggregator exits and the open windows are lost')
      : row('clickhouse-down', 'exact', 'delayed, not lost: inserts are retried with backoff (a timeout counts as an unknown outcome and the identical batch is resent); nothing is committed meanwhile; past the budget the aggregator exits and its restart resumes as after a crash'),
    row('replay-from-earliest', 'exact', 'every window is recomputed from the log; identical keys and versions collapse in ReplacingMergeTree (as long as the topic retains the data)'),
  ];
}
