import type { MqttClient } from 'mqtt';
import type { PhaseCpu } from './cpu.ts';

/**
 * The publisher every phase of bench:edge shares: the same messages (single readings or batches),
 * QoS 1, over several connections (a device's messages always on the same one), each with a
 * window of unacknowledged publishes. One connection's window over Kafka's round trip would cap
 * direct mode at window / round trip: a fleet is many connections.
 */
export type Messages = ReadonlyArray<{ readonly topic: string; readonly payload: string }>;

export const DEVICES = 1000;
export const BATCH_SIZE = 50;

export function singleReadings(topicPrefix: string, tag: string, count: number): Messages {
  const ts = Date.now();
  return Array.from({ length: count }, (_, i) => ({
    topic: `${topicPrefix}/dev-${i % DEVICES}`,
    payload: `{"id":"${tag}-${i}","ts":${ts},"metrics":{"temperature":${(20 + (i % 100) / 10).toFixed(1)},"humidity":40}}`,
  }));
}

export function batchedReadings(topicPrefix: string, tag: string, count: number): Messages {
  const ts = Date.now();
  return Array.from({ length: count }, (_, i) => {
    const readings = Array.from({ length: BATCH_SIZE }, (_, j) => `{"id":"${tag}-${i}-${j}","ts":${ts + j},"metrics":{"temperature":${20 + j / 10},"humidity":40}}`);
    return { topic: `${topicPrefix}/dev-${i % DEVICES}`, payload: `{"readings":[${readings.join(',')}]}` };
  });
}

/** Which connection of `connections` carries message `index` (by its device). */
export const connectionOf = (index: number, connections: number): number => (index % DEVICES) % connections;

/**
 * One publisher of the phases: `prepare` does, before the phase's clock starts, whatever does not
 * depend on the path (splitting by connection, encoding), and returns the timed part, which
 * resolves when every message got its PUBACK and rejects on the first refusal.
 */
export interface Publisher {
  prepare(messages: Messages, window: number): () => Promise<void>;
  close(): Promise<void>;
}

/** The publisher on mqtt.js clients: the method before decision 0006's addendum (`--publisher mqtt.js`), and tls-cost.ts's (TLS). */
export class MqttJsPublisher implements Publisher {
  constructor(private readonly clients: readonly MqttClient[]) {}
  prepare(messages: Messages, window: number): () => Promise<void> {
    const shares = this.clients.map((_, index) => messages.filter((_, i) => connectionOf(i, this.clients.length) === index));
    return () => Promise.all(this.clients.map((client, index) => publishOn(client, shares[index]!, window))).then(() => undefined);
  }
  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((client) => client.endAsync()));
  }
}

function publishOn(client: MqttClient, mine: Messages, window: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let next = 0;
    let done = 0;
    const one = (): void => {
      const message = mine[next++]!;
      client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
        if (error) return reject(error);
        if (++done === mine.length) return resolve();
        if (next < mine.length) one();
      });
    };
    if (mine.length === 0) resolve();
    for (let i = 0; i < Math.min(window, mine.length); i++) one();
  });
}

/** One measured phase: readings carried end to end, and the CPU each party spent on them (cpuMicros: the path's own processes). */
export interface Phase extends PhaseCpu {
  readonly readings: number;
  readonly seconds: number;
  readonly perSecond: number;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
