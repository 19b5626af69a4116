import { PipelineError } from '../core/errors.ts';

/**
 * The lifecycle of one Kafka transactional producer, as a table and nothing else (no I/O), so
 * that the adapter (transactional-producer.ts) cannot drift into a state librdkafka does not
 * share: librdkafka allows one transaction at a time, records only inside it, and after a failed
 * abort nothing at all. An event the table does not allow in the current phase throws, because
 * carrying on would mean the adapter and librdkafka disagree about whether a transaction is open.
 *
 *   created ─init→ initializing ─initialized→ idle ─begin→ beginning ─begun→ open
 *   open ─record→ open;  open ─commit→ committing ─committed→ idle
 *   open | committing | aborting ─recordFailed→ (stays): a transaction with a failed record cannot commit
 *   open | committing ─abort→ aborting ─aborted→ idle
 *   any but closed ─fail→ fatal;  any ─close→ closed
 */
export type TransactionPhase = 'created' | 'initializing' | 'idle' | 'beginning' | 'open' | 'committing' | 'aborting' | 'fatal' | 'closed';

export type TransactionEvent =
  | 'init'
  | 'initialized'
  | 'begin'
  | 'begun'
  | 'record'
  | 'recordFailed'
  | 'commit'
  | 'committed'
  | 'abort'
  | 'aborted'
  | 'fail'
  | 'close';

const LIVE: readonly TransactionPhase[] = ['created', 'initializing', 'idle', 'beginning', 'open', 'committing', 'aborting', 'fatal'];

/** `to: null` keeps the phase. */
const TRANSITIONS: Readonly<Record<TransactionEvent, { readonly from: readonly TransactionPhase[]; readonly to: TransactionPhase | null }>> = {
  init: { from: ['created'], to: 'initializing' },
  initialized: { from: ['initializing'], to: 'idle' },
  begin: { from: ['idle'], to: 'beginning' },
  begun: { from: ['beginning'], to: 'open' },
  record: { from: ['open'], to: null },
  recordFailed: { from: ['open', 'committing', 'aborting'], to: null },
  commit: { from: ['open'], to: 'committing' },
  committed: { from: ['committing'], to: 'idle' },
  abort: { from: ['open', 'committing'], to: 'aborting' },
  aborted: { from: ['aborting'], to: 'idle' },
  fail: { from: LIVE, to: 'fatal' },
  close: { from: [...LIVE, 'closed'], to: 'closed' },
};

export class TransactionStateError extends PipelineError {
  constructor(phase: TransactionPhase, event: TransactionEvent, context: Record<string, string | number>) {
    super('KAFKA_TRANSACTION_STATE', `transactional producer cannot take '${event}' while ${phase}`, {
      retriable: false,
      context: { phase, event, ...context },
    });
    this.name = 'TransactionStateError';
  }
}

export class TransactionState {
  private current: TransactionPhase = 'created';
  private recordsInTransaction = 0;
  private failedInTransaction = 0;
  private count = 0;

  constructor(private readonly context: Record<string, string | number> = {}) {}

  get phase(): TransactionPhase {
    return this.current;
  }

  /** Records produced in the transaction open (or being committed or aborted) now. */
  get records(): number {
    return this.recordsInTransaction;
  }

  /** Records of this transaction that failed (refused or reported failed): it must not commit. */
  get failedRecords(): number {
    return this.failedInTransaction;
  }

  /** Transactions begun so far (a test's way to see that two records shared one). */
  get begun(): number {
    return this.count;
  }

  can(event: TransactionEvent): boolean {
    return TRANSITIONS[event].from.includes(this.current);
  }

  /** Moves to the phase the event leads to, or throws TransactionStateError and stays. */
  apply(event: TransactionEvent): TransactionPhase {
    if (!this.can(event)) throw new TransactionStateError(this.current, event, this.context);
    this.current = TRANSITIONS[event].to ?? this.current;
    if (event === 'begun') {
      this.count++;
      this.recordsInTransaction = 0;
      this.failedInTransaction = 0;
    } else if (event === 'record') {
      this.recordsInTransaction++;
    } else if (event === 'recordFailed') {
      this.failedInTransaction++;
    } else if (event === 'committed' || event === 'aborted') {
      this.recordsInTransaction = 0;
      this.failedInTransaction = 0;
    }
    return this.current;
  }
}
