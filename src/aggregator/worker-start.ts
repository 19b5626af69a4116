/**
 * The supervisor and its workers start together (decision 0022). A worker that joined the
 * pipelines' consumer groups alone — its siblings still loading — would take every partition,
 * process seconds of readings, and hand half of them back at the next rebalance, where its
 * successor re-reads them from the last checkpoint: 13 % of a benchmark's readings were read twice.
 * So each worker of the first start says when it is prepared (connected, ClickHouse migrated) and
 * joins when the supervisor says so: once every worker has prepared, or one has exited, or the
 * wait has lasted JOIN_BARRIER_MS. A worker restarted later joins as soon as it is prepared.
 */

/** Worker → supervisor: about to join the consumer groups. */
export interface WorkerPrepared {
  readonly kind: 'prepared';
}

/** Supervisor → worker: join now. */
export interface JoinNow {
  readonly kind: 'join';
}

/** The longest a prepared worker waits for its siblings. */
export const JOIN_BARRIER_MS = 20_000;

export function isWorkerPrepared(message: unknown): message is WorkerPrepared {
  return typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === 'prepared';
}

function isJoinNow(message: unknown): message is JoinNow {
  return typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === 'join';
}

/** In a worker: tells the supervisor it is prepared and resolves when the supervisor says to join. */
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
