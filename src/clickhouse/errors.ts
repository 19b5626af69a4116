import { PipelineError, errorMessage, type ErrorContext } from '../core/errors.ts';

/**
 * ClickHouse failures, classified for the retry helper and for the caller's bookkeeping.
 *
 * `outcome` answers "was anything written?": `not-sent` only when the request provably never
 * reached the server (connection refused, unknown host). Anything else is `unknown`: a timed-out
 * or reset insert may have been committed, and even a server error can follow committed blocks of
 * a multi-partition insert. An unknown outcome is never treated as failed: the caller retries the
 * identical batch and relies on ReplacingMergeTree (and, where present, the deduplication token).
 */
export type WriteOutcome = 'not-sent' | 'unknown';

export class ClickHouseError extends PipelineError {
  readonly outcome: WriteOutcome;
  /** The server's numeric error code (e.g. 62 for a syntax error), when the server answered. */
  readonly serverCode: number | null;

  constructor(
    code: string,
    message: string,
    options: { retriable: boolean; outcome: WriteOutcome; serverCode?: number | null; context?: ErrorContext; cause?: unknown },
  ) {
    super(code, message, {
      retriable: options.retriable,
      context: { ...options.context, outcome: options.outcome, serverCode: options.serverCode ?? null },
      cause: options.cause,
    });
    this.name = 'ClickHouseError';
    this.outcome = options.outcome;
    this.serverCode = options.serverCode ?? null;
  }
}

/** The server cannot be reached or is temporarily unable to serve (overload, network). Retriable. */
export class ClickHouseUnavailableError extends ClickHouseError {
  constructor(message: string, options: { outcome: WriteOutcome; serverCode?: number | null; context?: ErrorContext; cause?: unknown }) {
    super('CLICKHOUSE_UNAVAILABLE', message, { ...options, retriable: true });
    this.name = 'ClickHouseUnavailableError';
  }
}

/** No answer within the request timeout. Retriable; the outcome is always unknown. */
export class ClickHouseTimeoutError extends ClickHouseError {
  constructor(message: string, options: { context?: ErrorContext; cause?: unknown }) {
    super('CLICKHOUSE_TIMEOUT', message, { ...options, retriable: true, outcome: 'unknown' });
    this.name = 'ClickHouseTimeoutError';
  }
}

/** The server refused the statement (syntax, types, unknown table, ...). Retrying cannot help. */
export class ClickHouseQueryError extends ClickHouseError {
  constructor(message: string, options: { serverCode: number | null; context?: ErrorContext; cause?: unknown }) {
    super('CLICKHOUSE_QUERY', message, { ...options, retriable: false, outcome: 'unknown' });
    this.name = 'ClickHouseQueryError';
  }
}

/** The caller aborted the request (shutdown). Not retried; whether an insert landed is unknown. */
export class ClickHouseAbortedError extends ClickHouseError {
  constructor(message: string, options: { context?: ErrorContext; cause?: unknown }) {
    super('CLICKHOUSE_ABORTED', message, { ...options, retriable: false, outcome: 'unknown' });
    this.name = 'ClickHouseAbortedError';
  }
}

/**
 * Server error codes that describe a transient state of the server, not a wrong statement:
 * overload, memory pressure, too many parts, network trouble between replicas, an insert whose
 * status is unknown. Numeric codes are stable across versions (18.16 through current).
 */
const TRANSIENT_SERVER_CODES = new Set([
  3, // UNEXPECTED_END_OF_FILE (request body cut off)
  159, // TIMEOUT_EXCEEDED
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  203, // NO_FREE_CONNECTION
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  236, // ABORTED
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  285, // TOO_FEW_LIVE_REPLICAS
  286, // UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE
  319, // UNKNOWN_STATUS_OF_INSERT
  425, // SYSTEM_ERROR
  999, // KEEPER_EXCEPTION
]);

// Connection attempts that provably sent nothing.
const NOT_SENT_ERRNOS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** 18.16 says "Code: 62, e.displayText() = ..."; current servers say "Code: 62. DB::Exception: ...". */
const SERVER_CODE = /\bCode: (\d+)[.,]/;

export interface FailureContext {
  readonly operation: 'ping' | 'query' | 'command' | 'insert';
  readonly url: string;
  readonly queryId?: string;
  readonly target?: string;
  /** The first characters of the statement, for the log; never row data. */
  readonly statement?: string;
  /** Why the request was aborted, when we aborted it. */
  readonly abortReason?: 'timeout' | 'caller';
  readonly timeoutMs?: number;
}

/** Maps whatever @clickhouse/client threw onto the classes above. */
export function classifyClickHouseFailure(error: unknown, failure: FailureContext): ClickHouseError {
  if (error instanceof ClickHouseError) return error;
  const message = errorMessage(error);
  const context: ErrorContext = {
    operation: failure.operation,
    url: failure.url,
    queryId: failure.queryId,
    target: failure.target,
    statement: failure.statement,
  };
  const what = `ClickHouse ${failure.operation}${failure.target ? ` into ${failure.target}` : ''} at ${failure.url}`;

  if (failure.abortReason === 'timeout' || message === 'Timeout error.') {
    return new ClickHouseTimeoutError(
      `${what} got no answer within ${failure.timeoutMs ?? '?'} ms; outcome unknown (retry the identical request)`,
      { context: { ...context, timeoutMs: failure.timeoutMs }, cause: error },
    );
  }
  if (failure.abortReason === 'caller') {
    return new ClickHouseAbortedError(`${what} was aborted by the caller; outcome unknown`, { context, cause: error });
  }
  const codeMatch = SERVER_CODE.exec(message);
  if (codeMatch) {
    const serverCode = Number(codeMatch[1]);
    const text = `${what} failed: ${firstLine(message)}`;
    return TRANSIENT_SERVER_CODES.has(serverCode)
      ? new ClickHouseUnavailableError(text, { outcome: 'unknown', serverCode, context, cause: error })
      : new ClickHouseQueryError(text, { serverCode, context, cause: error });
  }
  const errno = (error as { code?: unknown } | null)?.code;
  const outcome: WriteOutcome = typeof errno === 'string' && NOT_SENT_ERRNOS.has(errno) ? 'not-sent' : 'unknown';
  // Anything without a server code is a transport failure (reset socket, proxy page, premature
  // close): retriable within the caller's bounded budget.
  return new ClickHouseUnavailableError(
    `${what} is unavailable: ${typeof errno === 'string' && !message.includes(errno) ? `${errno} ` : ''}${firstLine(message)}`,
    { outcome, context: { ...context, errno: typeof errno === 'string' ? errno : undefined }, cause: error },
  );
}

function firstLine(message: string): string {
  const line = message.split('\n', 1)[0] ?? '';
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}
