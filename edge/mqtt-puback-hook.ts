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
 */
export interface PubackHook {
  /** Writes a PUBACK kept earlier; the caller checks that its connection is still the live one. */
  send(puback: unknown): void;
  /** After the message being processed, parse no further packet until resume(). */
  pause(): void;
  resume(): void;
  readonly paused: boolean;
  /** Forgets held packet-loop continuations of a connection that is gone. */
  dropHeld(): void;
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (error?: Error) => void, ...rest: unknown[]) => void;
interface ClientInternals {
  _sendPacket: SendPacket;
}

const noop = (): void => undefined;

/** `decide` receives every PUBACK mqtt.js wants to write; the hook never writes it itself. */
export function hookPubacks(client: MqttClient, decide: (puback: { cmd: string; messageId?: number }) => void): PubackHook {
  const internals = client as unknown as ClientInternals;
  const original = internals._sendPacket;
  if (typeof original !== 'function') {
    throw new Error('mqtt.js has no _sendPacket: this mqtt.js version is not supported by the PUBACK hook');
  }
  let held: Array<() => void> = [];
  let paused = false;

  internals._sendPacket = function interceptPuback(this: MqttClient, packet, cb, ...rest) {
    if (packet.cmd !== 'puback') {
      original.call(this, packet, cb, ...rest);
      return;
    }
    decide(packet);
    const resumeLoop = cb ?? noop;
    if (paused) held.push(() => resumeLoop());
    else resumeLoop();
  };

  return {
    send(puback) {
      original.call(client, puback as { cmd: string }, noop);
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
    },
  };
}
