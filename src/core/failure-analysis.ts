import type { GuaranteeName } from './guarantees.ts';

/**
 * What a pipeline does under each failure, derived from its effective settings (not from its
 * profile's name alone): the same function refuses a contradictory configuration at start-up,
 * prints the failure table for an architecture review, and tells the chaos run what to expect.
 */
/**
 * How the MQTT broker of broker mode keeps what it acknowledged (Mosquitto's `persistence`,
 * `autosave_interval` and `autosave_on_changes`): 'off' keeps everything in memory only;
 * 'autosave-interval' writes the store every `autosave` seconds, 'autosave-on-changes' after
 * every `autosave` changes.
 */
export interface BrokerPersistence {
  readonly mode: 'off' | 'autosave-interval' | 'autosave-on-changes';
  readonly autosave: number;
}

export interface GuaranteeSettings {
  readonly pipeline: string;
  readonly guarantee: GuaranteeName;
  readonly mqtt: {
    /** 'direct': the bridge is the devices' MQTT server; 'broker': devices talk to an MQTT broker the bridge subscribes to. */
    readonly mode: 'direct' | 'broker';
    /** Broker mode: what the broker writes to disk (it decides what a broker crash loses). */
    readonly brokerPersistence: BrokerPersistence;
  };
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
  /** For a 'lost' outcome whose loss is bounded: the most it can lose (a test checks an observation against it). */
  readonly bound?: LossBound;
}

/**
 * The most a failure loses: 'backlog' — every reading acknowledged to devices and not yet taken by
 * a bridge; 'seconds' — the readings devices published in that many seconds before the failure;
 * 'messages' — that many messages (plus those the broker handles in one pass of its event loop).
 */
export type LossBound = { readonly kind: 'backlog' } | { readonly kind: 'seconds'; readonly seconds: number } | { readonly kind: 'messages'; readonly messages: number };

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
  'mqtt-broker-crash',
  'mqtt-broker-restart',
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
  'mqtt-broker-crash': 'the MQTT broker (broker mode) or the bridge\'s MQTT server (direct mode) is killed (SIGKILL) while the bridge is behind',
  'mqtt-broker-restart': 'the MQTT broker restarts (Mosquitto 2.0.11 does not restore `$share` subscriptions)',
};

/** The failure table of one pipeline: every scenario, what happens to the readings, and why. */
export function failureAnalysis(settings: GuaranteeSettings): ScenarioOutcome[] {
  const s = settings;
  const ackAfterKafka = s.edge.ackMode === 'after-kafka';
  const safeReplication = s.edge.acks === 'all' && (s.kafka.replicationFactor < 3 || s.kafka.minInsyncReplicas >= 2);
  const consumerLoses = s.consumer.autoCommit;
  const lateTransactions = s.transactionalKafkaWrites && s.lateToKafka;
  const row = (id: FailureScenario, outcome: Outcome, mechanism: string): ScenarioOutcome => ({ id, scenario: TITLES[id], outcome, mechanism });
  /** Exact when the device is acknowledged only after Kafka (who resends depends on the MQTT mode), lost when on receipt. */
  const ackRow = (id: FailureScenario, direct: string, broker: string, onReceipt: string): ScenarioOutcome =>
    ackAfterKafka ? row(id, 'exact', s.mqtt.mode === 'direct' ? direct : broker) : row(id, 'lost', onReceipt);
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
    row(
      'device-resends',
      'exact',
      `the reading keeps its id; Kafka may hold it twice, but each window counts an id once and readings_raw is deduplicated by id${s.lateToKafka ? '; a late reading resent is written to the late topic once per copy (that topic is not deduplicated: its consumers deduplicate by id)' : ''}`,
    ),
    ackRow(
      'bridge-crash-before-kafka-ack',
      'no PUBACK was sent, so the device still holds the message and publishes it again once it has reconnected to a bridge (or the restarted one)',
      'no PUBACK was sent, so the broker redelivers the message from the persistent session to another bridge (or the restarted one)',
      'the device was acknowledged on receipt, so nobody resends the readings the bridge had not yet written to Kafka',
    ),
    row(
      'bridge-crash-after-kafka-ack',
      'exact',
      ackAfterKafka ? `${s.mqtt.mode === 'direct' ? 'the device publishes it again' : 'the broker redelivers'}; the copy in Kafka carries the same id and is counted once` : 'the reading is in Kafka; the device was already acknowledged',
    ),
    s.kafka.replicationFactor === 1 && s.edge.acks === 'all'
      ? row('leader-failover', 'exact', `replication factor 1: there is no other replica to fail over to; the partition is unavailable until its broker returns, and meanwhile the bridge holds back acknowledgements (${s.mqtt.mode === 'direct' ? 'the devices keep' : 'the broker keeps'} the readings)`)
      : safeReplication
      ? row('leader-failover', 'exact', `acks=all with min.insync.replicas ${s.kafka.minInsyncReplicas} (replication ${s.kafka.replicationFactor}): an acknowledged record is on every in-sync replica; the idempotent producer retries into the new leader without duplicates`)
      : row('leader-failover', 'lost', `acks=${s.edge.acks} (min.insync.replicas ${s.kafka.minInsyncReplicas}): a record acknowledged by the old leader alone is gone after the failover`),
    ackRow(
      'producer-timeout',
      "the outcome is unknown, so the device is not acknowledged: the producer is re-created and the bridge closes the device's connection, and the device publishes the reading again; it may land twice in Kafka and is counted once by id",
      'the outcome is unknown, so the bridge does not acknowledge the message to the broker: the producer is re-created and the bridge replaces its MQTT connection, and the broker redelivers the message; it may land twice in Kafka and is counted once by id',
      'the device was acknowledged on receipt; a record that timed out is not resent',
    ),
    row('aggregator-crash-before-insert', beforeInsert, beforeInsertWhy),
    row('aggregator-crash-after-insert-before-commit', afterInsert, s.checkpointed || consumerLoses ? afterInsertWhy : `${afterInsertWhy}; the rows already inserted are written again`),
    row('aggregator-crash-after-commit', afterCommit, afterCommitWhy),
    consumerLoses
      ? row('zombie-instance', 'lost', 'the zombie had auto-committed offsets of readings still in its open windows, which the new owner does not read')
      : row(
          'zombie-instance',
          'exact',
          s.transactionalKafkaWrites && s.lateToKafka
            ? 'its transactional commit is refused (stale group generation: EOS v2 binds the offsets to it) and the transaction is aborted, so nothing of it is committed; if the aborted transaction had taken late records back while the zombie still held its partitions, its pipeline fails and the process exits for its supervisor to restart it; rows it still wrote to ClickHouse are identical to the new owner\'s and collapse'
            : 'its offset commit is refused (stale group generation); rows it still writes carry versions no higher than the new owner\'s for the same readings and collapse',
        ),
    consumerLoses
      ? row('aggregator-partitioned-from-kafka', 'lost', 'the cut-off instance had auto-committed offsets of readings still in its open windows; the instance that takes its partitions does not read them')
      : row(
          'aggregator-partitioned-from-kafka',
          'exact',
          `the group gives its partitions to another instance, which resumes from the committed offset; the cut-off instance cannot commit, and rows it still writes to ClickHouse are identical to, or carry versions no higher than, the new owner\'s and collapse; healed, it rejoins and rebuilds its state${lateTransactions ? '; with the late topic, a refused transactional commit is aborted, and one that had taken late records back while the instance still held its partitions fails its pipeline and the process exits for its supervisor to restart it' : ''}`,
        ),
    row('rebalance', ...aggregatorRestart('on the revoked partitions')),
    consumerLoses
      ? row('clickhouse-down', 'lost', 'inserts are retried within a bounded budget, but offsets were committed already; if the budget runs out the aggregator exits and the open windows are lost')
      : row('clickhouse-down', 'exact', 'delayed, not lost: inserts are retried with backoff (a timeout counts as an unknown outcome and the identical batch is resent); nothing is committed meanwhile; past the budget the aggregator exits and its restart resumes as after a crash'),
    row('replay-from-earliest', 'exact', 'every window is recomputed from the log; identical keys and versions collapse in ReplacingMergeTree (as long as the topic retains the data)'),
    mqttEndpointCrash(s),
    mqttBrokerRestart(s),
  ];
}

/** What a failure run observed: acknowledged readings missing downstream, and what bounds them. */
export interface LossObservation {
  readonly missing: number;
  /** Readings per second the devices were acknowledged at around the failure. */
  readonly ratePerSecond: number;
  /** Readings acknowledged to devices and not yet taken by a bridge when the failure struck. */
  readonly backlog: number;
}

/**
 * Whether an observation is what the row predicted: 'exact' and 'duplicated' allow no missing
 * reading; a bounded 'lost' allows at most its bound (`seconds` with one second of slack: a
 * save and the failure fall between the devices' publishing ticks).
 */
export function observationMatches(row: ScenarioOutcome, observed: LossObservation): boolean {
  if (row.outcome !== 'lost') return observed.missing === 0;
  const bound = row.bound;
  if (bound === undefined) return true;
  switch (bound.kind) {
    case 'backlog':
      return observed.missing <= observed.backlog;
    case 'seconds':
      return observed.missing <= Math.min(observed.backlog, observed.ratePerSecond * (bound.seconds + 1));
    case 'messages':
      return observed.missing <= Math.min(observed.backlog, bound.messages + observed.ratePerSecond);
  }
}

/**
 * In broker mode the broker, not the bridge, acknowledges the device: Mosquitto sends its PUBACK
 * when the message arrives, and keeps it in memory until its next save. The bridge's deferred
 * PUBACK protects only the broker → bridge hop.
 */
function mqttEndpointCrash(s: GuaranteeSettings): ScenarioOutcome {
  const id = 'mqtt-broker-crash';
  const scenario = TITLES[id];
  if (s.mqtt.mode === 'direct') {
    return s.edge.ackMode === 'after-kafka'
      ? { id, scenario, outcome: 'exact', mechanism: "direct mode: there is no broker; the bridge is the devices' MQTT server and sends a PUBACK only after Kafka acknowledged, so a killed bridge leaves every unacknowledged message with its device, which publishes it again (counted once by id)" }
      : { id, scenario, outcome: 'lost', mechanism: 'direct mode, devices acknowledged on receipt: what the killed bridge had not yet written to Kafka is gone' };
  }
  const p = s.mqtt.brokerPersistence;
  const before = 'broker mode: the broker acknowledges the device when the message arrives, before any bridge has it; ';
  const saved = 'messages in the last save are restored and redelivered to the bridges\' sessions (counted once by id)';
  switch (p.mode) {
    case 'off':
      return { id, scenario, outcome: 'lost', bound: { kind: 'backlog' }, mechanism: `${before}with persistence off it keeps them in memory only, so every message not yet acknowledged by a bridge is lost — the whole backlog while the bridge is behind (and the bridges' sessions with it)` };
    case 'autosave-interval':
      return { id, scenario, outcome: 'lost', bound: { kind: 'seconds', seconds: p.autosave }, mechanism: `${before}it writes its store every ${p.autosave} s (autosave_interval ${p.autosave}), so messages acknowledged since the last save and not yet acknowledged by a bridge are lost: up to ${p.autosave} s of the devices' traffic; ${saved}` };
    case 'autosave-on-changes':
      return { id, scenario, outcome: 'lost', bound: { kind: 'messages', messages: p.autosave }, mechanism: `${before}it writes its whole store after every ${p.autosave} changes (autosave_on_changes), but still after the PUBACK, so up to ${p.autosave} messages (plus those handled in one pass of its event loop) not yet acknowledged by a bridge are lost; ${saved}` };
  }
}

function mqttBrokerRestart(s: GuaranteeSettings): ScenarioOutcome {
  const id = 'mqtt-broker-restart';
  const scenario = TITLES[id];
  if (s.mqtt.mode === 'direct') {
    return { id, scenario, outcome: 'exact', mechanism: 'direct mode: there is no broker and no subscription to restore; a restarted bridge takes connections again and devices resend what was not acknowledged' };
  }
  return {
    id,
    scenario,
    outcome: 'lost',
    mechanism:
      'broker mode: until a bridge subscribes again (it does on every reconnect, retried every 250 ms) the share group has no member, and the broker answers each publish with PUBACK 0x10 "no matching subscribers" and drops it; ' +
      'device clients (mqtt.js, Paho) report that as delivered and do not publish again, so those readings are lost — for as long as no bridge has resubscribed (about a second when the bridges are running; as long as they are away otherwise). ' +
      'The bridge counts nothing of it (it never sees them); the broker restart and the bridge reconnects are the signal (tp_edge_mqtt_reconnects_total)',
  };
}
