import type { FailureScenario, GuaranteeSettings, Outcome, ScenarioOutcome } from '../core/failure-analysis.ts';

/**
 * Which test proves each row of the failure table. A row is printed with its proofs, or marked as
 * not proven with the reason; a row that no rule here covers is printed as not proven too, and
 * test/unit/guarantees-proof.test.ts fails on it, so the table cannot gain an unproven claim
 * silently. A scenario added to FAILURE_SCENARIOS does not compile until it has an entry here.
 */
export interface Proof {
  /** Path from the repository root. */
  readonly file: string;
  /** The test's name as written in its source (a template keeps its `${…}`). */
  readonly test: string;
}

export interface ProofRule {
  readonly outcome: Outcome;
  /** The variant of the row this rule covers (first matching rule wins); every variant when absent. */
  readonly when?: (s: GuaranteeSettings) => boolean;
  readonly provenBy: readonly Proof[];
  /** Set when no test proves the row: what is not proven, printed with the row. */
  readonly unproven?: string;
}

export type ProvenScenarioOutcome = ScenarioOutcome & { readonly provenBy: readonly Proof[]; readonly unproven?: string };

const proof = (file: string, test: string): Proof => ({ file, test });

const AT_MOST_ONCE_LOSES = proof('test/integration/aggregator-at-most-once-loss.test.ts', 'at-most-once: SIGKILL with open windows after the offsets were auto-committed loses their readings and counts nothing twice');
const CHAOS = proof('test/integration/chaos-short-run.test.ts', 'short chaos run: exactly-once exact, at-least-once without loss, observations match the failure table');
const CRASH_AT_POINT = proof('test/integration/aggregator-recovery.test.ts', 'SIGKILL at ${point} and restart: the same final table');
const KILLED_TWICE = proof('test/integration/aggregator-recovery.test.ts', 'SIGKILL from outside at a random moment, twice, then restart: the same final table');
const CLICKHOUSE_STOPPED = proof('test/integration/aggregator-clickhouse-outage.test.ts', 'ClickHouse stopped mid-run until the aggregator retries: nothing committed beyond what was written, the same final table');
const SINK_TIMEOUT = proof('test/unit/clickhouse-sink.test.ts', 'a timed-out insert is retried with identical bytes and token, and each retry is reported');
const SINK_BUDGET = proof('test/unit/clickhouse-sink.test.ts', 'when the budget runs out the caller gets RetriesExhaustedError carrying the unknown-outcome timeout');
const FAILED_PIPELINE_EXITS = proof('test/integration/aggregator-recovery.test.ts', 'a pipeline that fails for good ends the process with exit code 1, for a supervisor to restart');
const ZOMBIE = proof('test/integration/aggregator-rebalance.test.ts', 'a zombie (SIGSTOP past the session timeout, then SIGCONT) does not corrupt the table');
const REBALANCE_KILL = proof('test/integration/aggregator-rebalance.test.ts', 'two instances in one group, one SIGKILLed mid-run (rebalance): the same final table');
const REBALANCE_IN_FLIGHT = proof('test/integration/aggregator-consumer-rebalance.test.ts', 'a partition reassigned during an in-flight consume is delivered from its start offset, contiguously');
const LATE_TRANSACTION_KILL = proof('test/integration/aggregator-late-transaction.test.ts', 'SIGKILL with a late-topic transaction open, then restart: each value once, in a window or committed in the late topic');
const ABORTABLE_COMMIT = proof('test/unit/kafka-transactional-producer.test.ts', 'an abortable commit error aborts and reports how many records were lost; the next transaction works');
const ABORTED_WITH_LATE_FAILS = proof('test/unit/aggregator-late-writes.test.ts', 'an aborted transaction that took late records back, with the partitions still owned, fails the pipeline (else they are lost)');
const ABORTED_HARMLESS = proof('test/unit/aggregator-late-writes.test.ts', 'an aborted transaction is harmless when it held no records, or when the partitions went to their next owner meanwhile');
const REDELIVERIES_COUNTED_ONCE = proof('test/unit/core-processor.test.ts', 'tumbling: out-of-order readings with redeliveries give exactly the expected rows');
const DUPLICATES_ALL_WINDOWS = proof('test/integration/aggregator-windows.test.ts', 'out-of-order, duplicate and late readings give exactly the expected rows for all three window kinds');
const LATE_TOPIC_ONCE_PER_COPY = proof('test/unit/core-late-topic-duplicates.test.ts', 'a late reading delivered twice is handed to the late topic twice; an on-time duplicate is counted once');
const BRIDGE_KILLED = proof('test/integration/edge-restart.test.ts', 'a bridge SIGKILLed mid-stream and restarted loses nothing; extra copies are exact redeliveries');
const DIRECT_BRIDGE_KILLED = proof('test/integration/edge-mqtt-direct.test.ts', 'the bridge SIGKILLed mid-stream while Kafka is frozen: the device resends to the restarted bridge; ClickHouse holds every acknowledged reading exactly once');
const DIRECT_KAFKA_FROZEN = proof('test/integration/edge-mqtt-direct.test.ts', 'Kafka frozen (SIGSTOP): no PUBACK arrives; thawed (SIGCONT): every PUBACK does, and every reading is in ClickHouse');
const KAFKA_STOPPED = proof('test/integration/edge-kafka-outage.test.ts', 'Kafka stopped for 15 s mid-stream: nothing lost, intake paused, memory bounded, drained afterwards');
const PRODUCER_TIMEOUT = proof('test/integration/edge-producer.test.ts', 'a message timeout is an indefinite outcome: the record fails and the producer is re-created');
const FAILED_NEVER_ACKED = proof('test/unit/edge-ack-queue.test.ts', 'a failed ticket is never released and blocks every later one');
const TIMEOUT_REDELIVERED_BROKER = proof('test/integration/edge-producer-timeout.test.ts', 'broker mode: a delivery timeout is not acknowledged to the broker; the bridge replaces its connection and the broker redelivers every reading to Kafka');
const TIMEOUT_REDELIVERED = proof('test/integration/edge-producer-timeout.test.ts', 'delivery timeouts (unknown outcome) are not acknowledged; the device publishes again and every reading is in Kafka, counted once by id');
const REPLAY_FROM_EARLIEST = proof('test/integration/aggregator-replay-earliest.test.ts', 'the consumer group deleted and replayed from the earliest offset: every tier writes the same final table again, no key twice');
const BROKER_KILLED_AUTOSAVE = proof('test/integration/edge-mosquitto-crash.test.ts', 'broker killed with autosave every 5 s: lost what arrived since the last save, at most ~5 s of traffic');
const BROKER_KILLED_NO_PERSISTENCE = proof('test/integration/edge-mosquitto-crash.test.ts', 'broker killed with persistence off: the whole held-back backlog is lost');
const BROKER_RESTARTED = proof('test/integration/edge-mosquitto-restart.test.ts', 'devices that take PUBACK 0x10 as delivered lose readings across a restart, only those answered 0x10 (the table says lost)');

const direct = (s: GuaranteeSettings): boolean => s.mqtt.mode === 'direct';
const ackedAfterKafka = (s: GuaranteeSettings): boolean => s.edge.ackMode === 'after-kafka';
const lateTransactions = (s: GuaranteeSettings): boolean => s.transactionalKafkaWrites && s.lateToKafka;
const ON_RECEIPT = 'no test runs a bridge with edge.ackMode on-receipt through this failure';
const LOSS_NOT_OBSERVED = 'the chaos run proves that nothing is counted twice; that readings are lost is derived from auto-commit, not observed';

/**
 * The chaos run exercises every tier at once (broker mode, replication factor 3, no late topic)
 * and checks each tier's audit against this table: it proves a tier's promise (no loss and no
 * duplicate for 'exact', no duplicate for 'lost'), not that a 'lost' row does lose — that needs
 * a test of its own (AT_MOST_ONCE_LOSES) or the row says it is derived (LOSS_NOT_OBSERVED).
 */
export const FAILURE_PROOFS: Readonly<Record<FailureScenario, readonly ProofRule[]>> = {
  'device-resends': [
    { outcome: 'exact', when: (s) => s.lateToKafka, provenBy: [REDELIVERIES_COUNTED_ONCE, DUPLICATES_ALL_WINDOWS, BRIDGE_KILLED, CHAOS, LATE_TOPIC_ONCE_PER_COPY] },
    { outcome: 'exact', provenBy: [REDELIVERIES_COUNTED_ONCE, DUPLICATES_ALL_WINDOWS, BRIDGE_KILLED, CHAOS] },
  ],
  'bridge-crash-before-kafka-ack': [
    { outcome: 'exact', when: direct, provenBy: [DIRECT_BRIDGE_KILLED] },
    { outcome: 'exact', provenBy: [BRIDGE_KILLED, CHAOS] },
    { outcome: 'lost', provenBy: [], unproven: ON_RECEIPT },
  ],
  'bridge-crash-after-kafka-ack': [
    { outcome: 'exact', when: (s) => ackedAfterKafka(s) && direct(s), provenBy: [DIRECT_BRIDGE_KILLED] },
    { outcome: 'exact', when: ackedAfterKafka, provenBy: [BRIDGE_KILLED, CHAOS] },
    { outcome: 'exact', provenBy: [], unproven: ON_RECEIPT },
  ],
  'leader-failover': [
    { outcome: 'exact', when: (s) => s.kafka.replicationFactor === 1 && direct(s), provenBy: [DIRECT_KAFKA_FROZEN] },
    { outcome: 'exact', when: (s) => s.kafka.replicationFactor === 1, provenBy: [KAFKA_STOPPED] },
    { outcome: 'exact', when: (s) => s.kafka.replicationFactor === 3 && s.kafka.minInsyncReplicas === 2, provenBy: [CHAOS] },
    { outcome: 'exact', provenBy: [], unproven: 'the chaos run proves replication factor 3 with min.insync.replicas 2 only' },
    { outcome: 'lost', provenBy: [], unproven: 'no test fails a leader over with acks below all or min.insync.replicas 1' },
  ],
  'producer-timeout': [
    { outcome: 'exact', when: direct, provenBy: [PRODUCER_TIMEOUT, FAILED_NEVER_ACKED, TIMEOUT_REDELIVERED] },
    { outcome: 'exact', provenBy: [PRODUCER_TIMEOUT, FAILED_NEVER_ACKED, TIMEOUT_REDELIVERED_BROKER] },
    { outcome: 'lost', provenBy: [], unproven: ON_RECEIPT },
  ],
  'aggregator-crash-before-insert': [
    { outcome: 'exact', when: lateTransactions, provenBy: [LATE_TRANSACTION_KILL, CRASH_AT_POINT, KILLED_TWICE, CHAOS] },
    { outcome: 'exact', when: (s) => s.checkpointed, provenBy: [CRASH_AT_POINT, KILLED_TWICE, CHAOS] },
    { outcome: 'exact', provenBy: [CHAOS] },
    { outcome: 'lost', provenBy: [AT_MOST_ONCE_LOSES, CHAOS] },
  ],
  'aggregator-crash-after-insert-before-commit': [
    { outcome: 'exact', when: lateTransactions, provenBy: [LATE_TRANSACTION_KILL, CRASH_AT_POINT, CHAOS] },
    { outcome: 'exact', when: (s) => s.checkpointed, provenBy: [CRASH_AT_POINT, CHAOS] },
    { outcome: 'exact', provenBy: [CHAOS] },
    { outcome: 'lost', provenBy: [AT_MOST_ONCE_LOSES, CHAOS] },
  ],
  'aggregator-crash-after-commit': [
    { outcome: 'exact', when: lateTransactions, provenBy: [LATE_TRANSACTION_KILL, KILLED_TWICE, CHAOS] },
    { outcome: 'exact', when: (s) => s.checkpointed, provenBy: [KILLED_TWICE, CHAOS] },
    { outcome: 'exact', provenBy: [CHAOS] },
    { outcome: 'lost', provenBy: [AT_MOST_ONCE_LOSES, CHAOS] },
  ],
  'zombie-instance': [
    {
      outcome: 'exact',
      when: lateTransactions,
      provenBy: [ABORTABLE_COMMIT, ABORTED_WITH_LATE_FAILS, ABORTED_HARMLESS, LATE_TRANSACTION_KILL],
      unproven: 'the refused commit, the abort and the runner\'s verdict are proven by unit tests and a crash mid-transaction; no test runs a zombie of a pipeline with a late topic',
    },
    { outcome: 'exact', when: (s) => s.checkpointed, provenBy: [ZOMBIE, CHAOS] },
    { outcome: 'exact', provenBy: [CHAOS] },
    { outcome: 'lost', provenBy: [CHAOS], unproven: LOSS_NOT_OBSERVED },
  ],
  'aggregator-partitioned-from-kafka': [
    {
      outcome: 'exact',
      when: lateTransactions,
      provenBy: [CHAOS, ABORTABLE_COMMIT, ABORTED_WITH_LATE_FAILS, ABORTED_HARMLESS],
      unproven: 'the chaos run cuts off a pipeline without a late topic; with one, the abort and the runner\'s verdict are proven by unit tests only',
    },
    { outcome: 'exact', provenBy: [CHAOS] },
    { outcome: 'lost', provenBy: [CHAOS], unproven: LOSS_NOT_OBSERVED },
  ],
  rebalance: [
    { outcome: 'exact', when: lateTransactions, provenBy: [LATE_TRANSACTION_KILL, ABORTED_HARMLESS, REBALANCE_KILL] },
    { outcome: 'exact', when: (s) => s.checkpointed, provenBy: [REBALANCE_KILL, REBALANCE_IN_FLIGHT, CHAOS] },
    { outcome: 'exact', provenBy: [REBALANCE_IN_FLIGHT, CHAOS] },
    { outcome: 'lost', provenBy: [AT_MOST_ONCE_LOSES, CHAOS] },
  ],
  'clickhouse-down': [
    { outcome: 'exact', when: (s) => s.checkpointed, provenBy: [CLICKHOUSE_STOPPED, SINK_TIMEOUT, SINK_BUDGET, FAILED_PIPELINE_EXITS, CHAOS] },
    { outcome: 'exact', provenBy: [SINK_TIMEOUT, SINK_BUDGET, CHAOS] },
    { outcome: 'lost', provenBy: [CHAOS], unproven: LOSS_NOT_OBSERVED },
  ],
  'replay-from-earliest': [{ outcome: 'exact', provenBy: [REPLAY_FROM_EARLIEST] }],
  'mqtt-broker-crash': [
    { outcome: 'exact', when: direct, provenBy: [DIRECT_BRIDGE_KILLED] },
    { outcome: 'lost', when: direct, provenBy: [], unproven: ON_RECEIPT },
    { outcome: 'lost', when: (s) => s.mqtt.brokerPersistence.mode === 'off', provenBy: [BROKER_KILLED_NO_PERSISTENCE] },
    { outcome: 'lost', when: (s) => s.mqtt.brokerPersistence.mode === 'autosave-interval', provenBy: [BROKER_KILLED_AUTOSAVE] },
    { outcome: 'lost', provenBy: [], unproven: 'no test kills a broker that saves with autosave_on_changes; the bound is derived, not measured' },
  ],
  'mqtt-broker-restart': [
    { outcome: 'exact', when: direct, provenBy: [DIRECT_BRIDGE_KILLED] },
    { outcome: 'lost', provenBy: [BROKER_RESTARTED] },
  ],
};

/** The row with the tests that prove it; a row no rule covers is marked unproven (and fails the proof test). */
export function withProof(settings: GuaranteeSettings, row: ScenarioOutcome): ProvenScenarioOutcome {
  const rule = FAILURE_PROOFS[row.id].find((candidate) => candidate.outcome === row.outcome && (candidate.when === undefined || candidate.when(settings)));
  if (rule === undefined) return { ...row, provenBy: [], unproven: `no rule in src/guarantees/proofs.ts covers this row (${row.outcome})` };
  return rule.unproven === undefined ? { ...row, provenBy: rule.provenBy } : { ...row, provenBy: rule.provenBy, unproven: rule.unproven };
}
