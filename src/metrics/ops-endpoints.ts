import type { Registry } from 'prom-client';

/**
 * The operations endpoints every service answers the same way, whichever server carries them (the
 * aggregator's ops server, the bridge's HTTP intake): `/metrics` (Prometheus text), `/healthz` (the
 * process answers) and `/readyz` (200 when the service can do its job, else 503; the body says
 * which part is not).
 */
export interface Readiness {
  readonly ready: boolean;
  /** What each part of the service reports (a connection's state, a queue's size, …). */
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface OpsEndpoints {
  /** A prom-client registry, or anything that renders Prometheus text the same way (a supervisor merging its workers'). */
  readonly registry: Pick<Registry, 'metrics' | 'contentType'>;
  readonly readiness: () => Readiness;
}

export interface OpsAnswer {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

const json = (status: number, body: unknown): OpsAnswer => ({ status, body: JSON.stringify(body), contentType: 'application/json' });

/** The answer to a GET of `path` when it is an operations endpoint, else undefined. */
export async function answerOps(path: string, endpoints: OpsEndpoints): Promise<OpsAnswer | undefined> {
  if (path === '/metrics') return { status: 200, body: await endpoints.registry.metrics(), contentType: endpoints.registry.contentType };
  if (path === '/healthz') return json(200, { status: 'alive' });
  if (path === '/readyz') {
    const readiness = endpoints.readiness();
    return json(readiness.ready ? 200 : 503, { ready: readiness.ready, ...readiness.detail });
  }
  return undefined;
}

export function isOpsPath(path: string): boolean {
  return path === '/metrics' || path === '/healthz' || path === '/readyz';
}
