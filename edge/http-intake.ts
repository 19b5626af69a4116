import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { EdgeConfig, GatewayKey } from '../src/config/schema.ts';
import { errorMessage } from '../src/core/errors.ts';
import { validateGatewayBody, type GatewayBodyFormat, type Rejection } from '../src/core/validation.ts';
import type { Logger } from '../src/util/log.ts';
import type { FlowControl } from './flow.ts';
import type { EdgeMetrics } from './metrics.ts';
import type { ReadingPublisher } from './publisher.ts';

/**
 * HTTP intake for gateways, plus the operational endpoints, on one node:http server:
 *
 *   POST /v1/readings   Authorization: Bearer <gateway key>; JSON array or NDJSON body
 *   GET  /metrics       Prometheus text (`?name=<metric>`, repeatable: only those metrics)
 *   GET  /healthz       200 while the process runs
 *   GET  /readyz        200 when MQTT is connected, the producer is ready and the bridge is accepting
 *
 * Answers of POST /v1/readings (each with a JSON body):
 * (with edge.ackMode 'on-receipt' the 202 does not wait for Kafka: at-most-once)
 *   202 {"accepted":n}                         every reading valid and acknowledged by Kafka
 *   202 {"accepted":n,"rejected":[...]}        some readings valid (all acknowledged by Kafka), the
 *                                              others refused (and dead-lettered) with index + reason
 *   400 {"accepted":0,"rejected":[...]}        nothing valid (malformed body, or every reading refused)
 *   401 missing or unknown key; 403 the key's tenant is not the one the request names
 *   413 body over edge.maxHttpBodyBytes (answered at the limit; the rest is not kept); 503 + Retry-After when saturated,
 *   Kafka is unreachable, Kafka failed to acknowledge, or the bridge is stopping.
 */
export interface HttpIntakeOptions {
  readonly edge: EdgeConfig;
  readonly publisher: ReadingPublisher;
  readonly flow: FlowControl;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly readiness: () => Readiness;
  /** False (edge.httpEnabled) serves only the operational endpoints; POST /v1/readings is 404. */
  readonly intakeEnabled: boolean;
  /** 'after-kafka': 202 after Kafka's acknowledgement; 'on-receipt': 202 once validated (at-most-once). */
  readonly ackMode: EdgeConfig['ackMode'];
  readonly now?: () => number;
}

export interface Readiness {
  readonly ready: boolean;
  readonly [part: string]: unknown;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** Close the connection after answering (the rest of the body is not kept, see discardRest). */
  readonly close?: boolean;
}

const IGNORE_OUTCOME = (): void => undefined;

const RETRY_AFTER_SECONDS = { accepting: '1', saturated: '1', 'kafka-unavailable': '5', failed: '2', stopping: '5' } as const;

export class HttpIntake {
  private readonly options: HttpIntakeOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly keys: ReadonlyMap<string, GatewayKey>;
  private readonly server: Server;
  private accepting = true;

  constructor(options: HttpIntakeOptions) {
    this.options = options;
    this.log = options.logger;
    this.now = options.now ?? Date.now;
    this.keys = new Map(options.edge.gatewayKeys.map((entry) => [entry.key, entry]));
    this.server = createServer((request, response) => this.route(request, response));
    this.server.keepAliveTimeout = 65_000;
  }

  async listen(): Promise<AddressInfo> {
    const { httpHost, httpPort } = this.options.edge;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(httpPort, httpHost, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address() as AddressInfo;
    this.log.info({ host: address.address, port: address.port }, 'HTTP intake listening');
    return address;
  }

  /** New readings get 503; /healthz, /readyz and /metrics keep answering until close(). */
  stopIntake(): void {
    this.accepting = false;
  }

  async close(): Promise<void> {
    this.accepting = false;
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  // -------------------------------------------------------------------------------------------

  private route(request: IncomingMessage, response: ServerResponse): void {
    const path = (request.url ?? '/').split('?', 1)[0];
    const handle = (): Promise<Answer> | Answer => {
      if (path === '/v1/readings' && this.options.intakeEnabled) {
        return request.method === 'POST' ? this.postReadings(request) : methodNotAllowed('POST');
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed('GET');
      if (path === '/healthz') return { status: 200, body: { status: 'alive' } };
      if (path === '/readyz') {
        const readiness = this.options.readiness();
        return { status: readiness.ready ? 200 : 503, body: readiness };
      }
      if (path === '/metrics') return this.metricsAnswer(request.url ?? '/');
      return { status: 404, body: { error: 'not-found' } };
    };
    Promise.resolve()
      .then(handle)
      .then(
        (answer) => this.answer(request, response, answer, path === '/v1/readings'),
        (error: unknown) => {
          this.log.error({ err: errorMessage(error), path }, 'HTTP handler failed');
          this.answer(request, response, { status: 500, body: { error: 'internal' } }, path === '/v1/readings');
        },
      );
  }

  /**
   * All metrics, or with `?name=<metric>` (repeatable) only those: a poller that wants one counter
   * many times a second (the edge benchmark) then does not pay for the process metrics each time
   * (reading /proc, the event-loop histogram), which would otherwise be charged to the bridge.
   */
  private async metricsAnswer(url: string): Promise<Answer> {
    const { registry } = this.options.metrics;
    const query = url.indexOf('?');
    const names = query < 0 ? [] : new URLSearchParams(url.slice(query + 1)).getAll('name');
    if (names.length === 0) return { status: 200, body: await registry.metrics(), headers: { 'content-type': registry.contentType } };
    const parts: string[] = [];
    for (const name of names) {
      if (registry.getSingleMetric(name) === undefined) return { status: 404, body: { error: 'unknown-metric', name } };
      parts.push(await registry.getSingleMetricAsString(name));
    }
    return { status: 200, body: parts.join('\n') + '\n', headers: { 'content-type': registry.contentType } };
  }

  private async postReadings(request: IncomingMessage): Promise<Answer> {
    const { edge, flow } = this.options;
    const gateway = this.authenticate(request);
    if (gateway === undefined) {
      this.options.metrics.rejected.labels('http', 'unknown-gateway-key').inc();
      return { status: 401, body: { error: 'unauthorized', detail: 'Authorization: Bearer <gateway key> is missing or unknown' }, headers: { 'www-authenticate': 'Bearer' }, close: true };
    }
    const namedTenant = tenantNamedBy(request);
    if (namedTenant !== undefined && namedTenant !== gateway.tenant) {
      return forbidden(`gateway ${gateway.gateway} may write tenant ${gateway.tenant} only, not ${namedTenant}`);
    }
    if (!this.accepting) return unavailable('stopping', 'the bridge is stopping');
    if (!flow.isAccepting) return unavailable(flow.state, `the bridge is ${flow.state}`);

    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    if (declared > edge.maxHttpBodyBytes) return tooLarge(edge.maxHttpBodyBytes);
    const body = await readBody(request, edge.maxHttpBodyBytes);
    if (body === undefined) return tooLarge(edge.maxHttpBodyBytes);

    const receivedAt = this.now();
    this.options.metrics.hot.http.messages++;
    const format: GatewayBodyFormat = (request.headers['content-type'] ?? '').startsWith('application/x-ndjson') ? 'ndjson' : 'json';
    const result = validateGatewayBody(body, format, gateway.tenant, receivedAt, edge.validation, edge.maxHttpBodyBytes);
    const foreign = result.rejections.find((rejection) => rejection.reason === 'tenant-mismatch');
    if (foreign !== undefined) {
      const where = foreign.index === null ? 'the body' : `reading ${foreign.index}`;
      return forbidden(`gateway ${gateway.gateway} may write tenant ${gateway.tenant} only (${where}: ${foreign.detail})`);
    }

    const envelope = { source: 'http', origin: gateway.gateway, deadLetterKey: gateway.gateway, payload: body, receivedAt } as const;
    const outcome =
      this.options.ackMode === 'on-receipt'
        ? (this.options.publisher.publish(result, envelope, IGNORE_OUTCOME), { ok: true, error: undefined })
        : await new Promise<{ ok: boolean; error: unknown }>((resolve) => this.options.publisher.publish(result, envelope, resolve));
    if (!outcome.ok) {
      this.log.warn({ gateway: gateway.gateway, err: errorMessage(outcome.error) }, 'gateway request not acknowledged by Kafka');
      return unavailable('failed', 'Kafka did not acknowledge every record; nothing is acknowledged, retry');
    }
    const accepted = result.readings.length;
    const rejected = result.rejections.map(describeRejection);
    if (accepted === 0) return { status: 400, body: { accepted, rejected } };
    return { status: 202, body: rejected.length > 0 ? { accepted, rejected } : { accepted } };
  }

  private authenticate(request: IncomingMessage): GatewayKey | undefined {
    const header = request.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer ')) return undefined;
    return this.keys.get(header.slice(7).trim());
  }

  private answer(request: IncomingMessage, response: ServerResponse, answer: Answer, counted: boolean): void {
    if (counted) this.options.metrics.httpResponses.labels(String(answer.status)).inc();
    const text = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      ...answer.headers,
      'content-length': Buffer.byteLength(text),
    };
    // Closing at once would reset a client that is still sending before it read the answer.
    if (answer.close && request.complete) headers['connection'] = 'close';
    response.writeHead(answer.status, headers);
    response.end(request.method === 'HEAD' ? undefined : text);
    if (answer.close && !request.complete) discardRest(request);
  }
}

/**
 * The rest of a refused body is not kept: it is read and dropped for a short while (so that the
 * client, still sending, gets to read the answer instead of a reset), then the connection is cut.
 */
const LINGER_MS = 1000;
const LINGER_BYTES = 8 * 1024 * 1024;

function discardRest(request: IncomingMessage): void {
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

/** Reads at most `limit` bytes; undefined (and reading stops) when the body is longer. */
function readBody(request: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        request.off('data', onData);
        request.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    request.on('data', onData);
    request.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    request.once('error', reject);
  });
}

function tenantNamedBy(request: IncomingMessage): string | undefined {
  const header = request.headers['x-tenant'];
  if (typeof header === 'string' && header !== '') return header;
  const query = (request.url ?? '').split('?', 2)[1];
  if (query === undefined) return undefined;
  return new URLSearchParams(query).get('tenant') ?? undefined;
}

function describeRejection(rejection: Rejection): { index: number | null; reason: string; detail: string } {
  return { index: rejection.index, reason: rejection.reason, detail: rejection.detail };
}

function methodNotAllowed(allow: string): Answer {
  return { status: 405, body: { error: 'method-not-allowed' }, headers: { allow } };
}

function forbidden(detail: string): Answer {
  return { status: 403, body: { error: 'forbidden', detail }, close: true };
}

function tooLarge(limit: number): Answer {
  return { status: 413, body: { error: 'payload-too-large', detail: `the body limit is ${limit} bytes` }, close: true };
}

function unavailable(why: keyof typeof RETRY_AFTER_SECONDS, detail: string): Answer {
  return { status: 503, body: { error: why, detail }, headers: { 'retry-after': RETRY_AFTER_SECONDS[why] }, close: true };
}
