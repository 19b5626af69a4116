import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { errorMessage } from '../../core/errors.ts';
import { KafkaAdminError } from '../admin.ts';
import { brokerList, type KafkaConnection, type KafkaSecurity } from '../connection.ts';
import { Reader, Writer } from './codec.ts';
import { ScramClient } from './scram.ts';

/**
 * One short-lived connection to a broker for the requests the librdkafka binding does not expose
 * (topic configurations, ACLs, SCRAM credentials): TLS and the SCRAM-SHA-512 login when
 * kafka.security says so, exactly like the librdkafka clients (same CA, same principal), then
 * requests one at a time. Any broker serves these; in KRaft it forwards alterations to the controller.
 */
const CLIENT_ID = 'telemetry-pipeline-admin';
const API_SASL_HANDSHAKE = 17;
const API_SASL_AUTHENTICATE = 36;

export interface WireRequest {
  readonly apiKey: number;
  readonly version: number;
  /** A flexible version (KIP-482): request header v2 and response header v1, with tagged fields. */
  readonly flexible?: boolean;
  readonly body: Buffer;
}

export class WireConnection {
  private received = Buffer.alloc(0);
  private waiting: { correlationId: number; resolve: (body: Buffer) => void; reject: (error: Error) => void } | null = null;
  private nextCorrelationId = 1;
  private closedError: Error | null = null;

  private constructor(
    private readonly socket: Socket,
    private readonly broker: string,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.once('error', (error) => this.fail(error));
    socket.once('close', () => this.fail(new Error(`${broker} closed the connection (an unsupported request version, or a refused login, is answered that way)`)));
    socket.setTimeout(timeoutMs, () => this.fail(new Error(`no answer from ${broker} within ${timeoutMs} ms`)));
  }

  /** Connects (TLS unless plaintext), logs in when the protocol is sasl_ssl. */
  static async open(broker: string, security: KafkaSecurity, timeoutMs: number): Promise<WireConnection> {
    const colon = broker.lastIndexOf(':');
    const host = broker.slice(0, colon);
    const port = Number(broker.slice(colon + 1));
    const socket = await new Promise<Socket>((resolve, reject) => {
      const timer = setTimeout(() => {
        candidate.destroy();
        reject(new Error(`no connection to ${broker} within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (error?: Error): void => {
        clearTimeout(timer);
        candidate.removeAllListeners('error');
        if (error) reject(error);
        else resolve(candidate);
      };
      const candidate: Socket =
        security.protocol === 'plaintext'
          ? new Socket().connect(port, host, () => done())
          : tlsConnect({ host, port, ...(security.caFile === '' ? {} : { ca: readFileSync(security.caFile) }), ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }) }, () => done());
      candidate.once('error', (error) => {
        candidate.destroy();
        done(error);
      });
    });
    const connection = new WireConnection(socket, broker, timeoutMs);
    if (security.protocol === 'sasl_ssl') {
      try {
        await connection.login(security);
      } catch (error) {
        connection.close();
        throw error;
      }
    }
    return connection;
  }

  /** Sends one request; resolves with the response body (after the response header). */
  request(request: WireRequest): Promise<Buffer> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.waiting) return Promise.reject(new Error('one request at a time on a wire connection'));
    const correlationId = this.nextCorrelationId++;
    const header = new Writer().int16(request.apiKey).int16(request.version).int32(correlationId).string(CLIENT_ID);
    if (request.flexible) header.noTags();
    const frame = Buffer.concat([Buffer.alloc(4), header.bytes(), request.body]);
    frame.writeInt32BE(frame.length - 4, 0);
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting = {
        correlationId,
        resolve: (body) => {
          if (!request.flexible) return resolve(body);
          // Response header v1: tagged fields after the correlation id.
          const reader = new Reader(body);
          reader.tags();
          resolve(body.subarray(body.length - reader.remaining()));
        },
        reject,
      };
      this.socket.write(frame);
    });
  }

  close(): void {
    this.closedError ??= new Error(`connection to ${this.broker} closed`);
    this.socket.destroy();
  }

  private async login(security: KafkaSecurity): Promise<void> {
    const handshake = new Reader(await this.request({ apiKey: API_SASL_HANDSHAKE, version: 1, body: new Writer().string(security.mechanism).bytes() }));
    const handshakeError = handshake.int16();
    if (handshakeError !== 0) throw new KafkaAdminError(`${this.broker} does not offer SASL mechanism ${security.mechanism} (Kafka error ${handshakeError})`, { broker: this.broker, kafkaError: handshakeError });
    const scram = new ScramClient(security.username, security.password);
    const serverFirst = await this.authenticate(scram.first(), security.username);
    const serverFinal = await this.authenticate(scram.final(serverFirst), security.username);
    scram.verify(serverFinal);
  }

  private async authenticate(message: string, username: string): Promise<string> {
    const reader = new Reader(await this.request({ apiKey: API_SASL_AUTHENTICATE, version: 1, body: new Writer().bytes32(Buffer.from(message, 'utf8')).bytes() }));
    const errorCode = reader.int16();
    const errorText = reader.nullableString();
    const answer = reader.bytes32().toString('utf8');
    if (errorCode !== 0) {
      // 58 SASL_AUTHENTICATION_FAILED: the broker's text names the user, never the password.
      throw new KafkaAdminError(`${this.broker} refused the SASL login of '${username}': Kafka error ${errorCode}${errorText ? ` (${errorText})` : ''}`, { broker: this.broker, kafkaError: errorCode });
    }
    return answer;
  }

  private onData(chunk: Buffer): void {
    this.received = Buffer.concat([this.received, chunk]);
    if (this.received.length < 4) return;
    const size = this.received.readInt32BE(0);
    if (this.received.length < 4 + size) return;
    const frame = this.received.subarray(4, 4 + size);
    this.received = this.received.subarray(4 + size);
    const waiting = this.waiting;
    this.waiting = null;
    if (!waiting) return;
    if (frame.readInt32BE(0) !== waiting.correlationId) waiting.reject(new Error(`${this.broker} answered another request`));
    else waiting.resolve(frame.subarray(4));
  }

  private fail(error: Error): void {
    this.closedError ??= error;
    this.socket.destroy();
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.reject(error);
  }
}

/** Sends one request to the first broker that answers (and accepts the login); resolves with the response body. */
export async function wireRequest(connection: KafkaConnection, request: WireRequest, timeoutMs: number, operation: string): Promise<Buffer> {
  let lastError: unknown;
  for (const broker of connection.brokers) {
    let wire: WireConnection | undefined;
    try {
      wire = await WireConnection.open(broker, connection.security, timeoutMs);
      return await wire.request(request);
    } catch (error) {
      lastError = error;
    } finally {
      wire?.close();
    }
  }
  throw new KafkaAdminError(`${operation} failed: no broker of ${brokerList(connection)} answered (${errorMessage(lastError)})`, { brokers: brokerList(connection) }, lastError);
}
