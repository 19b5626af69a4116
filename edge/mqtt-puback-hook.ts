import type { MqttClient } from 'mqtt';

/**
 * Takes PUBACKs away from mqtt.js so that the bridge sends each one only after Kafka's delivery
 * report, without making mqtt.js wait for it.
 *
 * Why not the documented `customHandleAcks`: mqtt.js parses the next packet only after the
 * current one's PUBACK was written (`handlePublish` → ack callback → `_sendPacket(puback, done)`,
 * and `done` resumes the packet loop). Deferring the callback until Kafka answered therefore
 * processes one message per Kafka round trip: measured here at 49 messages/s with a 20 ms
 * deferral. Instead this hook intercepts the PUBACK at `_sendPacket` (mqtt.js 5.x, an internal
 * method), keeps it, and resumes the packet loop at once. `pause()` holds the loop instead —
 * that is the bridge's backpressure: mqtt.js stops reading the socket, TCP pushes back, and the
 * broker keeps the rest.
 *
 * Every PUBACK goes through `decide`; mqtt.js never writes one by itself (a PUBACK it queued
 * while offline would be replayed on the next connection and acknowledge a message nobody
 * processed). `send()` writes a kept PUBACK on the live connection.
 *
 * mqtt.js is pinned to the exact version this was verified against (package.json, no range), and
 * test/unit/edge-puback-hook.test.ts runs mqtt.js's real publish handler over TCP against it.
 * The hook knows which packet ids it holds: a release for any other id (released twice, or for a
 * connection that is gone, or a bookkeeping slip in the bridge) is not written — it would
 * acknowledge whichever message the broker has in flight under that id — and is counted instead.
 */
export interface PubackHook {
  /**
   * Writes a PUBACK kept earlier, in call order; the caller checks that its connection is still
   * the live one. Plain PUBACKs released in one turn of the event loop go out together after it.
   */
  send(puback: unknown): void;
  /** After the message being processed, parse no further packet until resume(). */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** Forgets held packet-loop continuations and held PUBACKs of a connection that is gone. */
  dropHeld(): void;
}

export interface PubackHookOptions {
  /** A release for a packet id the hook does not hold (not written); the bridge counts it. */
  readonly onUnmatched?: (messageId: number) => void;
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (error?: Error) => void, ...rest: unknown[]) => void;
interface ClientInternals {
  _sendPacket: SendPacket;
}

interface KeptPuback {
  readonly cmd: string;
  readonly messageId?: number;
  readonly reasonCode?: number;
  readonly properties?: unknown;
}

const noop = (): void => undefined;

/**
 * A plain PUBACK (success, no properties) is 4 bytes, the same in MQTT 3.1.1 and 5 (MQTT 5
 * §3.4.2.1: reason code 0 without properties may be omitted): 0x40, remaining length 2, packet id.
 * The bridge releases PUBACKs in bursts (one per wake-up of Kafka delivery reports); mqtt.js would
 * write each as three stream writes plus a cork and a nextTick, about as much CPU as parsing the
 * PUBLISH. Instead a burst goes out as one buffer in one write, in release order.
 */
const PUBACK_HEADER = 0x40;
const PUBACK_BYTES = 4;

/** `decide` receives every PUBACK mqtt.js wants to write; the hook never writes it itself. */
export function hookPubacks(client: MqttClient, decide: (puback: { cmd: string; messageId?: number }) => void, options: PubackHookOptions = {}): PubackHook {
  const internals = client as unknown as ClientInternals;
  const original = internals._sendPacket;
  if (typeof original !== 'function') {
    throw new Error('mqtt.js has no _sendPacket: this mqtt.js version is not supported by the PUBACK hook');
  }
  let held: Array<() => void> = [];
  let paused = false;
  /** Packet ids whose PUBACK mqtt.js handed over and nobody released yet (a broker reuses an id only after its PUBACK). */
  const holding = new Set<number>();
  const unmatched = options.onUnmatched ?? noop;
  /** Packet ids of plain PUBACKs released in this turn of the event loop, written together on the stream they were released on. */
  let burst: number[] = [];
  let burstStream: MqttClient['stream'] | undefined;

  const writeBurst = (): void => {
    const ids = burst;
    const stream = burstStream;
    burst = [];
    burstStream = undefined;
    // Released for a connection that is gone by now: the broker redelivers those messages.
    if (ids.length === 0 || stream === undefined || stream !== client.stream || !client.connected || stream.destroyed) return;
    const bytes = Buffer.allocUnsafe(ids.length * PUBACK_BYTES);
    for (let i = 0, at = 0; i < ids.length; i++, at += PUBACK_BYTES) {
      const id = ids[i]!;
      bytes[at] = PUBACK_HEADER;
      bytes[at + 1] = 2;
      bytes[at + 2] = id >> 8;
      bytes[at + 3] = id & 0xff;
    }
    stream.write(bytes);
  };

  internals._sendPacket = function interceptPuback(this: MqttClient, packet, cb, ...rest) {
    if (packet.cmd !== 'puback') {
      original.call(this, packet, cb, ...rest);
      return;
    }
    if (typeof packet.messageId === 'number') holding.add(packet.messageId);
    decide(packet);
    const resumeLoop = cb ?? noop;
    if (paused) held.push(() => resumeLoop());
    else resumeLoop();
  };

  return {
    send(puback) {
      const packet = puback as KeptPuback;
      if (typeof packet.messageId !== 'number' || !holding.delete(packet.messageId)) {
        unmatched(packet.messageId ?? -1);
        return;
      }
      const plain = packet.cmd === 'puback' && typeof packet.messageId === 'number' && (packet.reasonCode ?? 0) === 0 && packet.properties === undefined;
      if (plain) {
        if (burst.length === 0) {
          burstStream = client.stream;
          // Not nextTick: librdkafka's delivery reports reach JavaScript one callback at a time
          // (up to 100 per wake-up), and Node runs the nextTick queue after each, which gave
          // bursts of 11 PUBACKs. setImmediate runs after the whole wake-up: about 180.
          setImmediate(writeBurst);
        }
        burst.push(packet.messageId!);
        return;
      }
      writeBurst(); // keep the receipt order
      original.call(client, packet as { cmd: string });
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      const waiting = held;
      held = [];
      for (const resumeLoop of waiting) resumeLoop();
    },
    get paused() {
      return paused;
    },
    dropHeld() {
      held = [];
      holding.clear();
    },
  };
}
