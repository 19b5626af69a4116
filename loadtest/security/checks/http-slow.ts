import type { SecurityCheck, Tally } from '../check.ts';
import type { RunContext } from '../context.ts';
import { SlowHttpClient } from '../http-client.ts';

/**
 * HTTP intake, slow clients (slowloris): each connection must be closed by the server within its
 * configured limit plus SLACK_MS —
 *   nothing sent, headers stalled or trickled: edge.httpLimits.headersTimeoutMs (Node checks on an
 *   interval of a quarter of it, at most 1 s);
 *   a body stalled: bodyIdleTimeoutMs, then 408 and at most 1 s for the client to read it;
 *   a body trickled just under the idle timeout: requestTimeoutMs;
 *   a body of an unauthenticated request: answered 401 at once, cut after the 1 s linger.
 * The measurement is the server's close as the client sees it; a wait is never longer than the
 * bound plus 3 s, and a connection still open then was admitted wrongly.
 */
const SLACK_MS = 1500;

export const httpSlow: SecurityCheck = {
  name: 'http-slowloris',
  requires: ['http-intake'],
  phase: 'attack',
  async run(context: RunContext, tally: Tally): Promise<void> {
    const bridge = context.runBridge;
    const { headersTimeoutMs, bodyIdleTimeoutMs, requestTimeoutMs } = bridge.httpLimits;
    const interval = Math.max(100, Math.min(1000, Math.floor(headersTimeoutMs / 4)));
    const key = bridge.keys.slow.key;
    const post = (authorization: string, length: number): string =>
      `POST /v1/readings HTTP/1.1\r\nHost: bridge\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    tally.note(`limits: headersTimeoutMs ${headersTimeoutMs}, bodyIdleTimeoutMs ${bodyIdleTimeoutMs}, requestTimeoutMs ${requestTimeoutMs}`);
    const attempts: { what: string; limit: string; bound: number; act: (client: SlowHttpClient) => Promise<void> | void }[] = [
      ...Array.from({ length: 3 }, (_, index) => ({ what: `connection sending nothing (${index + 1} of 3)`, limit: 'headersTimeoutMs', bound: headersTimeoutMs + interval, act: () => undefined })),
      ...Array.from({ length: 5 }, (_, index) => ({
        what: `headers stalled after the first line (${index + 1} of 5)`,
        limit: 'headersTimeoutMs',
        bound: headersTimeoutMs + interval,
        act: (client: SlowHttpClient) => client.write('POST /v1/readings HTTP/1.1\r\nHost: bridge\r\n'),
      })),
      {
        what: 'headers trickled, a line every 300 ms',
        limit: 'headersTimeoutMs',
        bound: headersTimeoutMs + interval,
        act: async (client) => {
          client.write('POST /v1/readings HTTP/1.1\r\n');
          for (let line = 0; line < 100 && !client.isClosed; line++) {
            client.write(`X-Slow-${line}: ${line}\r\n`);
            await new Promise((resolve) => setTimeout(resolve, 300));
          }
        },
      },
      ...Array.from({ length: 5 }, (_, index) => ({
        what: `body stalled after its first byte (${index + 1} of 5)`,
        limit: 'bodyIdleTimeoutMs + 1 s linger',
        bound: bodyIdleTimeoutMs + 1000,
        act: (client: SlowHttpClient) => client.write(`${post(`Bearer ${key}`, 1000)}[`),
      })),
      {
        what: `body trickled, a byte every ${Math.floor(bodyIdleTimeoutMs / 2)} ms (never idle for bodyIdleTimeoutMs)`,
        limit: 'requestTimeoutMs + 1 s linger',
        bound: requestTimeoutMs + interval + 1000,
        act: async (client) => {
          client.write(`${post(`Bearer ${key}`, 1000)}[`);
          for (let byte = 0; byte < 998 && !client.isClosed; byte++) {
            await new Promise((resolve) => setTimeout(resolve, Math.floor(bodyIdleTimeoutMs / 2)));
            client.write(' ');
          }
        },
      },
      {
        what: 'body stalled, unknown key',
        limit: '401 and the 1 s linger',
        bound: 1000,
        act: (client) => client.write(`${post(`Bearer ${context.wrongSecret('unknown gateway key (slow body)')}`, 1000)}[`),
      },
    ];
    // On HTTPS the handshake itself is a place to stall: plain TCP connections that never start one.
    const plain = bridge.tls === undefined ? [] : Array.from({ length: 5 }, (_, index) => ({ what: `TCP connection to the HTTPS listener, no handshake (${index + 1} of 5)`, limit: 'headersTimeoutMs', bound: headersTimeoutMs + interval, act: () => undefined, tls: false }));
    await Promise.all(
      [...attempts.map((attempt) => ({ ...attempt, tls: true })), ...plain].map(async (attempt) => {
        const client = await SlowHttpClient.open(bridge.httpUrl, attempt.tls ? bridge.tls : undefined);
        try {
          void attempt.act(client);
          const bound = attempt.bound + SLACK_MS;
          const closed = await client.closedWithin(bound + 3000);
          context.answered('HTTP slow client', client.received);
          const status = client.status === undefined ? 'no answer' : client.status;
          if (closed === undefined) tally.record('admitted', attempt.what, `still open after ${bound + 3000} ms (${attempt.limit}; bound ${bound} ms)`);
          else if (closed > bound) tally.record('admitted', attempt.what, `closed only after ${closed} ms (${attempt.limit}; bound ${bound} ms)`);
          else tally.record('refused', attempt.what, `closed within ${attempt.limit} + ${SLACK_MS} ms (${status})`);
        } finally {
          client.destroy();
        }
      }),
    );
  },
};
