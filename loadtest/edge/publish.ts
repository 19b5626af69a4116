import type { MqttClient } from 'mqtt';

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

/** Resolves when every message got its PUBACK; rejects on the first publish error. */
export function publish(clients: readonly MqttClient[], messages: Messages, window: number): Promise<void> {
  return Promise.all(
    clients.map(
      (client, index) =>
        new Promise<void>((resolve, reject) => {
          const mine = messages.filter((_, i) => (i % DEVICES) % clients.length === index);
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
        }),
    ),
  ).then(() => undefined);
}

/** One measured phase: readings carried end to end, and the CPU the path's own processes spent on them. */
export interface Phase {
  readonly readings: number;
  readonly seconds: number;
  readonly perSecond: number;
  /** CPU time of the path's processes (µs per reading, all threads); the publisher and Kafka excluded. */
  readonly cpuMicros: number;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
