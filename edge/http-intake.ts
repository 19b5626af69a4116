import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { EdgeConfig } from '../src/config/schema.ts';
import { errorMessage } from '../src/core/errors.ts';
import { validateGatewayBody, type GatewayBodyFormat, type Rejection } from '../src/core/validation.ts';
import type { Logger } from '../src/util/log.ts';
import type { FlowControl } from './flow.ts';
import type { EdgeMetrics } from './metrics.ts';
import type { ReadingPublisher } from './publisher.ts';
import { createHttpServer, type ListenerTls, type TlsMetrics } from './tls.ts';
import { ConnectionCaps } from './limits/connection-caps.ts';
import { KeyedTokenBuckets } from './limits/token-bucket.ts';
import { forbidden, methodNotAllowed, rateLimited, tooLarge, unavailable, type Answer } from './http-answers.ts';
import { discardRest, readBody } from './http-body.ts';
import { answerOps, isOpsPath, type Readiness } from '../src/metrics/ops-endpoints.ts';
import { GatewayAuthenticator, GatewayKeyStore } from './gateway-key-store.ts';
import type { GatewayIdentity } from '../src/util/gateway-keys.ts';

/**
 * HTTP intake for gateways, plus the operational endpoints, on one node:http server:
 *
 *   POST /v1/readings   Authorization: Bearer <gateway key>; JSON array or NDJSON body
 *   GET  /metrics       Prometheus text
 *   GET  /healthz       200 while the process runs
 *   GET  /readyz        200 when MQTT is connected, the producer is ready and the bridge is accepting
 *
 * Answers of POST /v1/readings (each with a JSON body):
 * (with edge.ackMode 'on-receipt' the 202 does not wait for Kafka: at-most-once)
 *   202 {"accepted":n}                         every reading valid and acknowledged by Kafka
 *   202 {"accepted":n,"rejected":[...]}        some readings valid (all acknowledged by Kafka), the
 *                                              others refused (and dead-lettered) with index + reason
 *   400 {"accepted":0,"rejected":[...]}        nothing valid (malformed body, or every reading refused)
 *   401 missing, unknown or expired key (past its not-after time in edge.hashedGatewayKeysFile)
 *   403 the key's tenant is not the one the request names, or a reading's device is outside the key's device prefix
 *   413 body over edge.maxHttpBodyBytes (answered at the limit; the rest is not kept); 503 + Retry-After when saturated,
 *   Kafka is unreachable, Kafka failed to acknowledge, or the bridge is stopping.
 *   429 + Retry-After: the gateway's or a device's rate limit (edge.httpLimits); nothing of the request is written.
 *   408: headers, a pause in the body or the whole request took too long; the connection is closed.
 *
 * Abuse limits (edge.httpLimits): connections beyond the listener's or one source address's cap are
 * closed at once. Every refusal is counted in tp_edge_rejected_total{source="http",reason}; a 403 or
 * 413 whose body was read is also dead-lettered (its bytes, never the key). 429 and 503 are not
 * dead-lettered: the client is told to send the same bytes again.
 */
/** Refusals of the HTTP server itself (besides the validation reasons), as tp_edge_rejected_total reasons. */
export const HTTP_REFUSAL_REASONS = [
  'unknown-gateway-key',
  'expired-gateway-key',
  'device-not-allowed',
  'tenant-mismatch',
  'payload-too-large',
  'rate-limited',
  'header-timeout',
  'body-timeout',
  'request-timeout',
  'connection-cap',
  'source-connection-cap',
  'malformed-request',
] as const;
export type HttpRefusalReason = (typeof HTTP_REFUSAL_REASONS)[number];

export interface HttpIntakeOptions {
  readonly edge: EdgeConfig;
  readonly publisher: ReadingPublisher;
  readonly flow: FlowControl;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly readiness: () => Readiness;
  /** False (edge.httpEnabled) serves only the operational endpoints; POST /v1/readings is 404. */
  readonly intakeEnabled: boolean;
  /** HTTPS (edge.tls.mode 'required'); undefined: plain HTTP. */
  readonly tls?: { readonly listener: ListenerTls; readonly metrics: TlsMetrics };
  /** 'after-kafka': 202 after Kafka's acknowledgement; 'on-receipt': 202 once validated (at-most-once). */
  readonly ackMode: EdgeConfig['ackMode'];
  readonly now?: () => number;
}

const IGNORE_OUTCOME = (): void => undefined;

export class HttpIntake {
  private readonly options: HttpIntakeOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly gateways: GatewayAuthenticator;
  private readonly server: Server;
  private readonly caps: ConnectionCaps;
  private readonly gatewayBuckets: KeyedTokenBuckets;
  private readonly deviceBuckets: KeyedTokenBuckets;
  /** Sockets whose current request's headers have arrived: a timeout there is the request's, not the headers'. */
  private readonly inRequest = new WeakSet<Socket>();
  private accepting = true;

  constructor(options: HttpIntakeOptions) {
    this.options = options;
    this.log = options.logger;
    this.now = options.now ?? Date.now;
    const keyFile = options.edge.hashedGatewayKeysFile === '' ? undefined : new GatewayKeyStore(options.edge.hashedGatewayKeysFile, options.logger);
    keyFile?.watch();
    this.gateways = new GatewayAuthenticator(options.edge.gatewayKeys, keyFile);
    const limits = options.edge.httpLimits;
    this.caps = new ConnectionCaps(limits);
    this.gatewayBuckets = new KeyedTokenBuckets({ ratePerSecond: limits.gatewayRequestsPerSecond, burst: limits.gatewayBurst }, limits.maxTrackedKeys);
    this.deviceBuckets = new KeyedTokenBuckets({ ratePerSecond: limits.deviceReadingsPerSecond, burst: limits.deviceBurst }, limits.maxTrackedKeys);
    this.server = createHttpServer(
      options.tls,
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        // Node checks both timeouts on this interval (30 s by default, which would let a slow client stay that much longer).
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
      },
      (request, response) => this.route(request, response),
    );
    this.server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    this.server.on('connection', (socket: Socket) => this.admit(socket));
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => this.clientError(error, socket));
    // Zero series from the start, so that rates and alerts see them before the first refusal.
    for (const reason of HTTP_REFUSAL_REASONS) options.metrics.rejected.labels('http', reason);
  }

  private refused(reason: HttpRefusalReason): void {
    this.options.metrics.rejected.labels('http', reason).inc();
  }

  /** Connection caps: one beyond them is closed before a byte of it is parsed. */
  private admit(socket: Socket): void {
    const source = socket.remoteAddress ?? 'unknown';
    const refusal = this.caps.open(source);
    if (refusal !== undefined) {
      this.refused(refusal);
      socket.destroy();
      return;
    }
    socket.once('close', () => this.caps.close(source));
  }

  /** Node's header and request timeouts and unparsable requests arrive here; the connection is closed. */
  private clientError(error: NodeJS.ErrnoException, socket: Socket): void {
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || socket.destroyed) {
      socket.destroy();
      return;
    }
    const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    this.refused(timeout ? (this.inRequest.has(socket) ? 'request-timeout' : 'header-timeout') : 'malformed-request');
    const status = timeout ? '408 Request Timeout' : '400 Bad Request';
    if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
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
    this.gateways.close();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  // -------------------------------------------------------------------------------------------

  private route(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    this.inRequest.add(socket);
    response.once('finish', () => this.inRequest.delete(socket));
    const path = (request.url ?? '/').split('?', 1)[0];
    const handle = (): Promise<Answer> | Answer => {
      if (path === '/v1/readings' && this.options.intakeEnabled) {
        return request.method === 'POST' ? this.postReadings(request) : methodNotAllowed('POST');
      }
      if (request.method !== 'GET' && request.method !== 'HEAD') return methodNotAllowed('GET');
      if (path !== undefined && isOpsPath(path)) return this.opsAnswer(path);
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

  /** /metrics, /healthz and /readyz, answered as every service answers them (src/metrics/ops-endpoints.ts). */
  private async opsAnswer(path: string): Promise<Answer> {
    const answer = (await answerOps(path, { registry: this.options.metrics.registry, readiness: this.options.readiness }))!;
    return { status: answer.status, body: answer.body, headers: { 'content-type': answer.contentType } };
  }

  private async postReadings(request: IncomingMessage): Promise<Answer> {
    const { edge, flow } = this.options;
    const auth = await this.gateways.authenticate(request.headers.authorization, this.now());
    if (auth.kind === 'expired') {
      this.refused('expired-gateway-key');
      return { status: 401, body: { error: 'unauthorized', detail: `the key of gateway ${auth.identity.gateway} expired (its not-after time has passed): use its successor` }, headers: { 'www-authenticate': 'Bearer error="invalid_token"' }, close: true };
    }
    if (auth.kind === 'unknown') {
      this.refused('unknown-gateway-key');
      return { status: 401, body: { error: 'unauthorized', detail: 'Authorization: Bearer <gateway key> is missing or unknown' }, headers: { 'www-authenticate': 'Bearer' }, close: true };
    }
    const gateway = auth.identity;
    const namedTenant = tenantNamedBy(request);
    if (namedTenant !== undefined && namedTenant !== gateway.tenant) {
      this.refused('tenant-mismatch');
      return forbidden(`gateway ${gateway.gateway} may write tenant ${gateway.tenant} only, not ${namedTenant}`);
    }
    const gatewayWait = this.gatewayBuckets.take(gateway.gateway, 1, this.now());
    if (gatewayWait > 0) {
      this.refused('rate-limited');
      return rateLimited(gatewayWait, `gateway ${gateway.gateway} is over edge.httpLimits.gatewayRequestsPerSecond (${edge.httpLimits.gatewayRequestsPerSecond})`);
    }
    if (!this.accepting) return unavailable('stopping', 'the bridge is stopping');
    if (!flow.isAccepting) return unavailable(flow.state, `the bridge is ${flow.state}`);

    const declared = Number(request.headers['content-length'] ?? Number.NaN);
    if (declared > edge.maxHttpBodyBytes) {
      this.refused('payload-too-large');
      return tooLarge(edge.maxHttpBodyBytes);
    }
    const read = await readBody(request, edge.maxHttpBodyBytes, edge.httpLimits.bodyIdleTimeoutMs);
    if (read.kind === 'timeout') {
      this.refused('body-timeout');
      return { status: 408, body: { error: 'body-timeout', detail: `no body bytes for ${edge.httpLimits.bodyIdleTimeoutMs} ms` }, close: true };
    }
    if (read.kind === 'too-large') {
      this.deadLetter(gateway, read.bytes, 'payload-too-large', `the body is over the limit of ${edge.maxHttpBodyBytes} bytes (its first ${read.bytes.length} bytes kept)`);
      return tooLarge(edge.maxHttpBodyBytes);
    }
    const body = read.bytes;

    const receivedAt = this.now();
    this.options.metrics.hot.http.messages++;
    const format: GatewayBodyFormat = (request.headers['content-type'] ?? '').startsWith('application/x-ndjson') ? 'ndjson' : 'json';
    const result = validateGatewayBody(body, format, gateway.tenant, receivedAt, edge.validation, edge.maxHttpBodyBytes);
    const foreign = result.rejections.find((rejection) => rejection.reason === 'tenant-mismatch');
    if (foreign !== undefined) {
      const where = foreign.index === null ? 'the body' : `reading ${foreign.index}`;
      const detail = `gateway ${gateway.gateway} may write tenant ${gateway.tenant} only (${where}: ${foreign.detail})`;
      this.deadLetter(gateway, body, 'tenant-mismatch', detail);
      return forbidden(detail);
    }
    const outside = gateway.devicePrefix === '' ? undefined : result.readings.find((reading) => !reading.device.startsWith(gateway.devicePrefix));
    if (outside !== undefined) {
      this.refused('device-not-allowed');
      return forbidden(`gateway ${gateway.gateway} may write devices starting with '${gateway.devicePrefix}' only, not '${outside.device}'; nothing of the request was written`);
    }
    const deviceWait = this.deviceBuckets.takeAll(readingsPerDevice(result.readings), receivedAt);
    if (deviceWait > 0) {
      this.refused('rate-limited');
      return rateLimited(deviceWait, `a device of the request is over edge.httpLimits.deviceReadingsPerSecond (${edge.httpLimits.deviceReadingsPerSecond}); nothing of it was written`);
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

  /** The whole body as evidence of a refusal, on the dead-letter path of the validation refusals (counted there). */
  private deadLetter(gateway: GatewayIdentity, payload: Buffer, reason: 'payload-too-large' | 'tenant-mismatch', detail: string): void {
    const envelope = { source: 'http', origin: gateway.gateway, deadLetterKey: gateway.gateway, payload, receivedAt: this.now() } as const;
    this.options.publisher.publish({ readings: [], rejections: [{ index: null, reason, detail, item: null }] }, envelope, IGNORE_OUTCOME);
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

/** Readings of each device (tenant and device) of a request: the cost in its device's bucket. */
function readingsPerDevice(readings: readonly { readonly tenant: string; readonly device: string }[]): Map<string, number> {
  const costs = new Map<string, number>();
  for (const reading of readings) {
    const key = `${reading.tenant}/${reading.device}`;
    costs.set(key, (costs.get(key) ?? 0) + 1);
  }
  return costs;
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
