import type { Socket } from 'node:net';
import { generate, parser as createParser, type Packet } from 'mqtt-packet';
import { AckQueue, type AckTicket } from '../ack-queue.ts';
import type { DeviceIdentity } from './credentials.ts';
import { PacketFramer, type FrameSink } from './framing.ts';
import { RateLimit, ReceiveWindow, keepAliveTimeoutMs, type TopicCheck } from './limits.ts';
import type { Will } from './will.ts';

/**
 * One device connection of the direct endpoint: its socket, its parser, its state, and the one
 * path every packet it is sent takes (`write`). Packet handling lives in connect.ts, publish.ts,
 * subscribe.ts and ping.ts; this object only carries what they share.
 *
 * Reading stops (socket.pause()) for any of three holders: CONNECT authentication in progress,
 * the receive window full, the bridge not accepting (Kafka unavailable or too much in flight).
 * What is not read stays in the kernel's buffers and then in the device's: nothing is buffered
 * here without bound.
 */
export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';
export type PauseHolder = 'auth' | 'window' | 'flow';

/** What the device is owed for a received QoS 1/2 message once its records settled: PUBACK or PUBREC, with this reason code. */
export interface AckPlan {
  readonly qos: 1 | 2;
  readonly code: number;
}

/** A device session: what outlives a connection. Only QoS 2 packet ids awaiting PUBREL need keeping. */
export interface Session {
  readonly clientId: string;
  readonly awaitingPubrel: Set<number>;
  /** The identity that last connected with it: only the same owner (session.ts) may continue or take it over. */
  owner: DeviceIdentity;
  /** Seconds the session is kept after its connection closed. */
  expirySeconds: number;
  /** When the session expires (ms), while no connection holds it. */
  expiresAt: number | undefined;
}

export interface ConnectionEvents {
  packet(connection: ClientConnection, packet: Packet): void;
  closed(connection: ClientConnection, cause: string): void;
  /** A packet larger than the maximum arrived (its length was announced). */
  tooLarge(connection: ClientConnection, bytes: number): void;
  protocolError(connection: ClientConnection, error: Error): void;
}

export interface ConnectionLimits {
  readonly receiveMaximum: number;
  readonly maxPacketBytes: number;
  readonly maxMessagesPerSecond: number;
}

const PUBACK = 0x40;
const PUBREC = 0x50;
const PUBCOMP = 0x70;
/** Under Node's pool size / 2, so that allocUnsafe takes it from the shared pool: 512 acknowledgements. */
const ACK_BUFFER_BYTES = 2048;

export class ClientConnection {
  state: ConnectionState = 'awaiting-connect';
  version: 4 | 5 = 4;
  clientId = '';
  identity: DeviceIdentity | undefined;
  session: Session | undefined;
  /** The will accepted with the CONNECT, until it is discarded or the connection ends (wills.ts). */
  will: Will | undefined;
  keepAliveSeconds = 0;
  readonly acks: AckQueue;
  readonly window: ReceiveWindow;
  readonly rate: RateLimit;
  /** QoS 2 ids PUBREC'd on this connection: they hold a place in the window until PUBREL. */
  readonly pubrelHeld = new Set<number>();
  /**
   * Checks of the allowed topics of this connection (publish.ts): a device publishes on one topic
   * again and again, a gateway account on one per device it serves. Bounded (TOPIC_CHECKS_KEPT).
   */
  readonly topicChecks = new Map<string, TopicCheck>();
  /** The settle function of this connection's tickets: one closure per connection, not per message. */
  settle: ((ticket: AckTicket, ok: boolean) => void) | undefined;
  /** Packets parsed while the CONNECT was being authenticated, handled once it is. */
  readonly pendingPackets: Packet[] = [];
  private readonly parser: ReturnType<typeof createParser>;
  private readonly framer: PacketFramer;
  private readonly holders = new Set<PauseHolder>();
  private keepAliveTimer: NodeJS.Timeout | undefined;
  /** Successful acknowledgements (4 bytes each) gathered for one write; see writeAck. */
  private ackBytes = Buffer.allocUnsafe(ACK_BUFFER_BYTES);
  private ackLength = 0;
  private flushScheduled = false;
  private readonly flushAcks = (): void => {
    this.flushScheduled = false;
    if (this.ackLength === 0 || this.socket.destroyed) return;
    this.socket.write(this.ackBytes.subarray(0, this.ackLength));
    // The written bytes belong to the socket now; the next acknowledgements go to a fresh buffer.
    this.ackBytes = Buffer.allocUnsafe(ACK_BUFFER_BYTES);
    this.ackLength = 0;
  };

  constructor(
    readonly socket: Socket,
    readonly serial: number,
    readonly limits: ConnectionLimits,
    private readonly events: ConnectionEvents,
    now: number,
    release: (connection: ClientConnection, ticket: AckTicket) => void,
  ) {
    this.acks = new AckQueue((ticket) => release(this, ticket));
    this.window = new ReceiveWindow(limits.receiveMaximum);
    this.rate = new RateLimit(limits.maxMessagesPerSecond, now);
    this.parser = createParser({ protocolVersion: 4 });
    this.framer = new PacketFramer(limits.maxPacketBytes);
    this.parser.on('packet', (packet: Packet) => this.onPacket(packet));
    this.parser.on('error', (error: Error) => this.events.protocolError(this, error));
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.socket.destroy());
    socket.on('close', () => this.onClose());
  }

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  // --- the one write path -------------------------------------------------------------------

  write(packet: Packet): void {
    if (this.state === 'closed' || this.socket.destroyed) return;
    this.send(generate(packet, { protocolVersion: this.version }));
  }

  /**
   * PUBACK, PUBREC or PUBCOMP. A successful one is four bytes (MQTT 5 may leave reason 0 out too),
   * gathered with the others released in the same turn and written once at setImmediate — not
   * nextTick: librdkafka's delivery reports reach JavaScript one callback at a time and Node runs
   * the nextTick queue after each (decision 0006: bursts of 11 instead of about 180).
   */
  writeAck(kind: 'puback' | 'pubrec' | 'pubcomp', messageId: number, code: number): void {
    if (this.state === 'closed' || this.socket.destroyed) return;
    if (code !== 0 && this.version === 5) {
      this.send(generate({ cmd: kind, messageId, reasonCode: code }, { protocolVersion: 5 }));
      return;
    }
    if (this.ackLength + 4 > ACK_BUFFER_BYTES) this.flushAcks();
    const bytes = this.ackBytes;
    const at = this.ackLength;
    bytes[at] = kind === 'puback' ? PUBACK : kind === 'pubrec' ? PUBREC : PUBCOMP;
    bytes[at + 1] = 2;
    bytes[at + 2] = messageId >> 8;
    bytes[at + 3] = messageId & 0xff;
    this.ackLength = at + 4;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushAcks);
    }
  }

  /** Any other packet: after the acknowledgements gathered before it, so that the order on the wire is the order of the calls. */
  private send(bytes: Buffer): void {
    this.flushAcks();
    this.socket.write(bytes);
  }

  /** Closes the connection; MQTT 5 clients are first told why (a DISCONNECT with `code`). */
  close(cause: string, code?: number): void {
    if (this.state === 'closed') return;
    if (code !== undefined && this.version === 5 && this.state === 'connected') {
      this.write({ cmd: 'disconnect', reasonCode: code });
      this.socket.end();
      // A device that does not close its side within a second is cut off.
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.flushAcks(); // released acknowledgements still leave; destroy() drops only what the kernel did not take
      this.socket.destroy();
    }
    this.finish(cause);
  }

  /** Sends a last packet (a refusing CONNACK), then closes once it is written. */
  endWith(packet: Packet, cause: string): void {
    if (this.state === 'closed') return;
    this.write(packet);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.finish(cause);
  }

  // --- reading and its holders ----------------------------------------------------------------

  pause(holder: PauseHolder): void {
    if (this.holders.has(holder)) return;
    this.holders.add(holder);
    if (this.holders.size === 1) {
      this.socket.pause();
      // A connection we do not read cannot show it is alive: its keep-alive waits with it.
      this.stopKeepAlive();
    }
  }

  resume(holder: PauseHolder): void {
    if (!this.holders.delete(holder) || this.holders.size > 0 || this.state === 'closed') return;
    this.socket.resume();
    this.startKeepAlive();
  }

  get paused(): boolean {
    return this.holders.size > 0;
  }

  setKeepAlive(seconds: number, onTimeout: () => void): void {
    this.keepAliveSeconds = seconds;
    this.onKeepAliveTimeout = onTimeout;
    this.startKeepAlive();
  }

  private onKeepAliveTimeout: () => void = () => undefined;

  private startKeepAlive(): void {
    this.stopKeepAlive();
    if (this.keepAliveSeconds === 0 || this.state === 'closed' || this.holders.size > 0) return;
    this.keepAliveTimer = setTimeout(() => this.onKeepAliveTimeout(), keepAliveTimeoutMs(this.keepAliveSeconds));
    this.keepAliveTimer.unref();
  }

  private stopKeepAlive(): void {
    if (this.keepAliveTimer !== undefined) clearTimeout(this.keepAliveTimer);
    this.keepAliveTimer = undefined;
  }

  private onData(chunk: Buffer): void {
    this.keepAliveTimer?.refresh();
    // Framing refuses a packet announced too long before buffering it (framing.ts).
    this.framer.push(chunk, this.frames);
  }

  /** What the framer hands over: decoded PUBLISHes, and whole other packets for mqtt-packet's parser. */
  private readonly frames: FrameSink = {
    isOpen: () => this.state !== 'closed',
    publishVersion: () => (this.state === 'connected' ? this.version : undefined),
    publish: (packet) => this.onPacket(packet),
    whole: (bytes) => this.parser.parse(bytes),
    tooLarge: (length) => this.events.tooLarge(this, length),
  };

  private onPacket(packet: Packet): void {
    if (this.state === 'closed') return;
    if (packet.length !== undefined && packet.length > this.limits.maxPacketBytes) {
      this.events.tooLarge(this, packet.length);
      return;
    }
    if (this.state === 'authenticating') {
      this.pendingPackets.push(packet);
      return;
    }
    this.events.packet(this, packet);
  }

  private onClose(): void {
    this.finish('socket-closed');
  }

  private finish(cause: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopKeepAlive();
    this.acks.clear();
    this.parser.removeAllListeners('packet');
    this.events.closed(this, cause);
  }
}
