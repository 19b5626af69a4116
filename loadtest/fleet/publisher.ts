import mqtt from 'mqtt';
import * as hdr from 'hdr-histogram-js';
import { formatter, type PayloadFormat } from './formats.ts';
import { FleetModel, type FleetMessage, type FleetSpec } from './model.ts';

/**
 * Drives a FleetModel over real MQTT connections (QoS 1) for a fixed duration, at the model's rate,
 * and keeps what the broker acknowledged: the ids of every reading whose PUBACK arrived (the audit's
 * "expected" set) and the publish → PUBACK latency.
 *
 * A PUBACK with reason code 0x10 "No matching subscribers" is not an acknowledgement: the broker
 * took the message and dropped it, because no bridge was subscribed (Mosquitto 2.0.11 forgets the
 * bridges' `$share` subscriptions on a restart until they subscribe again, see edge/mqtt-intake.ts).
 * mqtt.js resolves such a publish as a success, and so do the device clients in the field (they do
 * not publish again: the failure table's mqtt-broker-restart row says 'lost' for broker mode). By
 * default the fleet reads the reason code itself and publishes the message again after a pause,
 * which isolates the other faults of a chaos run; `republishUnrouted: false` plays real devices.
 */
export interface PublisherOptions {
  /** Where the devices connect; with several (direct mode: one per bridge), connection i goes to url i mod n. */
  readonly url: string | readonly string[];
  readonly username: string;
  readonly password: string;
  readonly connections: number;
  readonly durationMs: number;
  /** Publishing goes on past durationMs until this settles: a chaos run's devices keep sending through its last fault. */
  readonly until?: Promise<unknown>;
  /** Slice of the rate loop. */
  readonly tickMs?: number;
  /** Unacknowledged messages per connection before the publisher waits (backpressure). */
  readonly maxInFlightPerConnection?: number;
  readonly clientIdPrefix?: string;
  readonly log?: (line: string) => void;
  /**
   * Publish again a message the broker answered with "no matching subscribers" (default true). False
   * plays devices that take any PUBACK as delivery: their refused readings are counted acknowledged.
   */
  readonly republishUnrouted?: boolean;
  /** The devices' payload format (default JSON); the tenant names the Sparkplug group. */
  readonly payload?: PayloadFormat;
  /** Prefix of the device names (a side fleet beside another of the same tenant, see mixed.ts). */
  readonly devicePrefix?: string;
  /** The CA that signed the server's certificate, for mqtts:// URLs (the local stack's: src/stack/tls-client.ts). */
  readonly ca?: Buffer;
}

export interface FleetResult {
  readonly published: number;
  readonly acked: number;
  readonly failed: number;
  readonly messages: number;
  readonly seconds: number;
  /** device → acknowledged sequence numbers (as strings, the reading ids the bridge derives). */
  readonly ackedIds: Map<string, string[]>;
  readonly ackLatencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Readings acknowledged per second, per second of the run. */
  readonly ackedPerSecond: number[];
  /** PUBACKs with reason code 0x10 (no matching subscribers): messages dropped by the broker and published again. */
  readonly noSubscriberPubacks: number;
}

/** MQTT 5 PUBACK reason code: the broker accepted the message but delivered it to nobody. */
export const NO_MATCHING_SUBSCRIBERS = 0x10;
const NO_SUBSCRIBER_RETRY_MS = 250;
/** A message still refused this long after its first attempt counts as failed. */
const NO_SUBSCRIBER_GIVE_UP_MS = 120_000;

export async function runFleet(spec: FleetSpec, options: PublisherOptions): Promise<FleetResult> {
  const model = new FleetModel(spec);
  const format = formatter(options.payload ?? 'json', spec.tenant, options.devicePrefix);
  const tickMs = options.tickMs ?? 50;
  const maxInFlight = options.maxInFlightPerConnection ?? 500;
  const clients = await Promise.all(
    Array.from({ length: options.connections }, (_, index) =>
      connect(options, `${options.clientIdPrefix ?? 'fleet'}-${process.pid}-${index}`, index),
    ),
  );
  const refusals = clients.map(watchNoSubscriberPubacks);
  let noSubscriberPubacks = 0;
  const inFlight = new Array<number>(clients.length).fill(0);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000, numberOfSignificantValueDigits: 3 });
  const ackedIds = new Map<string, string[]>();
  const ackedPerSecond: number[] = [];
  let published = 0;
  let acked = 0;
  let failed = 0;
  let messages = 0;
  const started = Date.now();
  const pending = new Set<Promise<void>>();

  const send = async (message: FleetMessage, clientIndex: number): Promise<void> => {
    const client = clients[clientIndex]!;
    inFlight[clientIndex]!++;
    const sentAt = performance.now();
    try {
      for (;;) {
        await client.publishAsync(message.topic, typeof message.payload === 'string' ? message.payload : Buffer.from(message.payload), { qos: 1 });
        if (!refusals[clientIndex]!.take(message.topic, message.payload)) break;
        noSubscriberPubacks++;
        if (options.republishUnrouted === false) break;
        if (performance.now() - sentAt > NO_SUBSCRIBER_GIVE_UP_MS) throw new Error(`still no subscriber after ${NO_SUBSCRIBER_GIVE_UP_MS} ms`);
        await sleep(NO_SUBSCRIBER_RETRY_MS);
      }
      histogram.recordValue(Math.max(1, Math.round(performance.now() - sentAt)));
      acked += message.ids.length;
      const second = Math.floor((Date.now() - started) / 1000);
      ackedPerSecond[second] = (ackedPerSecond[second] ?? 0) + message.ids.length;
      const list = ackedIds.get(message.device);
      if (list) list.push(...message.ids);
      else ackedIds.set(message.device, [...message.ids]);
    } catch (error) {
      failed += message.ids.length;
      options.log?.(`publish to ${message.topic} failed: ${(error as Error).message}`);
    } finally {
      inFlight[clientIndex]!--;
    }
  };

  const dispatch = async (batch: FleetMessage[]): Promise<void> => {
    for (const message of batch.flatMap(format)) {
      // Devices stick to a connection, as a device sticks to its gateway.
      const clientIndex = hashIndex(message.device, clients.length);
      while (inFlight[clientIndex]! >= maxInFlight) await sleep(2);
      published += message.ids.length;
      messages++;
      const promise = send(message, clientIndex);
      pending.add(promise);
      void promise.finally(() => pending.delete(promise));
    }
  };

  let holding = options.until !== undefined;
  const release = (): void => void (holding = false);
  options.until?.then(release, release);
  let next = started;
  while (Date.now() - started < options.durationMs || holding) {
    next += tickMs;
    await dispatch(model.step(Date.now(), tickMs));
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
  }
  await dispatch(model.drainAll());
  await Promise.all(pending);
  const seconds = (Date.now() - started) / 1000;
  await Promise.all(clients.map((client) => client.endAsync()));
  return {
    published,
    acked,
    failed,
    messages,
    seconds,
    ackedIds,
    ackLatencyMs: {
      p50: histogram.getValueAtPercentile(50),
      p95: histogram.getValueAtPercentile(95),
      p99: histogram.getValueAtPercentile(99),
      max: histogram.maxValue,
    },
    ackedPerSecond: Array.from(ackedPerSecond, (value) => value ?? 0),
    noSubscriberPubacks,
  };
}

/**
 * mqtt.js hands a publish's callback no PUBACK reason code, so this watches the packets: the last
 * PUBLISH sent under each packet id (a resend after a reconnect included), and the PUBACKs that
 * say "no matching subscribers". `take` tells (once) whether that was the answer to a message.
 * 'packetreceive' is emitted before mqtt.js settles the publish, so the mark is there in time.
 */
function watchNoSubscriberPubacks(client: mqtt.MqttClient): { take(topic: string, payload: string | Uint8Array): boolean } {
  const sentById = new Map<number, string>();
  const refused = new Set<string>();
  client.on('packetsend', (packet) => {
    if (packet.cmd === 'publish' && packet.messageId !== undefined) sentById.set(packet.messageId, messageKey(packet.topic, packet.payload));
  });
  client.on('packetreceive', (packet) => {
    if (packet.cmd !== 'puback' || packet.messageId === undefined) return;
    const key = sentById.get(packet.messageId);
    sentById.delete(packet.messageId);
    if (key !== undefined && packet.reasonCode === NO_MATCHING_SUBSCRIBERS) refused.add(key);
  });
  return { take: (topic, payload) => refused.delete(messageKey(topic, payload)) };
}

function messageKey(topic: string, payload: string | Uint8Array): string {
  return `${topic}\u0000${typeof payload === 'string' ? payload : Buffer.from(payload).toString('base64')}`;
}

function connect(options: PublisherOptions, clientId: string, index: number): Promise<mqtt.MqttClient> {
  const urls = typeof options.url === 'string' ? [options.url] : options.url;
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(urls[index % urls.length]!, {
      protocolVersion: 5,
      clientId,
      username: options.username,
      password: options.password,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10_000,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
    client.once('connect', () => resolve(client));
    client.once('error', (error) => reject(error));
  });
}

function hashIndex(text: string, modulo: number): number {
  let hash = 2166136261;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 16777619);
  return (hash >>> 0) % modulo;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
