/**
 * Helpers of the edge integration tests and the edge benchmark: topics, a bridge child process,
 * an MQTT publisher (the fleet user), and reading a topic back. Real servers only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import KafkaLib from '@confluentinc/kafka-javascript';
import type { Message } from '@confluentinc/kafka-javascript';
import mqtt, { type MqttClient } from 'mqtt';
import type { Config } from '../../src/config/schema.ts';
import { mqttClientId } from '../../edge/bridge.ts';
import { freePort, testConfig, uniqueName } from './stack.ts';
import { readWholeTopic } from './read-topic.ts';
import { localCredentialsEnv } from '../../src/stack/local-credentials.ts';
import { servicesEnv } from '../../src/stack/config.ts';
import { kafkaJsClient, type KafkaConnection } from '../../src/kafka/connection.ts';

export { freePort, testConfig, uniqueName };

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function createTopics(connection: KafkaConnection, topics: ReadonlyArray<{ topic: string; partitions: number }>): Promise<void> {
  const admin = kafkaJsClient(connection, 'nothing').admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: topics.map(({ topic, partitions }) => ({ topic, numPartitions: partitions, replicationFactor: 1 })) });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(connection: KafkaConnection, topics: readonly string[]): Promise<void> {
  const admin = kafkaJsClient(connection, 'nothing').admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [...topics] });
  } catch {
    // Best effort: a leftover test topic costs disk, not correctness.
  } finally {
    await admin.disconnect();
  }
}

export interface BridgeProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly url: string;
  /** Everything the bridge logged so far (JSON lines). */
  readonly output: () => string;
  /** SIGTERM and wait for the exit code. */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL (no cleanup at all) and wait for the exit. */
  kill(): Promise<void>;
}

/** Every bridge a test started, so that a failing test still kills it (see `killAllBridges`). */
const running = new Set<ChildProcess>();
/** Every persistent MQTT session a test's bridge opened: discarded at the end (see `killAllBridges`). */
const sessions = new Map<string, string>();

/**
 * The environment of a bridge the tests start: the launcher's without its TP_STACK__* variables
 * (the bridge refuses them; they still choose the stack whose credentials it gets), the local
 * credentials, then `env`.
 */
export function bridgeProcessEnv(parent: NodeJS.ProcessEnv, env: Record<string, string>, port: number): NodeJS.ProcessEnv {
  return { ...servicesEnv(parent), TP_EDGE__TLS__MODE: 'plaintext', ...localCredentialsEnv({ ...parent, ...env }), ...env, TP_EDGE__HTTP_PORT: String(port) };
}

/**
 * Starts `edge/main.ts` as a child process with `env` overrides and waits until GET /readyz
 * answers 200 (or, with `waitFor: 'alive'`, until GET /healthz does).
 */
export async function startBridge(
  env: Record<string, string>,
  options: { readyTimeoutMs?: number; args?: string[]; nodeArgs?: string[]; waitFor?: 'ready' | 'alive' } = {},
): Promise<BridgeProcess> {
  const port = Number(env['TP_EDGE__HTTP_PORT'] ?? (await freePort()));
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', 'edge/main.ts', ...(options.args ?? [])], {
    cwd: ROOT,
    // Plaintext by the explicit setting (edge.tls.mode defaults to 'required'): these bridges are the
    // tests' own, reached over http:// and mqtt://; test/integration/edge-tls*.test.ts covers TLS.
    env: bridgeProcessEnv(process.env, env, port),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const prefix = env['TP_MQTT__CLIENT_ID_PREFIX'];
  if (prefix !== undefined && env['TP_MQTT__URL'] !== undefined) sessions.set(mqttClientId(prefix), env['TP_MQTT__URL']);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  const bridge: BridgeProcess = {
    child,
    port,
    url,
    output: () => output,
    async stop(timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`bridge exited with ${child.exitCode} before it was ready:\n${output}`);
    const probe = options.waitFor === 'alive' ? 'healthz' : 'readyz';
    const status = await fetch(`${url}/${probe}`).then((response) => response.status, () => 0);
    if (status === 200) return bridge;
    await delay(100); // the poll interval of the readiness probe
  }
  await bridge.kill();
  throw new Error(`bridge not ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${output}`);
}

/**
 * Kills every bridge still running (test `after` hooks call it, so that nothing outlives a
 * failure), then discards their persistent sessions: a session left behind would keep queueing
 * every telemetry message for its share group in the broker until it expires.
 */
export async function killAllBridges(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  for (const [clientId, url] of sessions) {
    await discardSession(url, clientId);
    sessions.delete(clientId);
  }
}

/** Connects as `clientId` with a clean start and no session expiry, which makes the broker drop its session. */
export async function discardSession(url: string, clientId: string): Promise<void> {
  const { username, password } = testConfig().mqtt;
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    clientId,
    username,
    password,
    clean: true,
    reconnectPeriod: 0,
    properties: { sessionExpiryInterval: 0 },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
  } finally {
    await client.endAsync();
  }
}

/**
 * Environment for one bridge of one test: the test's brokers and MQTT broker, its own topics,
 * share group and client id (the port is chosen by startBridge).
 */
export function bridgeEnv(config: Config, names: { readings: string; deadLetter: string; run: string }, extra: Record<string, string> = {}): Record<string, string> {
  return {
    TP_KAFKA__BROKERS: config.kafka.brokers.join(','),
    TP_MQTT__URL: config.mqtt.url,
    TP_KAFKA__READINGS_TOPIC: names.readings,
    TP_KAFKA__DEAD_LETTER_TOPIC: names.deadLetter,
    TP_MQTT__SHARE_GROUP: names.run,
    TP_MQTT__CLIENT_ID_PREFIX: names.run,
    ...extra,
  };
}

export async function connectFleet(config: Config, clientId = uniqueName('fleet')): Promise<MqttClient> {
  const client = mqtt.connect(config.mqtt.url, {
    protocolVersion: 5,
    clientId,
    username: 'fleet',
    password: 'fleet-secret',
    reconnectPeriod: 500,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

/** Publishes at QoS 1 with at most `window` unacknowledged publishes (the broker's receive maximum). */
export async function publishAll(client: MqttClient, messages: ReadonlyArray<{ topic: string; payload: string | Buffer }>, window = 500): Promise<void> {
  let next = 0;
  let failed: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    let outstanding = 0;
    const pump = (): void => {
      while (outstanding < window && next < messages.length) {
        const message = messages[next++]!;
        outstanding++;
        client.publish(message.topic, message.payload, { qos: 1 }, (error) => {
          outstanding--;
          if (error && !failed) {
            failed = error;
            reject(error);
            return;
          }
          if (next >= messages.length && outstanding === 0) resolve();
          else pump();
        });
      }
    };
    if (messages.length === 0) resolve();
    else pump();
  });
}

/** Reads every record present in `topic` now (up to the high watermarks). */
export async function readTopic(connection: KafkaConnection, topic: string): Promise<Message[]> {
  const records: Message[] = [];
  await readWholeTopic(connection, topic, (message) => records.push(message), { groupPrefix: 'edge-test-reader', timeoutMs: 60_000 });
  return records;
}

/**
 * Polls `read` until `done` holds or the time is up; returns the last value read (the caller's
 * assertions then say what is missing, which a timeout error could not).
 */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000, pauseMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (!done(value) && Date.now() < deadline) {
    await delay(pauseMs);
    value = await read();
  }
  return value;
}

/**
 * Waits until the bridge has nothing more to hand to Kafka: no record in flight and its count of
 * published readings unchanged for `quietMs` (what a broker lost never arrives, so "all of it" is
 * not a condition that can be waited for). Returns that count.
 */
export async function bridgeSettled(bridge: BridgeProcess, quietMs = 3000, timeoutMs = 60_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  for (;;) {
    const published = await bridgeMetric(bridge, /^tp_edge_readings_published_total\b/);
    const inFlight = await bridgeMetric(bridge, /^tp_edge_records_in_flight\b/);
    if (published !== last || inFlight > 0) {
      last = published;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return published;
    }
    if (Date.now() > deadline) throw new Error(`the bridge did not settle within ${timeoutMs} ms (published ${published}, in flight ${inFlight})`);
    await delay(200);
  }
}

/** The sum of every series of a bridge's metric whose line matches `series` (0 while it has none or /metrics does not answer). */
export async function bridgeMetric(bridge: BridgeProcess, series: RegExp): Promise<number> {
  const text = await fetch(`${bridge.url}/metrics`).then((response) => response.text(), () => '');
  let total = 0;
  for (const line of text.split('\n')) if (!line.startsWith('#') && series.test(line)) total += Number(line.split(' ').pop());
  return total;
}
