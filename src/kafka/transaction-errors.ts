import kafkaJs from '@confluentinc/kafka-javascript';
import { PipelineError } from '../core/errors.ts';
import { codeName } from './librdkafka-codes.ts';

/**
 * What a failure of a transactional operation leaves possible, decided from librdkafka's error
 * CODE (and the flags librdkafka derives from it on transactional API errors), never from the
 * English message, which changes between librdkafka versions:
 *   retriable — the same call may simply be repeated (a coordinator moving, a timeout);
 *   abortable — this transaction cannot commit; abort it, and the producer begins a new one;
 *   fatal     — this producer instance is finished (fenced by a newer one, a failed abort, a
 *               state librdkafka does not share with us): the owner must stop and re-create it.
 */
export type TransactionErrorKind = 'retriable' | 'abortable' | 'fatal';

const ERR = kafkaJs.CODES.ERRORS;

const FATAL_CODES: ReadonlySet<number> = new Set([
  ERR.ERR__FATAL,
  ERR.ERR__FENCED,
  ERR.ERR_PRODUCER_FENCED,
  ERR.ERR_INVALID_PRODUCER_EPOCH,
  ERR.ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
  ERR.ERR_CLUSTER_AUTHORIZATION_FAILED,
  ERR.ERR_INVALID_TRANSACTION_TIMEOUT,
  ERR.ERR_UNSUPPORTED_VERSION,
  ERR.ERR__NOT_CONFIGURED,
  ERR.ERR__DESTROY,
  // librdkafka refusing a call in its current state, or two calls overlapping, means it and our
  // state machine disagree.
  ERR.ERR__STATE,
  ERR.ERR__PREV_IN_PROGRESS,
]);

const ABORTABLE_CODES: ReadonlySet<number> = new Set([
  ERR.ERR__MSG_TIMED_OUT,
  ERR.ERR__PURGE_QUEUE,
  ERR.ERR__PURGE_INFLIGHT,
  ERR.ERR_INVALID_TXN_STATE,
  ERR.ERR_UNKNOWN_PRODUCER_ID,
  ERR.ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
  ERR.ERR_MSG_SIZE_TOO_LARGE,
  ERR.ERR_TOPIC_AUTHORIZATION_FAILED,
  ERR.ERR_GROUP_AUTHORIZATION_FAILED,
  ERR.ERR__UNKNOWN_TOPIC,
  ERR.ERR_UNKNOWN_TOPIC_OR_PART,
  // The consumer group moved on (a rebalance): its offsets may not be committed by this generation.
  ERR.ERR_REBALANCE_IN_PROGRESS,
  ERR.ERR_ILLEGAL_GENERATION,
  ERR.ERR_UNKNOWN_MEMBER_ID,
  ERR.ERR_FENCED_INSTANCE_ID,
]);

const RETRIABLE_CODES: ReadonlySet<number> = new Set([
  ERR.ERR__TIMED_OUT,
  ERR.ERR__TIMED_OUT_QUEUE,
  ERR.ERR__TRANSPORT,
  ERR.ERR__ALL_BROKERS_DOWN,
  ERR.ERR__WAIT_COORD,
  ERR.ERR__RETRY,
  ERR.ERR__QUEUE_FULL,
  ERR.ERR_REQUEST_TIMED_OUT,
  ERR.ERR_NETWORK_EXCEPTION,
  ERR.ERR_COORDINATOR_LOAD_IN_PROGRESS,
  ERR.ERR_COORDINATOR_NOT_AVAILABLE,
  ERR.ERR_NOT_COORDINATOR,
  ERR.ERR_CONCURRENT_TRANSACTIONS,
  ERR.ERR_NOT_ENOUGH_REPLICAS,
  ERR.ERR_NOT_LEADER_FOR_PARTITION,
]);

/** The shape of a librdkafka error as the binding hands it over (flags only on transactional API errors). */
export interface KafkaErrorLike {
  readonly code?: number;
  readonly message?: string;
  readonly isFatal?: boolean;
  readonly isRetriable?: boolean;
  readonly isTxnRequiresAbort?: boolean;
}

export function classifyTransactionError(error: KafkaErrorLike): TransactionErrorKind {
  const code = typeof error.code === 'number' ? error.code : undefined;
  if (error.isFatal === true || (code !== undefined && FATAL_CODES.has(code))) return 'fatal';
  if (error.isTxnRequiresAbort === true || (code !== undefined && ABORTABLE_CODES.has(code))) return 'abortable';
  if (error.isRetriable === true || (code !== undefined && RETRIABLE_CODES.has(code))) return 'retriable';
  // Unknown: the transaction's outcome cannot be trusted, but an abort may still clear it.
  return 'abortable';
}

/** A transactional operation failed; `kind` says what is still possible (see TransactionErrorKind). */
export class KafkaTransactionError extends PipelineError {
  readonly kind: TransactionErrorKind;
  constructor(operation: string, error: KafkaErrorLike, context: Record<string, string | number>, kind: TransactionErrorKind = classifyTransactionError(error)) {
    const code = typeof error.code === 'number' ? codeName(error.code) : 'NONE';
    super(`KAFKA_TRANSACTION_${kind.toUpperCase()}`, `Kafka transaction ${operation} failed (${kind}): ${code} ${error.message ?? ''}`.trimEnd(), {
      retriable: kind === 'retriable',
      context: { operation, kind, kafkaCode: code, ...context },
      cause: error,
    });
    this.name = 'KafkaTransactionError';
    this.kind = kind;
  }

  get fatal(): boolean {
    return this.kind === 'fatal';
  }
}

/**
 * A commit was refused and its transaction aborted: the producer is usable again, but the
 * `records` written in the transaction are gone, so whoever produced them must produce them again
 * (or resume from the last committed offsets) before committing anything past them.
 */
export class KafkaTransactionAbortedError extends PipelineError {
  readonly records: number;
  constructor(cause: KafkaTransactionError, records: number, context: Record<string, string | number>) {
    super('KAFKA_TRANSACTION_ABORTED', `Kafka transaction aborted with ${records} record(s): ${cause.message}`, {
      retriable: false,
      context: { records, kafkaCode: String(cause.context['kafkaCode']), ...context },
      cause,
    });
    this.name = 'KafkaTransactionAbortedError';
    this.records = records;
  }
}
