import { readFileSync } from 'node:fs';
import { createServer as createPlainServer, type RequestListener, type Server as HttpServer, type ServerOptions as HttpServerOptions } from 'node:http';
import { createServer as createSecureServer } from 'node:https';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MqttConfig } from '../src/config/schema.ts';
import type { EdgeTlsConfig } from '../src/config/tls-schema.ts';
import { ConfigError, errorMessage } from '../src/core/errors.ts';

/**
 * What the bridge's listeners need of `edge.tls`, read once at construction: the server
 * certificate and key, and the CA of device client certificates. Contradictions (TLS required but
 * no certificate; a plaintext broker URL while TLS is required) fail here, before anything listens.
 */
export interface ListenerTls {
  readonly cert: Buffer;
  readonly key: Buffer | string;
  /** Signs device client certificates (MQTT mutual TLS); undefined asks no client for one. */
  readonly clientCa: Buffer | undefined;
  readonly minVersion: EdgeTlsConfig['minVersion'];
}

/** The listeners' TLS, or undefined when edge.tls.mode is 'plaintext'. */
export function listenerTls(tls: EdgeTlsConfig): ListenerTls | undefined {
  if (tls.mode === 'plaintext') return undefined;
  if (tls.certFile === '') throw new ConfigError("edge.tls.mode 'required' needs edge.tls.certFile (the PEM certificate of the HTTPS and MQTTS listeners); set it, or edge.tls.mode 'plaintext' behind a TLS-terminating proxy", { key: 'edge.tls.certFile' });
  if (tls.keyFile === '' && tls.key === '') throw new ConfigError("edge.tls.mode 'required' needs a private key: edge.tls.keyFile, or the secret edge.tls.key (TP_EDGE__TLS__KEY_FILE)", { key: 'edge.tls.keyFile' });
  if (tls.keyFile !== '' && tls.key !== '') throw new ConfigError('edge.tls.keyFile and edge.tls.key are both set: set one', { key: 'edge.tls.key' });
  return {
    cert: readPem(tls.certFile, 'edge.tls.certFile'),
    key: tls.key !== '' ? tls.key : readPem(tls.keyFile, 'edge.tls.keyFile'),
    clientCa: tls.clientCaFile === '' ? undefined : readPem(tls.clientCaFile, 'edge.tls.clientCaFile'),
    minVersion: tls.minVersion,
  };
}

/** Broker mode: the TLS options of the connection to mqtt.url. */
export function brokerTls(tls: EdgeTlsConfig, mqtt: MqttConfig): { readonly ca?: Buffer } {
  const secure = mqtt.url.startsWith('mqtts://');
  if (tls.mode === 'required' && !secure) {
    throw new ConfigError(`edge.tls.mode 'required' but mqtt.url ${mqtt.url} is plaintext: use mqtts:// (the broker's TLS listener), or edge.tls.mode 'plaintext'`, { key: 'mqtt.url', value: mqtt.url });
  }
  if (!secure || tls.brokerCaFile === '') return {};
  return { ca: readPem(tls.brokerCaFile, 'edge.tls.brokerCaFile') };
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${key} ${file} cannot be read: ${errorMessage(error)}`, { key, file });
  }
}

/** Why a TLS connection was closed before a byte of MQTT or HTTP: a label of tp_edge_tls_handshake_failures_total. */
export type TlsFailure = 'untrusted-certificate' | 'expired-certificate' | 'bad-certificate-subject' | 'handshake-failed';

export interface TlsMetrics {
  readonly failures: Counter<'listener' | 'reason'>;
}

/**
 * tp_edge_tls_handshake_failures_total{listener, reason} and tp_edge_tls_enabled{listener} (1: TLS,
 * 0: plaintext by edge.tls.mode, which the status page shows). Every series exists from the start.
 */
export function createTlsMetrics(registry: Registry, enabled: boolean): TlsMetrics {
  const failures = new Counter({
    name: 'tp_edge_tls_handshake_failures_total',
    help: "TLS connections closed before any MQTT or HTTP was read: a client certificate the configured CA did not sign, or expired, or naming no device and tenant; or a failed handshake (a plaintext client, no common cipher)",
    labelNames: ['listener', 'reason'],
    registers: [registry],
  });
  const state = new Gauge({ name: 'tp_edge_tls_enabled', help: "1 when the listener is TLS, 0 when edge.tls.mode is 'plaintext'", labelNames: ['listener'], registers: [registry] });
  for (const listener of ['http', 'mqtt']) {
    state.labels(listener).set(enabled ? 1 : 0);
    for (const reason of ['untrusted-certificate', 'expired-certificate', 'bad-certificate-subject', 'handshake-failed']) failures.labels(listener, reason);
  }
  return { failures };
}

/**
 * The TLS options of a listener (node:tls createServer / node:https createServer). `handshakeTimeoutMs`:
 * Node's default is 120 s, during which a connection that sends nothing is held before any of the
 * listener's own timeouts or connection caps see it.
 */
export function serverOptions(tls: ListenerTls, handshakeTimeoutMs: number): TlsOptions {
  return {
    cert: tls.cert,
    key: tls.key,
    minVersion: tls.minVersion,
    handshakeTimeout: handshakeTimeoutMs,
    // Asked for, not demanded: devices without a certificate log in with username/password. A
    // certificate that fails verification is refused right after the handshake (refusedCertificate).
    ...(tls.clientCa === undefined ? {} : { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }),
  };
}

/**
 * Whether a client's certificate must end its connection: it presented one, and the configured CA
 * did not sign it or it expired. Node cannot fail the handshake itself without also refusing the
 * clients that present none, so the connection is closed before anything of it is read.
 */
export function refusedCertificate(socket: TLSSocket): TlsFailure | undefined {
  if (socket.authorized) return undefined;
  const peer = socket.getPeerCertificate();
  if (peer === null || Object.keys(peer).length === 0) return undefined;
  // Node sets an Error whose code is OpenSSL's verify result (older versions: the code as a string).
  const reason = socket.authorizationError as unknown as (Error & { code?: string }) | string | null;
  const code = typeof reason === 'string' ? reason : (reason?.code ?? reason?.message ?? '');
  return code === 'CERT_HAS_EXPIRED' ? 'expired-certificate' : 'untrusted-certificate';
}

/**
 * The HTTP intake's server: node:http, or node:https with the listener's certificate. An https.Server
 * is an http.Server in everything the intake uses (timeouts, 'connection', 'clientError', close), so
 * it is returned as one; failed handshakes are counted here.
 */
export function createHttpServer(tls: { readonly listener: ListenerTls; readonly metrics: TlsMetrics } | undefined, options: HttpServerOptions, handler: RequestListener): HttpServer {
  if (tls === undefined) return createPlainServer(options, handler);
  // Gateways authenticate with their key, not a certificate: no client certificate is asked for.
  const server = createSecureServer({ ...options, ...serverOptions({ ...tls.listener, clientCa: undefined }, options.headersTimeout ?? 10_000) }, handler);
  server.on('tlsClientError', (_error: Error, socket: TLSSocket) => {
    tls.metrics.failures.labels('http', 'handshake-failed').inc();
    // A handshake timeout only reports itself: the socket stays open unless it is ended here.
    socket.destroy();
  });
  return server as unknown as HttpServer;
}
