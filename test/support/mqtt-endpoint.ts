import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, parser as createParser, type IConnectPacket, type Packet } from 'mqtt-packet';
import { loadConfig } from '../../src/config/load.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import type { DeliveryCallback, DeliveryReceiver } from '../../src/kafka/producer.ts';
import { createLogger } from '../../src/util/log.ts';
import { FlowControl } from '../../edge/flow.ts';
import { createEdgeMetrics } from '../../edge/metrics.ts';
import { credentialLine } from '../../edge/mqtt-server/credentials.ts';
import { MqttServer } from '../../edge/mqtt-server/server.ts';
import { ReadingPublisher, type RecordSink } from '../../edge/publisher.ts';

/**
 * Plumbing of the direct endpoint's unit tests: an in-memory socket, a Kafka stand-in whose
 * delivery reports the test hands out in any order it likes, a device driving the real server over
 * that socket, and a server built with the real publisher, flow control and ack queue.
 */
export class FakeSocket extends EventEmitter {
  readonly written: Buffer[] = [];
  paused = false;
  destroyed = false;
  ended = false;
  setNoDelay(): this {
    return this;
  }
  cork(): void {}
  uncork(): void {}
  write(bytes: Buffer): boolean {
    this.written.push(Buffer.from(bytes));
    return true;
  }
  pause(): this {
    this.paused = true;
    return this;
  }
  resume(): this {
    this.paused = false;
    return this;
  }
  end(): this {
    this.ended = true;
    return this;
  }
  destroy(): this {
    if (!this.destroyed) {
      this.destroyed = true;
      queueMicrotask(() => this.emit('close'));
    }
    return this;
  }
}

export interface SentRecord {
  readonly topic: string;
  readonly key: string | null;
  readonly value: Buffer;
  readonly receiver: DeliveryCallback | DeliveryReceiver;
}

/** A record sink that holds every record until the test settles it, as Kafka's delivery report would. */
export class HeldSink implements RecordSink {
  readonly records: SentRecord[] = [];
  // A delivery report comes once per record: settling one twice would be a test bug, not Kafka's.
  private readonly delivered = new Set<number>();
  send(topic: string, key: string | null, value: string | Buffer, _partition: number | null, receiver: DeliveryCallback | DeliveryReceiver): void {
    this.records.push({ topic, key, value: Buffer.from(value), receiver });
  }
  /** Kafka reports record `index` delivered, or failed with `error`; a second report of it is ignored. */
  deliver(index: number, error?: Error): void {
    if (this.delivered.has(index)) return;
    this.delivered.add(index);
    const { receiver } = this.records[index]!;
    const failure = error as never;
    if (typeof receiver === 'function') receiver(failure);
    else receiver.delivered(failure);
  }
  /** Kafka acknowledges every record sent so far. */
  deliverAll(): void {
    for (let index = 0; index < this.records.length; index++) this.deliver(index);
  }
  /** The ids of the readings sent to the readings topic. */
  readingIds(): string[] {
    return this.records.filter((record) => record.topic === 'readings').flatMap((record) => {
      const decoded = decodeRecord(record.value);
      return decoded.ok ? decoded.readings.map((reading) => reading.id) : [];
    });
  }
  deadLetters(): Array<{ reason: string; detail: string; origin: string }> {
    return this.records.filter((record) => record.topic === 'dead').map((record) => JSON.parse(record.value.toString()) as never);
  }
}

export interface Account {
  readonly username: string;
  readonly tenant: string;
  readonly device: string;
}

/** Cheap scrypt parameters: a test hashes and checks many passwords. */
const FAST = { N: 1024, r: 8, p: 1 };

/** Device d1 of acme, and a gateway of acme that may speak for any of its devices. */
export const DEVICE_AND_GATEWAY: readonly Account[] = [
  { username: 'd1', tenant: 'acme', device: 'd1' },
  { username: 'gw', tenant: 'acme', device: '*' },
];

export interface EndpointOptions {
  /** Accounts of the credential file, each with password `pw`. */
  readonly accounts?: readonly Account[];
  /** Merged over `mqtt.listen` (whose port is 0). */
  readonly listen?: Record<string, unknown>;
  /** Merged over the rest of the `mqtt` section (`listen` excepted). */
  readonly mqtt?: Record<string, unknown>;
}

/** A direct-mode MqttServer over the accounts given; `clock.offsetMs` moves its clock forward. */
export function setupEndpoint(options: EndpointOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'direct-'));
  const file = join(dir, 'devices');
  writeFileSync(file, (options.accounts ?? DEVICE_AND_GATEWAY).map((account) => credentialLine(account, 'pw', FAST)).join('\n'));
  const config = loadConfig({ overrides: { mqtt: { mode: 'direct', credentialsFile: file, ...options.mqtt, listen: { port: 0, ...options.listen } } } });
  const flow = new FlowControl(10_000);
  flow.setKafkaAvailable(true, 'test');
  const metrics = createEdgeMetrics(() => flow.recordsInFlight);
  const sink = new HeldSink();
  const publisher = new ReadingPublisher({ sink, readingsTopic: 'readings', deadLetterTopic: 'dead', flow, metrics });
  const clock = { offsetMs: 0 };
  const server = new MqttServer({
    mqtt: config.mqtt,
    validation: config.edge.validation,
    ackMode: 'after-kafka',
    publisher,
    flow,
    metrics,
    logger: createLogger('test', 'silent'),
    now: () => Date.now() + clock.offsetMs,
  });
  const metricsText = (): Promise<string> => metrics.registry.metrics();
  return { server, sink, flow, metrics, clock, metricsText };
}

/** A device on a fake socket: sends packets, reads what the server wrote. */
export function device(server: MqttServer, version: 4 | 5) {
  const socket = new FakeSocket();
  server.handleSocket(socket as unknown as Socket);
  const received: Packet[] = [];
  const parser = createParser({ protocolVersion: version });
  parser.on('packet', (packet: Packet) => received.push(packet));
  let read = 0;
  const packets = (): Packet[] => {
    for (; read < socket.written.length; read++) parser.parse(socket.written[read]!);
    return received;
  };
  const find = <T>(cmd: Packet['cmd']): T | undefined => packets().find((packet) => packet.cmd === cmd) as T | undefined;
  return {
    socket,
    version,
    packets,
    connack: () => find<{ returnCode?: number; reasonCode?: number; sessionPresent: boolean }>('connack'),
    disconnect: () => find<{ reasonCode?: number }>('disconnect'),
    acks: () => packets().filter((packet) => packet.cmd === 'puback' || packet.cmd === 'pubrec').map((packet) => [packet.cmd, packet.messageId, (packet as { reasonCode?: number }).reasonCode ?? 0]),
    send: (packet: Packet) => socket.emit('data', generate(packet, { protocolVersion: version })),
  };
}

export type Client = ReturnType<typeof device>;
export type Will = NonNullable<IConnectPacket['will']>;

export interface ConnectOptions {
  readonly clientId?: string;
  readonly username?: string;
  readonly clean?: boolean;
  readonly keepalive?: number;
  readonly sessionExpiry?: number;
  readonly will?: Will;
}

/** A CONNECT with password `pw`; account d1, a fresh client id and a clean start unless told otherwise. */
export function connectPacket(version: 4 | 5, options: ConnectOptions): Packet {
  return {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clientId: options.clientId ?? `c-${Math.random()}`,
    clean: options.clean ?? true,
    keepalive: options.keepalive ?? 30,
    username: options.username ?? 'd1',
    password: Buffer.from('pw'),
    ...(options.will === undefined ? {} : { will: options.will }),
    ...(version === 5 && options.sessionExpiry !== undefined ? { properties: { sessionExpiryInterval: options.sessionExpiry } } : {}),
  } as Packet;
}

/** The CONNACK's code: the MQTT 5 reason code, or the MQTT 3.1.1 return code. */
export async function answerTo(server: MqttServer, version: 4 | 5, options: ConnectOptions): Promise<{ client: Client; code: number; sessionPresent: boolean }> {
  const client = device(server, version);
  client.send(connectPacket(version, options));
  await waitFor(() => client.connack() !== undefined);
  const connack = client.connack()!;
  return { client, code: (version === 5 ? connack.reasonCode : connack.returnCode) ?? -1, sessionPresent: connack.sessionPresent };
}

/** A device whose CONNECT was accepted. */
export async function connected(server: MqttServer, version: 4 | 5, options: ConnectOptions = {}): Promise<Client> {
  const { client, code } = await answerTo(server, version, options);
  assert.equal(code, 0, `CONNECT of ${options.username ?? 'd1'} with client id ${options.clientId ?? '(fresh)'} accepted`);
  return client;
}

export async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Every event queued by a close or a write (microtasks, immediates) has run. */
export const settled = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20));
