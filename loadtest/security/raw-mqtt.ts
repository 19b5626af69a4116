import type { Socket } from 'node:net';
import { generate, parser as createParser, type IConnackPacket, type IPublishPacket, type ISubackPacket, type Packet } from 'mqtt-packet';
import { closedWithin, openConnection, type ClientTls } from './transport.ts';

/**
 * A bare MQTT client over one TCP connection (mqtt-packet, as the bridge's server): it sends
 * exactly the bytes a check asks for, and shows exactly what came back — reason codes included,
 * which mqtt.js turns into errors without them — and when the server closed the connection.
 */
export class RawMqtt {
  private readonly received: Packet[] = [];
  private readonly waiters = new Set<() => void>();
  private closedAt: number | undefined;
  readonly opened = Date.now();
  /** Resolves with the milliseconds from open to the server's close (or a reset). */
  readonly closed: Promise<number>;

  private constructor(
    private readonly socket: Socket,
    readonly version: 4 | 5,
  ) {
    const parser = createParser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => {
      this.received.push(packet);
      this.wake();
    });
    parser.on('error', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => undefined); // a reset is one way of being closed; 'close' follows
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        this.wake();
        resolve(this.closedAt - this.opened);
      }),
    );
  }

  /** A connection of MQTT `version`, over TLS when `tls` is given (the handshake completed before it resolves). */
  static async open(host: string, port: number, version: 4 | 5, tls: ClientTls | undefined): Promise<RawMqtt> {
    return new RawMqtt(await openConnection(host, port, tls), version);
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  get packets(): readonly Packet[] {
    return this.received;
  }

  send(packet: Packet): void {
    if (!this.socket.destroyed) this.socket.write(generate(packet, { protocolVersion: this.version }));
  }

  /** Several packets in one write: the server reads them as one burst. */
  sendAll(packets: readonly Packet[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(packets.map((packet) => generate(packet, { protocolVersion: this.version }))));
  }

  sendBytes(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  encode(packet: Packet): Buffer {
    return generate(packet, { protocolVersion: this.version });
  }

  /** The first received packet matching `match`, or undefined once the connection closed or `timeoutMs` passed. */
  async next<P extends Packet>(match: (packet: Packet) => packet is P, timeoutMs: number): Promise<P | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(match);
      if (found !== undefined) return found;
      if (this.isClosed || Date.now() >= deadline) return undefined;
      await this.nextPacketOr(deadline);
    }
  }

  /** Resolves on the next packet this client receives, or at `deadline`. */
  private nextPacketOr(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.max(1, deadline - Date.now()));
      const waiters = this.waiters;
      function done(): void {
        clearTimeout(timer);
        waiters.delete(done);
        resolve();
      }
      waiters.add(done);
    });
  }

  /** Resolves once `condition` holds (checked on every packet this client receives), false after `timeoutMs`. */
  async until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (this.isClosed || Date.now() >= deadline) return condition();
      await this.nextPacketOr(deadline);
    }
    return true;
  }

  /** CONNECT; resolves with the CONNACK's code (MQTT 5 reason code, 3.1.1 return code), or undefined when none came. */
  async connect(options: { clientId: string; username?: string; password?: string; keepalive?: number }, timeoutMs = 10_000): Promise<number | undefined> {
    this.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: this.version,
      clean: true,
      clientId: options.clientId,
      keepalive: options.keepalive ?? 60,
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: Buffer.from(options.password) }),
    });
    const connack = await this.next((packet): packet is IConnackPacket => packet.cmd === 'connack', timeoutMs);
    if (connack === undefined) return undefined;
    return this.version === 5 ? (connack.reasonCode ?? 0) : (connack.returnCode ?? 0);
  }

  /** PUBLISH at QoS 1; resolves with the PUBACK's reason code (0 when absent), or undefined when none came. */
  async publish(topic: string, payload: string, messageId: number, timeoutMs = 15_000): Promise<number | undefined> {
    this.send(publishPacket(topic, payload, messageId));
    return this.pubackCode(messageId, timeoutMs);
  }

  async pubackCode(messageId: number, timeoutMs: number): Promise<number | undefined> {
    const puback = await this.next((packet): packet is Packet & { cmd: 'puback'; messageId: number; reasonCode?: number } => packet.cmd === 'puback' && packet.messageId === messageId, timeoutMs);
    return puback === undefined ? undefined : (puback.reasonCode ?? 0);
  }

  /** SUBSCRIBE; resolves with the SUBACK's code per filter, or undefined when none came. */
  async subscribe(filters: readonly string[], messageId: number, timeoutMs = 10_000): Promise<number[] | undefined> {
    this.send({ cmd: 'subscribe', messageId, subscriptions: filters.map((topic) => ({ topic, qos: 1 as const })) });
    const suback = await this.next((packet): packet is ISubackPacket => packet.cmd === 'suback' && packet.messageId === messageId, timeoutMs);
    return suback === undefined ? undefined : [...suback.granted].map((code) => (typeof code === 'number' ? code : (code as { qos: number }).qos));
  }

  /** Messages delivered to this client (PUBLISH packets from the server). */
  deliveries(): IPublishPacket[] {
    return this.received.filter((packet): packet is IPublishPacket => packet.cmd === 'publish');
  }

  /** The reason code of the server's DISCONNECT, if it sent one. */
  disconnectCode(): number | undefined {
    const packet = this.received.find((candidate) => candidate.cmd === 'disconnect') as { reasonCode?: number } | undefined;
    return packet === undefined ? undefined : (packet.reasonCode ?? 0);
  }

  /** Waits for the server to close the connection, at most `timeoutMs`; the milliseconds from open, or undefined when still open. */
  closedWithin(timeoutMs: number): Promise<number | undefined> {
    return closedWithin(this.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const waiter of [...this.waiters]) {
      this.waiters.delete(waiter);
      waiter();
    }
  }
}

export function publishPacket(topic: string, payload: string, messageId: number, qos: 0 | 1 = 1): Packet {
  return qos === 0 ? { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, dup: false, retain: false } : { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, messageId, dup: false, retain: false };
}

/** MQTT reason codes as the bridge's table documents them (edge/README.md, direct mode). */
export const CODE = {
  success: 0x00,
  v4BadCredentials: 4,
  v4SubscribeFailure: 0x80,
  notAuthorized: 0x87,
  badUsernameOrPassword: 0x86,
  keepAliveTimeout: 0x8d,
  quotaExceeded: 0x97,
  sharedSubscriptionsNotSupported: 0x9e,
} as const;

export const hex = (code: number | undefined): string => (code === undefined ? 'nothing' : `0x${code.toString(16).padStart(2, '0')}`);
