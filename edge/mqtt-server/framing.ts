import type { IPublishPacket } from 'mqtt-packet';

/**
 * Splits a connection's bytes into MQTT packets, and decodes the packet devices send all day — a
 * PUBLISH without MQTT 5 properties — itself. mqtt-packet's parser gathers every packet in a
 * BufferList, copies its parts out and reads them through several calls per field: 30 % of the
 * bridge's main thread per message in bench:edge's direct phase, more than the whole validation.
 * Every other packet, and any PUBLISH this does not decode, is handed to mqtt-packet whole, so
 * that mqtt-packet's parser only ever sees complete packets and decides everything it decides
 * today (errors included). test/unit/edge-mqtt-framing.test.ts holds the packets equal to
 * mqtt-packet's on generated streams cut at every place.
 *
 * Bounded: bytes are kept only for a packet still arriving, and only once its announced length
 * is known to be within the maximum (at most 5 bytes of a fixed header before that).
 */
export interface FrameSink {
  /** False once the connection closed: the rest of the bytes is dropped. */
  isOpen(): boolean;
  /** The protocol version PUBLISHes are decoded with here; undefined until the CONNECT was accepted (every packet goes to `whole`). */
  publishVersion(): 4 | 5 | undefined;
  /** A PUBLISH decoded here. */
  publish(packet: IPublishPacket): void;
  /** A complete packet (or, once, a malformed rest of the stream) for mqtt-packet's parser. */
  whole(bytes: Buffer): void;
  /** A packet announced longer than the maximum (its remaining length), before its body is read. */
  tooLarge(length: number): void;
}

const PUBLISH = 3;
/** A fixed header is 1 byte of type and flags and 1 to 4 bytes of remaining length. */
const MAX_HEADER_BYTES = 5;

export class PacketFramer {
  /** Bytes of a packet still arriving, in the chunks they came in (joined once the packet is complete). */
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** Length of the packet that `held` starts, once its header was read; 0 while unknown. */
  private needed = 0;

  constructor(private readonly maxPacketBytes: number) {}

  push(chunk: Buffer, sink: FrameSink): void {
    let data = chunk;
    if (this.heldBytes > 0) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.needed > 0 && this.heldBytes < this.needed) return;
      data = Buffer.concat(this.held, this.heldBytes);
      this.held = [];
      this.heldBytes = 0;
      this.needed = 0;
    }
    let at = 0;
    while (at < data.length && sink.isOpen()) {
      const header = remainingLength(data, at + 1);
      if (header === MALFORMED) {
        sink.whole(at === 0 ? data : data.subarray(at));
        return;
      }
      if (header === INCOMPLETE) break;
      const length = header >>> 3;
      if (length > this.maxPacketBytes) {
        sink.tooLarge(length);
        return;
      }
      const body = at + 1 + (header & 7);
      const end = body + length;
      if (end > data.length) {
        this.needed = end - at;
        break;
      }
      const first = data[at]!;
      const version = sink.publishVersion();
      const packet = first >> 4 === PUBLISH && version !== undefined ? decodePublish(data, first, body, length, version) : undefined;
      if (packet !== undefined) sink.publish(packet);
      else sink.whole(data.subarray(at, end));
      at = end;
    }
    if (at < data.length && sink.isOpen()) {
      this.held.push(at === 0 ? data : data.subarray(at));
      this.heldBytes = data.length - at;
    }
  }
}

const INCOMPLETE = -1;
const MALFORMED = -2;

/**
 * The remaining length starting at `from`, packed as (length << 3 | bytes it took), or INCOMPLETE,
 * or MALFORMED (a fifth byte announced). Lengths fit in 28 bits, so the packed value in 31.
 */
function remainingLength(data: Buffer, from: number): number {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < MAX_HEADER_BYTES - 1; i++) {
    if (from + i >= data.length) return INCOMPLETE;
    const byte = data[from + i]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return (value << 3) | (i + 1);
    multiplier *= 0x80;
  }
  return MALFORMED;
}

/**
 * A PUBLISH as mqtt-packet would give it, or undefined for mqtt-packet to decide: QoS 3, a topic
 * or packet id past the packet's end, or MQTT 5 properties (topic alias, user properties, …).
 */
function decodePublish(data: Buffer, first: number, body: number, length: number, version: 4 | 5): IPublishPacket | undefined {
  const qos = (first >> 1) & 3;
  if (qos === 3 || length < 2) return undefined;
  const end = body + length;
  const topicEnd = body + 2 + ((data[body]! << 8) | data[body + 1]!);
  let at = topicEnd;
  let messageId = 0;
  if (qos > 0) {
    if (at + 2 > end) return undefined;
    messageId = (data[at]! << 8) | data[at + 1]!;
    at += 2;
  }
  if (version === 5) {
    if (at >= end || data[at] !== 0) return undefined;
    at++;
  }
  if (at > end) return undefined;
  const topic = data.toString('utf8', body + 2, topicEnd);
  const payload = data.subarray(at, end);
  const retain = (first & 1) !== 0;
  const dup = (first & 8) !== 0;
  // The fields and their order of mqtt-packet's Packet, so that both kinds look alike to the handlers.
  if (qos === 0) return { cmd: 'publish', retain, qos, dup, length, topic, payload };
  return { cmd: 'publish', retain, qos: qos as 1 | 2, dup, length, topic, payload, messageId };
}
