import { createServer, type Server } from 'node:http';
import { answerOps, isOpsPath, type OpsEndpoints } from './ops-endpoints.ts';

export type { Readiness } from './ops-endpoints.ts';

/**
 * The operations endpoints of a service: `/metrics` (Prometheus text), `/healthz` (the process
 * answers) and `/readyz` (the service can do its job: 200, or 503 with the reason).
 */
export interface OpsServerOptions extends OpsEndpoints {
  readonly host: string;
  readonly port: number;
  /** Extra read-only JSON endpoints, for example `/status`; a handler may answer with a promise. */
  readonly json?: Readonly<Record<string, () => unknown>>;
  /** Extra read-only HTML pages, for example `/status/`. */
  readonly html?: Readonly<Record<string, () => string>>;
}

export function startOpsServer(options: OpsServerOptions): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'application/json'): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET') return send(405, JSON.stringify({ error: 'method not allowed' }));
    if (path !== undefined && isOpsPath(path)) {
      answerOps(path, options)
        .then((answer) => send(answer!.status, answer!.body, answer!.contentType))
        .catch((error: unknown) => send(500, JSON.stringify({ error: String(error) })));
      return;
    }
    const page = path ? options.html?.[path] : undefined;
    if (page) return send(200, page(), 'text/html; charset=utf-8');
    const handler = path ? options.json?.[path] : undefined;
    if (handler) {
      Promise.resolve()
        .then(handler)
        .then((body) => send(200, JSON.stringify(body)))
        .catch((error: unknown) => send(500, JSON.stringify({ error: String(error) })));
      return;
    }
    send(404, JSON.stringify({ error: 'not found' }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve(server));
  });
}
