import type { Socket } from 'node:net';
import type { RunContext } from './context.ts';
import { closedWithin, openConnection, sendRequest, type ClientTls } from './transport.ts';

/** What an HTTP attempt was answered with; the body is kept among the run's answers for the secret scan. */
export interface HttpAnswer {
  readonly status: number;
  readonly retryAfter: string | null;
  readonly wwwAuthenticate: string | null;
  readonly text: string;
}

export async function postReadings(context: RunContext, options: { headers?: Record<string, string>; body: string | readonly Buffer[]; query?: string }): Promise<HttpAnswer> {
  const bridge = context.runBridge;
  const reply = await sendRequest(`${bridge.httpUrl}/v1/readings${options.query ?? ''}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: options.body,
    tls: bridge.tls,
  });
  context.answered(`HTTP ${reply.status}`, reply.text);
  const header = (name: string): string | null => {
    const value = reply.headers[name];
    return typeof value === 'string' ? value : null;
  };
  return { status: reply.status, retryAfter: header('retry-after'), wwwAuthenticate: header('www-authenticate'), text: reply.text };
}

export function bearer(key: string): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}

/** A raw connection to the bridge's HTTP port that sends what it is told and notes when the server closed it. */
export class SlowHttpClient {
  private answer = '';
  readonly closed: Promise<number>;
  private readonly opened: number;

  private constructor(private readonly socket: Socket) {
    this.opened = Date.now();
    socket.on('data', (chunk: Buffer) => (this.answer += chunk.toString('latin1')));
    socket.on('error', () => undefined); // a reset is one way of being closed; 'close' follows
    this.closed = new Promise((resolve) => socket.once('close', () => resolve(Date.now() - this.opened)));
  }

  /** A connection to the bridge's HTTP port, over TLS when `tls` is given (handshake completed). */
  static async open(url: string, tls: ClientTls | undefined): Promise<SlowHttpClient> {
    const { hostname, port } = new URL(url);
    return new SlowHttpClient(await openConnection(hostname, Number(port), tls));
  }

  write(text: string): void {
    if (!this.socket.destroyed) this.socket.write(text);
  }

  get isClosed(): boolean {
    return this.socket.destroyed || this.socket.readableEnded;
  }

  /** The status line the server sent, if any. */
  get status(): string | undefined {
    return /^HTTP\/1\.[01] (\d{3})/.exec(this.answer)?.[1];
  }

  get received(): string {
    return this.answer;
  }

  /** Milliseconds from open to the server's close, or undefined when still open after `timeoutMs`. */
  closedWithin(timeoutMs: number): Promise<number | undefined> {
    return closedWithin(this.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}
