import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Packet } from 'mqtt-packet';
import type { EdgeConfig, MqttConfig, ValidationConfig } from '../../src/config/schema.ts';
import { ConfigError, PipelineError, errorMessage } from '../../src/core/errors.ts';
import type { Logger } from '../../src/util/log.ts';
import { buildCodecRouter, sparkplugStateOf } from '../codecs/build.ts';
import { SparkplugHost } from '../codecs/sparkplug-host.ts';
import type { FlowControl } from '../flow.ts';
import type { EdgeMetrics } from '../metrics.ts';
import type { ReadingPublisher } from '../publisher.ts';
import { refusedCertificate, serverOptions, type ListenerTls, type TlsMetrics } from '../tls.ts';
import { certificateIdentity } from './certificate-identity.ts';
import { handleConnect } from './connect.ts';
import { ClientConnection, type ConnectionEvents, type Session } from './connection.ts';
import type { EndpointContext } from './context.ts';
import { CredentialStore } from './credentials.ts';
import { REASON, reasonLabel } from './limits.ts';
import { createDirectMetrics } from './metrics.ts';
import { handleDisconnect, handlePingreq } from './ping.ts';
import { handlePublish, handlePubrel, releaseAck } from './publish.ts';
import { handleSubscribe, handleUnsubscribe } from './subscribe.ts';
import { Wills } from './wills.ts';

/**
 * Direct mode: the bridge is the MQTT server (3.1.1 and 5.0) the devices connect to, built on
 * mqtt-packet (decision 0014). Nothing is shared between bridges: behind a TCP load balancer each
 * device connects to one of them, and its session lives there.
 */
export interface MqttServerOptions {
  readonly mqtt: MqttConfig;
  readonly validation: ValidationConfig;
  readonly ackMode: EdgeConfig['ackMode'];
  readonly publisher: ReadingPublisher;
  readonly flow: FlowControl;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly now?: () => number;
  /** MQTT over TLS (edge.tls.mode 'required'); undefined: plaintext TCP. */
  readonly tls?: { readonly listener: ListenerTls; readonly metrics: TlsMetrics };
}

/** Sockets beyond the connection cap that have not sent CONNECT yet: a little room, so that refusals can be answered. */
const UNCONNECTED_HEADROOM = 64;
const SESSION_SWEEP_MS = 30_000;

export class MqttServer {
  private readonly context: EndpointContext;
  private readonly server: Server;
  private readonly flow: FlowControl;
  private serial = 0;
  private stopping = false;
  private listening = false;
  private sweep: NodeJS.Timeout | undefined;
  private readonly events: ConnectionEvents;

  constructor(private readonly options: MqttServerOptions) {
    const { mqtt, logger } = options;
    if (mqtt.credentialsFile === '') throw new ConfigError("mqtt.mode 'direct' needs mqtt.credentialsFile (the device accounts); set it, or mqtt.mode 'broker'", { key: 'mqtt.credentialsFile' });
    this.flow = options.flow;
    const sockets = new Set<ClientConnection>();
    const metrics = createDirectMetrics(options.metrics.registry, {
      connections: () => sockets.size,
      inFlight: () => [...sockets].map((connection) => connection.window.inFlight),
      pendingWills: () => wills.pending,
    });
    const wills = new Wills(() => this.context);
    const now = options.now ?? Date.now;
    const sparkplug = mqtt.codecs.some((rule) => rule.codec === 'sparkplug')
      ? new SparkplugHost(options.metrics.registry, logger, now, () => sparkplugStateOf(codecs)!)
      : undefined;
    const codecs = buildCodecRouter(mqtt, sparkplug);
    this.context = {
      listen: mqtt.listen,
      topicPrefix: mqtt.topicPrefix,
      codecs,
      sparkplug,
      validation: options.validation,
      ackMode: options.ackMode,
      publisher: options.publisher,
      edgeMetrics: options.metrics,
      metrics,
      credentials: new CredentialStore(mqtt.credentialsFile, logger, { reloaded: (outcome) => metrics.credentialReloads.labels(outcome).inc() }),
      clients: new Map(),
      sessions: new Map<string, Session>(),
      wills,
      sockets,
      logger,
      now,
      stopping: () => this.stopping,
    };
    this.events = {
      packet: (connection, packet) => this.dispatch(connection, packet),
      closed: (connection, cause) => this.closed(connection, cause),
      tooLarge: (connection, bytes) => {
        metrics.refusals.labels(reasonLabel(REASON.packetTooLarge), 'any').inc();
        logger.warn({ clientId: connection.clientId, bytes, limit: mqtt.listen.maxPacketBytes }, 'packet too large: connection closed');
        connection.close('packet-too-large', REASON.packetTooLarge);
      },
      protocolError: (connection, error) => {
        metrics.refusals.labels(reasonLabel(REASON.malformedPacket), 'any').inc();
        logger.warn({ clientId: connection.clientId, err: errorMessage(error) }, 'malformed MQTT packet: connection closed');
        connection.close('malformed-packet', REASON.malformedPacket);
      },
    };
    const { tls } = options;
    if (tls === undefined) {
      this.server = createServer((socket) => this.handleSocket(socket));
    } else {
      // The handshake gets the time a connection has to send its CONNECT.
      this.server = createTlsServer(serverOptions(tls.listener, mqtt.listen.connectTimeoutMs), (socket) => this.handleSecureSocket(socket, tls.metrics));
      this.server.on('tlsClientError', (error: Error, socket: TLSSocket) => {
        tls.metrics.failures.labels('mqtt', 'handshake-failed').inc();
        logger.debug({ err: errorMessage(error), remote: socket.remoteAddress }, 'TLS handshake failed');
        // A handshake timeout only reports itself: the socket stays open unless it is ended here.
        socket.destroy();
      });
      // The cap of handleSocket counts connections only once their handshake is done: node:net's own
      // cap counts them from the TCP accept, so that a flood of unfinished handshakes is refused too.
      this.server.maxConnections = mqtt.listen.maxConnections + UNCONNECTED_HEADROOM;
      this.server.on('drop', () => metrics.connects.labels('quota-exceeded').inc());
    }
    options.flow.onChange((state) => {
      for (const connection of sockets) {
        if (state === 'accepting' && !this.stopping) connection.resume('flow');
        else connection.pause('flow');
      }
    });
  }

  /** True while the server listens (the readiness probe's "mqtt"). */
  get connected(): boolean {
    return this.listening && !this.stopping;
  }

  /** The port it listens on (mqtt.listen.port, or the one chosen for port 0). */
  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? this.options.mqtt.listen.port;
  }

  async start(): Promise<void> {
    const { host, port } = this.options.mqtt.listen;
    await new Promise<void>((resolve, reject) => {
      const failed = (error: Error): void =>
        reject(new PipelineError('MQTT_LISTEN_FAILED', `cannot listen on ${host}:${port} (mqtt.listen): ${error.message}`, { context: { host, port }, cause: error }));
      this.server.once('error', failed);
      this.server.listen(port, host, () => {
        this.server.off('error', failed);
        resolve();
      });
    });
    this.server.on('error', (error) => this.options.logger.error({ err: errorMessage(error) }, 'MQTT server error'));
    this.listening = true;
    this.context.credentials.watch();
    this.sweep = setInterval(() => this.expireSessions(), SESSION_SWEEP_MS).unref();
    const transport = this.options.tls === undefined ? 'plaintext' : this.options.tls.listener.clientCa === undefined ? 'tls' : 'tls, client certificates';
    this.options.logger.info({ host, port: this.port, transport, accounts: this.context.credentials.size }, 'MQTT endpoint listening (direct mode)');
  }

  /** Accepts no new connection and reads no further packet; acknowledgements still leave. */
  stopIntake(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.server.close();
    for (const connection of this.context.sockets) connection.pause('flow');
  }

  /** Waits (bounded) until every settled message was acknowledged, then closes every connection. */
  async close(timeoutMs = 5000): Promise<void> {
    this.stopIntake();
    const deadline = Date.now() + timeoutMs;
    const unsettled = (): number => [...this.context.sockets].reduce((sum, connection) => sum + (connection.acks.blocked ? 0 : connection.acks.waiting), 0);
    while (unsettled() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    const left = unsettled();
    // Sessions live in this process: they all end now, and their wills are published (wills.ts).
    this.context.wills.stop();
    for (const connection of [...this.context.sockets]) connection.close('bridge-stopping', REASON.serverShuttingDown);
    const willsLeft = await this.context.wills.settled(Math.max(500, deadline - Date.now()));
    if (this.sweep !== undefined) clearInterval(this.sweep);
    this.context.credentials.close();
    this.listening = false;
    this.options.logger.info({ unacknowledged: left, willsUnsettled: willsLeft }, 'MQTT endpoint closed; devices resend what was not acknowledged');
  }

  /**
   * A TLS connection whose handshake completed: a client certificate that the configured CA did
   * not sign, that expired, or that names no device and tenant ends it here, before any MQTT.
   */
  private handleSecureSocket(socket: TLSSocket, metrics: TlsMetrics): void {
    const refused = refusedCertificate(socket) ?? (certificateIdentity(socket) === 'bad-subject' ? 'bad-certificate-subject' : undefined);
    if (refused !== undefined) {
      metrics.failures.labels('mqtt', refused).inc();
      this.options.logger.warn({ reason: refused, remote: socket.remoteAddress, subject: socket.getPeerCertificate()?.subject }, 'client certificate refused: connection closed');
      socket.destroy();
      return;
    }
    this.handleSocket(socket);
  }

  /** Serves one device connection; the listener calls it, and so can tests or another transport (TLS). */
  handleSocket(socket: Socket): void {
    const { context } = this;
    if (this.stopping || context.sockets.size >= context.listen.maxConnections + UNCONNECTED_HEADROOM) {
      context.metrics.connects.labels('quota-exceeded').inc();
      socket.destroy();
      return;
    }
    const listen = context.listen;
    const connection = new ClientConnection(
      socket,
      ++this.serial,
      { receiveMaximum: listen.receiveMaximum, maxPacketBytes: listen.maxPacketBytes, maxMessagesPerSecond: listen.maxMessagesPerSecondPerClient },
      this.events,
      context.now(),
      releaseAck,
    );
    context.sockets.add(connection);
    if (!this.flow.isAccepting) connection.pause('flow');
    setTimeout(() => {
      if (connection.state === 'awaiting-connect') connection.close('connect-timeout');
    }, listen.connectTimeoutMs).unref();
  }

  private dispatch(connection: ClientConnection, packet: Packet): void {
    const { context } = this;
    if (packet.cmd === 'connect') {
      handleConnect(context, connection, packet, () => this.dispatchPending(connection)).catch((error: unknown) => {
        context.logger.error({ err: errorMessage(error), clientId: packet.clientId }, 'CONNECT handling failed');
        connection.close('connect-failed');
      });
      return;
    }
    if (connection.state !== 'connected') {
      // MQTT 5 §3.1: the first packet must be CONNECT.
      connection.close('no-connect-first');
      return;
    }
    switch (packet.cmd) {
      case 'publish':
        handlePublish(context, connection, packet);
        return;
      case 'pubrel':
        handlePubrel(connection, packet);
        return;
      case 'pingreq':
        handlePingreq(connection);
        return;
      case 'subscribe':
        handleSubscribe(context, connection, packet);
        return;
      case 'unsubscribe':
        handleUnsubscribe(connection, packet);
        return;
      case 'disconnect':
        handleDisconnect(context, connection, packet);
        return;
      default:
        // PUBACK/PUBREC/PUBCOMP answer messages this server never sends; AUTH is not offered.
        context.metrics.refusals.labels(reasonLabel(REASON.protocolError), packet.cmd).inc();
        connection.close('protocol-error', REASON.protocolError);
    }
  }

  private dispatchPending(connection: ClientConnection): void {
    const pending = connection.pendingPackets.splice(0);
    for (const packet of pending) {
      if (!connection.isOpen) return;
      this.dispatch(connection, packet);
    }
  }

  private closed(connection: ClientConnection, cause: string): void {
    const { context } = this;
    context.sockets.delete(connection);
    context.metrics.disconnects.labels(cause).inc();
    // Every end but a DISCONNECT 0x00 (which discarded it) publishes the will, bounded by the session.
    const will = connection.will;
    connection.will = undefined;
    if (will !== undefined) context.wills.ended(will, connection.session?.expirySeconds ?? 0);
    if (connection.clientId === '' || context.clients.get(connection.clientId) !== connection) return;
    context.clients.delete(connection.clientId);
    const session = connection.session;
    if (session === undefined) return;
    if (session.expirySeconds === 0) context.sessions.delete(session.clientId);
    else session.expiresAt = context.now() + session.expirySeconds * 1000;
  }

  private expireSessions(): void {
    const now = this.context.now();
    for (const [clientId, session] of this.context.sessions) {
      if (session.expiresAt !== undefined && session.expiresAt <= now) this.context.sessions.delete(clientId);
    }
  }
}
