/**
 * What a supervisor and its workers say to each other over the IPC channel as a worker starts.
 *
 * The first start's workers join their consumer groups together (decision 0022). A worker that
 * joined alone — its siblings still loading — would take every partition, process readings, and
 * hand half of them back at the next rebalance, where their next owner re-reads them from the last
 * checkpoint: 14 % of a benchmark's readings were read twice. So each worker of the first start
 * says when it is prepared (connected, ClickHouse migrated) and joins when the supervisor says so:
 * once every worker has prepared, or one has exited, or the wait has lasted JOIN_BARRIER_MS. A
 * worker restarted later joins as soon as it is prepared.
 */

/** Worker → supervisor: about to join the consumer groups. */
export interface WorkerPrepared {
  readonly kind: 'prepared';
}

/** Supervisor → worker: join now. */
export interface JoinNow {
  readonly kind: 'join';
}

/** Worker → supervisor: its operations server listens on this port. */
export interface WorkerListening {
  readonly kind: 'listening';
  readonly port: number;
}

/** The longest a prepared worker waits for its siblings. */
export const JOIN_BARRIER_MS = 20_000;

function hasKind(message: unknown, kind: string): message is { kind: string } & Record<string, unknown> {
  return typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === kind;
}

export function isWorkerPrepared(message: unknown): message is WorkerPrepared {
  return hasKind(message, 'prepared');
}

export function isWorkerListening(message: unknown): message is WorkerListening {
  return hasKind(message, 'listening') && typeof message['port'] === 'number';
}

function isJoinNow(message: unknown): message is JoinNow {
  return hasKind(message, 'join');
}

/**
 * In a worker: tells the supervisor it is prepared and resolves when the supervisor says to join
 * (at once without an IPC channel: nobody supervises it).
 */
export function joinWhenTold(): Promise<void> {
  if (typeof process.send !== 'function') return Promise.resolve();
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      if (!isJoinNow(message)) return;
      process.off('message', onMessage);
      resolve();
    };
    process.on('message', onMessage);
    process.send!({ kind: 'prepared' } satisfies WorkerPrepared);
  });
}
