import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/**
 * How a client of the run reaches the bridge: plaintext, or TLS trusting the run's CA (edge.tls.mode
 * 'required'), optionally with a client certificate. One place, so that every check speaks the
 * transport the bridge's configuration demands, and a check of the transport itself can choose
 * another (plain TCP to a TLS port, an untrusted certificate).
 */
export interface ClientTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
}

/** A connected socket: TCP, or TLS once the handshake completed (the name checked is the local server certificate's, localhost). */
export function openConnection(host: string, port: number, tls: ClientTls | undefined): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tls === undefined ? connectTcp(port, host) : connectTls({ host, port, ca: tls.ca, servername: 'localhost', ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }) });
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export interface HttpReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/**
 * One HTTP(S) request. `body` as chunks is sent without a Content-Length (chunked): the server
 * finds the length while reading. A connection the server cuts before answering rejects.
 */
export function sendRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string | readonly Buffer[]; tls?: ClientTls | undefined; timeoutMs?: number }): Promise<HttpReply> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const body = options.body;
  const headers = { ...options.headers, ...(typeof body === 'string' ? { 'content-length': String(Buffer.byteLength(body)) } : {}) };
  return new Promise((resolve, reject) => {
    const request = (secure ? httpsRequest : httpRequest)(
      target,
      { method: options.method ?? 'GET', headers, agent: false, ...(secure && options.tls !== undefined ? { ca: options.tls.ca, servername: 'localhost' } : {}), timeout: options.timeoutMs ?? 30_000 },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.once('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
        response.once('error', reject);
      },
    );
    request.once('timeout', () => request.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 30_000} ms`)));
    request.once('error', reject);
    if (typeof body === 'string') request.end(body);
    else if (body !== undefined) {
      for (const chunk of body) request.write(chunk);
      request.end();
    } else request.end();
  });
}

/** Milliseconds until `closed` resolved (the server closed the connection), or undefined when still open after `timeoutMs`. */
export async function closedWithin(closed: Promise<number>, timeoutMs: number): Promise<number | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([closed, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)))]);
  clearTimeout(timer);
  return outcome;
}
