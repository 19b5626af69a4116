import { existsSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LocalStackConfig } from './config-schema.ts';
import { localTlsFiles } from './tls.ts';

/**
 * How the local stack's own clients (fleet, demo, load tests, stack tooling) reach its bridges:
 * https:// and mqtts:// trusting the local CA by a `ca:` option, unless edge.tls.mode is
 * 'plaintext'. Verification stays on (never NODE_TLS_REJECT_UNAUTHORIZED=0); a Node service that
 * scrapes the bridges itself (the aggregator's status page) is started with NODE_EXTRA_CA_CERTS,
 * which adds the local CA to the ones it trusts.
 */
export interface LocalClientTls {
  readonly http: 'http' | 'https';
  readonly mqtt: 'mqtt' | 'mqtts';
  /** The local CA (PEM) when TLS is on. */
  readonly ca: Buffer | undefined;
  readonly caFile: string | undefined;
}

export function localClientTls(config: Pick<LocalStackConfig, 'edge' | 'stack'>): LocalClientTls {
  if (config.edge.tls.mode === 'plaintext') return { http: 'http', mqtt: 'mqtt', ca: undefined, caFile: undefined };
  const caFile = localTlsFiles(config.stack).caFile;
  // Missing before the first `stack up` with TLS: then no bridge of the stack can be serving TLS yet.
  return { http: 'https', mqtt: 'mqtts', ca: existsSync(caFile) ? readFileSync(caFile) : undefined, caFile };
}

/** A bridge's HTTP base URL (its intake, /metrics, /readyz) on this port. */
export function bridgeHttpUrl(tls: LocalClientTls, port: number, host = '127.0.0.1'): string {
  return `${tls.http}://${host}:${port}`;
}

/** The environment that makes a Node service trust the local CA as well as the system's. */
export function trustEnv(tls: LocalClientTls): Record<string, string> {
  return tls.caFile === undefined ? {} : { NODE_EXTRA_CA_CERTS: tls.caFile };
}

export interface TextAnswer {
  readonly status: number;
  readonly ok: boolean;
  readonly text: string;
}

/**
 * GET or POST over http or https, trusting `ca` (fetch() takes no CA). Rejects on a network or TLS
 * error, or after timeoutMs.
 */
export function fetchText(url: string, options: { readonly ca?: Buffer; readonly method?: string; readonly body?: string | Buffer; readonly headers?: Record<string, string>; readonly timeoutMs?: number } = {}): Promise<TextAnswer> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(target, { method: options.method ?? 'GET', headers: options.headers, ...(options.ca === undefined ? {} : { ca: options.ca }), timeout: options.timeoutMs ?? 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const status = response.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, text: Buffer.concat(chunks).toString('utf8') });
      });
      response.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
