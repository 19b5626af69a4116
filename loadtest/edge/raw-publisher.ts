import type { Socket } from 'node:net';
import { generate, parser as createParser, type IConnackPacket, type Packet } from 'mqtt-packet';
import { PacketFramer, type FrameSink } from '../../edge/mqtt-server/framing.ts';
import { openConnection, type ClientTls } from '../security/transport.ts';
import { connectionOf, type Messages, type Publisher } from './publish.ts';

/**
 * bench:edge's publisher (decision 0006, addendum): MQTT 5 over bare sockets, each phase's PUBLISH
 * packets encoded before its clock starts, into one buffer per connection. While a phase runs, the
 * publisher only reads PUBACKs and writes the next slice of that buffer, once per chunk received
 * (so a server that acknowledges in bursts gets bursts back, one that acknowledges each message
 * gets small writes: the same rule for every path). It spends 0.4–0.7 µs per message against the
 * bridge and 4–9 µs against Mosquitto, whose PUBACKs come a few at a time; the mqtt.js publisher
 * spent 12–17 µs on every path, as much as the bridge and Kafka together, and so pulled both
 * paths' rates toward the same figure. Packets are framed by the bridge's own framer
 * (edge/mqtt-server/framing.ts); a PUBACK with a one-byte length is read in place, anything
 * else (CONNACK, PINGRESP, DISCONNECT, a PUBACK with properties) by mqtt-packet's parser.
 */
export interface RawTarget {
  readonly host: string;
  readonly port: number;
  /** TLS trusting this CA; plaintext when absent. */
  readonly tls?: ClientTls;
  readonly username: string;
  readonly password: string;
  /** Connection i is `<clientId>-<i>`. */
  readonly clientId: string;
}

/** Refused or cut by the server during a phase; the message names the connection and what happened. */
export class PublisherError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PublisherError';
  }
}

const PUBACK = 4;
const MAX_MESSAGE_ID = 65535;
/** Larger than any packet a server sends a publisher. */
const MAX_PACKET_BYTES = 1 << 20;
/** Keeps a connection that is idle between its phases alive (CONNECT's keep-alive is 60 s). */
const PING_EVERY_MS = 20_000;

export class RawPublisher implements Publisher {
  private constructor(private readonly links: readonly Link[]) {}

  static async open(target: RawTarget, connections: number): Promise<RawPublisher> {
    const links = await Promise.all(
      Array.from({ length: connections }, async (_, index) => {
        const link = new Link(await openConnection(target.host, target.port, target.tls), `${target.clientId}-${index}`);
        await link.connect(target.username, target.password);
        return link;
      }),
    );
    return new RawPublisher(links);
  }

  prepare(messages: Messages, window: number): () => Promise<void> {
    const shares: Array<Array<{ topic: string; payload: string }>> = this.links.map(() => []);
    messages.forEach((message, index) => shares[connectionOf(index, this.links.length)]!.push(message));
    const jobs = this.links.map((_, index) => encode(shares[index]!));
    return () => Promise.all(this.links.map((link, index) => link.run(jobs[index]!, window))).then(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.links.map((link) => link.close()));
  }
}

/** A connection's share of a phase: its PUBLISH packets back to back, and where each starts (n + 1 offsets). */
interface Encoded {
  readonly stream: Buffer;
  readonly offsets: Uint32Array;
}

/** Message ids cycle through 1…65535: a window never exceeds the server's receive maximum (≤ 65535), so no id is reused while in flight. */
function encode(share: ReadonlyArray<{ topic: string; payload: string }>): Encoded {
  const packets = share.map((message, index) =>
    generate({ cmd: 'publish', topic: message.topic, payload: Buffer.from(message.payload), qos: 1, messageId: (index % MAX_MESSAGE_ID) + 1, dup: false, retain: false }, { protocolVersion: 5 }),
  );
  const offsets = new Uint32Array(packets.length + 1);
  packets.forEach((packet, index) => (offsets[index + 1] = offsets[index]! + packet.length));
  return { stream: Buffer.concat(packets, offsets[packets.length]), offsets };
}

/** A phase running on one connection. */
interface Running {
  readonly encoded: Encoded;
  readonly window: number;
  readonly inFlight: Uint8Array;
  sent: number;
  acked: number;
  resolve(): void;
  reject(error: Error): void;
}

class Link implements FrameSink {
  private readonly framer = new PacketFramer(MAX_PACKET_BYTES);
  private readonly parser = createParser({ protocolVersion: 5 });
  private readonly ping: NodeJS.Timeout;
  private receiveMaximum = MAX_MESSAGE_ID;
  private running: Running | undefined;
  private connack: ((packet: IConnackPacket) => void) | undefined;
  /** Rejects the CONNECT under way when the connection fails first. */
  private connecting: ((error: Error) => void) | undefined;
  private failure: Error | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly clientId: string,
  ) {
    socket.setNoDelay(true);
    this.parser.on('packet', (packet: Packet) => this.packet(packet));
    this.parser.on('error', (error: Error) => this.fail(new PublisherError(`${clientId}: malformed packet from the server`, { cause: error })));
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk, this);
      this.writeNext();
    });
    socket.on('error', (error: Error) => this.fail(new PublisherError(`${clientId}: connection failed`, { cause: error })));
    socket.on('close', () => this.fail(new PublisherError(`${clientId}: the server closed the connection`)));
    this.ping = setInterval(() => this.write(generate({ cmd: 'pingreq' })), PING_EVERY_MS).unref();
  }

  connect(username: string, password: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.connack = (packet) => {
        this.connack = undefined;
        this.connecting = undefined;
        if ((packet.reasonCode ?? 0) !== 0) return reject(new PublisherError(`${this.clientId}: CONNACK reason code ${packet.reasonCode}`));
        this.receiveMaximum = packet.properties?.receiveMaximum ?? MAX_MESSAGE_ID;
        resolve();
      };
      this.connecting = reject;
      this.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: this.clientId, keepalive: 60, username, password: Buffer.from(password) }, { protocolVersion: 5 }));
    });
  }

  /** Sends every packet of `encoded`, at most `window` (and the server's receive maximum) unacknowledged. */
  run(encoded: Encoded, window: number): Promise<void> {
    const count = encoded.offsets.length - 1;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (count === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.running = { encoded, window: Math.min(window, this.receiveMaximum), inFlight: new Uint8Array(MAX_MESSAGE_ID + 1), sent: 0, acked: 0, resolve, reject };
      this.writeNext();
    });
  }

  async close(): Promise<void> {
    clearInterval(this.ping);
    if (this.socket.destroyed) return;
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    this.failure = new PublisherError(`${this.clientId}: closed by the benchmark`);
    this.socket.end(generate({ cmd: 'disconnect' }, { protocolVersion: 5 }));
    await closed;
  }

  isOpen(): boolean {
    return !this.socket.destroyed;
  }
  /** Undefined: every packet reaches `whole` (a publisher receives no PUBLISH). */
  publishVersion(): undefined {
    return undefined;
  }
  publish(): void {
    this.fail(new PublisherError(`${this.clientId}: unexpected PUBLISH from the server`));
  }
  tooLarge(length: number): void {
    this.fail(new PublisherError(`${this.clientId}: the server announced a packet of ${length} bytes`));
  }
  whole(bytes: Buffer): void {
    // The common case, read in place: PUBACK, remaining length 2 (success) or 3 (a reason code).
    if (bytes[0]! >> 4 === PUBACK && bytes.length >= 4 && bytes[1]! < 0x80) this.acked((bytes[2]! << 8) | bytes[3]!, bytes[1]! >= 3 ? bytes[4]! : 0);
    else this.parser.parse(bytes);
  }

  private packet(packet: Packet): void {
    if (packet.cmd === 'connack' && this.connack !== undefined) this.connack(packet);
    else if (packet.cmd === 'puback') this.acked(packet.messageId ?? 0, packet.reasonCode ?? 0);
    else if (packet.cmd === 'disconnect') this.fail(new PublisherError(`${this.clientId}: DISCONNECT reason code ${packet.reasonCode ?? 0}`));
    else if (packet.cmd !== 'pingresp') this.fail(new PublisherError(`${this.clientId}: unexpected ${packet.cmd} from the server`));
  }

  private acked(messageId: number, reasonCode: number): void {
    const running = this.running;
    if (running === undefined || running.inFlight[messageId] !== 1) return this.fail(new PublisherError(`${this.clientId}: PUBACK for message id ${messageId}, which is not in flight`));
    // 0x10 (no matching subscribers) is a success; 0x80 and above refuse the message.
    if (reasonCode >= 0x80) return this.fail(new PublisherError(`${this.clientId}: PUBACK reason code 0x${reasonCode.toString(16)} for message id ${messageId}`));
    running.inFlight[messageId] = 0;
    if (++running.acked === running.encoded.offsets.length - 1) {
      this.running = undefined;
      running.resolve();
    }
  }

  /** Writes, in one write, every packet the window has room for: called once per chunk read, so after a burst of PUBACKs. */
  private writeNext(): void {
    const running = this.running;
    if (running === undefined) return;
    const count = running.encoded.offsets.length - 1;
    const until = Math.min(count, running.acked + running.window);
    if (until <= running.sent) return;
    for (let index = running.sent; index < until; index++) running.inFlight[(index % MAX_MESSAGE_ID) + 1] = 1;
    this.write(running.encoded.stream.subarray(running.encoded.offsets[running.sent]!, running.encoded.offsets[until]!));
    running.sent = until;
  }

  private write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    clearInterval(this.ping);
    this.socket.destroy();
    const running = this.running;
    this.running = undefined;
    running?.reject(error);
    this.connecting?.(error);
    this.connecting = undefined;
  }
}
