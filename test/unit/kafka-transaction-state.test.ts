import { test } from 'node:test';
import assert from 'node:assert/strict';
import kafkaJs from '@confluentinc/kafka-javascript';
import { TransactionState, TransactionStateError, type TransactionEvent, type TransactionPhase } from '../../src/kafka/transaction-state.ts';
import { classifyTransactionError } from '../../src/kafka/transaction-errors.ts';

const ERR = kafkaJs.CODES.ERRORS;

function at(...events: TransactionEvent[]): TransactionState {
  const state = new TransactionState({ transactionalId: 't' });
  for (const event of events) state.apply(event);
  return state;
}

const READY: TransactionEvent[] = ['init', 'initialized'];

test('a transaction goes idle → beginning → open → committing → idle, counting its records', () => {
  const state = at(...READY, 'begin', 'begun', 'record', 'record');
  assert.equal(state.phase, 'open');
  assert.equal(state.records, 2);
  state.apply('commit');
  assert.equal(state.records, 2, 'the records being committed are still counted');
  state.apply('committed');
  assert.equal(state.phase, 'idle');
  assert.equal(state.records, 0);
  assert.equal(state.begun, 1);
});

test('an abort, from open or from a refused commit, goes back to idle and forgets the failed records', () => {
  for (const before of [[], ['commit']] as TransactionEvent[][]) {
    const state = at(...READY, 'begin', 'begun', 'record', 'recordFailed', ...before, 'abort');
    assert.equal(state.phase, 'aborting');
    state.apply('aborted');
    assert.equal(state.phase, 'idle');
    assert.equal(state.failedRecords, 0);
  }
});

/** Every event in every reachable phase: allowed exactly where the lifecycle says, else a typed error and no move. */
test('an event impossible in a phase throws KAFKA_TRANSACTION_STATE and leaves the phase as it was', () => {
  const reach: Record<TransactionPhase, TransactionEvent[]> = {
    created: [],
    initializing: ['init'],
    idle: [...READY],
    beginning: [...READY, 'begin'],
    open: [...READY, 'begin', 'begun'],
    committing: [...READY, 'begin', 'begun', 'commit'],
    aborting: [...READY, 'begin', 'begun', 'abort'],
    fatal: [...READY, 'fail'],
    closed: ['close'],
  };
  const allowed: Record<TransactionPhase, readonly TransactionEvent[]> = {
    created: ['init', 'fail', 'close'],
    initializing: ['initialized', 'fail', 'close'],
    idle: ['begin', 'fail', 'close'],
    beginning: ['begun', 'fail', 'close'],
    open: ['record', 'recordFailed', 'commit', 'abort', 'fail', 'close'],
    committing: ['committed', 'recordFailed', 'abort', 'fail', 'close'],
    aborting: ['aborted', 'recordFailed', 'fail', 'close'],
    fatal: ['fail', 'close'],
    closed: ['close'],
  };
  const events: TransactionEvent[] = ['init', 'initialized', 'begin', 'begun', 'record', 'recordFailed', 'commit', 'committed', 'abort', 'aborted', 'fail', 'close'];
  for (const [phase, path] of Object.entries(reach) as [TransactionPhase, TransactionEvent[]][]) {
    for (const event of events) {
      const state = at(...path);
      assert.equal(state.phase, phase);
      if (allowed[phase].includes(event)) {
        assert.doesNotThrow(() => state.apply(event), `${event} while ${phase}`);
      } else {
        assert.throws(
          () => state.apply(event),
          (error: unknown) => error instanceof TransactionStateError && error.code === 'KAFKA_TRANSACTION_STATE' && error.context['phase'] === phase,
          `${event} while ${phase} must be refused`,
        );
        assert.equal(state.phase, phase, `a refused ${event} leaves ${phase}`);
      }
    }
  }
});

test('a second begin while one is in progress is refused (two records must share the one begin)', () => {
  const state = at(...READY, 'begin');
  assert.throws(() => state.apply('begin'), TransactionStateError);
});

test('after a fatal error (a failed abort) nothing but close is possible', () => {
  const state = at(...READY, 'begin', 'begun', 'abort', 'fail');
  for (const event of ['begin', 'record', 'commit', 'abort', 'aborted'] as TransactionEvent[]) assert.throws(() => state.apply(event), TransactionStateError);
  state.apply('close');
  assert.equal(state.phase, 'closed');
});

test('errors are classified by code whatever their message, flags from librdkafka first', () => {
  const cases: [string, Parameters<typeof classifyTransactionError>[0], string][] = [
    ['fenced, no flags', { code: ERR.ERR_PRODUCER_FENCED, message: 'retry later' }, 'fatal'],
    ['old epoch', { code: ERR.ERR_INVALID_PRODUCER_EPOCH }, 'fatal'],
    ['local fenced', { code: ERR.ERR__FENCED }, 'fatal'],
    ['wrong state', { code: ERR.ERR__STATE, message: 'Transaction already in progress' }, 'fatal'],
    ['overlapping begin', { code: ERR.ERR__PREV_IN_PROGRESS, message: 'Simultaneous begin_transaction API calls not allowed' }, 'fatal'],
    ['fatal flag on a timeout', { code: ERR.ERR__TIMED_OUT, isFatal: true }, 'fatal'],
    ['stale generation', { code: ERR.ERR_ILLEGAL_GENERATION }, 'abortable'],
    ['rebalance', { code: ERR.ERR_REBALANCE_IN_PROGRESS }, 'abortable'],
    ['message timed out', { code: ERR.ERR__MSG_TIMED_OUT, message: 'Fatal error' }, 'abortable'],
    ['abort flag on a timeout', { code: ERR.ERR__TIMED_OUT, isTxnRequiresAbort: true }, 'abortable'],
    ['timeout', { code: ERR.ERR__TIMED_OUT, message: 'fatal error: producer fenced' }, 'retriable'],
    ['coordinator moved', { code: ERR.ERR_NOT_COORDINATOR }, 'retriable'],
    ['concurrent transactions', { code: ERR.ERR_CONCURRENT_TRANSACTIONS }, 'retriable'],
    ['retriable flag', { code: 12345, isRetriable: true }, 'retriable'],
    ['unknown code', { code: 12345, message: 'fenced' }, 'abortable'],
    ['no code at all', { message: 'Producer fenced' }, 'abortable'],
  ];
  for (const [name, error, kind] of cases) assert.equal(classifyTransactionError(error), kind, name);
});
