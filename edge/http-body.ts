import type { IncomingMessage } from 'node:http';

/**
 * The rest of a refused body is not kept: it is read and dropped for a short while (so that the
 * client, still sending, gets to read the answer instead of a reset), then the connection is cut.
 */
const LINGER_MS = 1000;
const LINGER_BYTES = 8 * 1024 * 1024;

export function discardRest(request: IncomingMessage): void {
  let dropped = 0;
  const cut = (): void => {
    clearTimeout(timer);
    request.socket.destroy();
  };
  const timer = setTimeout(cut, LINGER_MS);
  timer.unref();
  request.removeAllListeners('data');
  request.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) cut();
  });
  request.once('end', () => clearTimeout(timer));
  request.resume();
}

export type BodyRead = { readonly kind: 'complete' | 'too-large'; readonly bytes: Buffer } | { readonly kind: 'timeout' };

/**
 * Reads at most `limit` bytes ('too-large' with what was kept when the body is longer); 'timeout'
 * when no byte arrived for `idleMs` (a client that trickles or stalls its body).
 */
export function readBody(request: IncomingMessage, limit: number, idleMs: number): Promise<BodyRead> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      clearTimeout(idle);
      request.off('data', onData);
      request.pause();
    };
    const onIdle = (): void => {
      stop();
      resolve({ kind: 'timeout' });
    };
    let idle = setTimeout(onIdle, idleMs);
    const onData = (chunk: Buffer): void => {
      clearTimeout(idle);
      idle = setTimeout(onIdle, idleMs);
      if (size + chunk.length > limit) {
        chunks.push(chunk.subarray(0, limit - size));
        size = limit;
        stop();
        resolve({ kind: 'too-large', bytes: Buffer.concat(chunks, size) });
        return;
      }
      size += chunk.length;
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => {
      clearTimeout(idle);
      resolve({ kind: 'complete', bytes: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size) });
    });
    request.once('error', (error) => {
      clearTimeout(idle);
      reject(error);
    });
  });
}
