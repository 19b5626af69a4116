import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { writeCredentialFile } from '../../src/stack/device-credentials.ts';
import { startBridge, type BridgeProcess } from '../integration/edge-harness.ts';
import { freePort } from './stack.ts';

/** A device account of the bridge's credentials file (device '*': any device of the tenant, a gateway). */
export interface DeviceAccount {
  readonly username: string;
  readonly password: string;
  readonly tenant: string;
  readonly device: string;
}

/**
 * Direct mode, the bridge as the devices' MQTT server: the test's device accounts in a credentials
 * file of its own, one free port for the endpoint (kept across restarts, so that devices reconnect
 * to the restarted bridge), the test's topics, and ticks every 200 ms so that idle partitions'
 * watermarks follow.
 */
export interface DirectEndpoint {
  readonly port: number;
  readonly url: string;
  readonly credentialsFile: string;
  /** Starts a bridge on the endpoint; `env` adds or overrides TP_* settings. */
  start(env?: Record<string, string>): Promise<BridgeProcess>;
  /** Connects as `account` over MQTT 5 and waits for the CONNACK. */
  connect(account: Pick<DeviceAccount, 'username' | 'password'>, options?: IClientOptions): Promise<MqttClient>;
}

export async function directEndpoint(options: {
  readonly brokers: readonly string[];
  readonly readingsTopic: string;
  readonly deadLetterTopic: string;
  readonly accounts: readonly DeviceAccount[];
  readonly env?: Record<string, string>;
}): Promise<DirectEndpoint> {
  const credentialsFile = join(mkdtempSync(join(tmpdir(), 'direct-creds-')), 'devices');
  writeCredentialFile(credentialsFile, options.accounts);
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  return {
    port,
    url,
    credentialsFile,
    start: (env = {}) =>
      startBridge({
        TP_KAFKA__BROKERS: options.brokers.join(','),
        TP_KAFKA__READINGS_TOPIC: options.readingsTopic,
        TP_KAFKA__DEAD_LETTER_TOPIC: options.deadLetterTopic,
        TP_MQTT__MODE: 'direct',
        TP_MQTT__LISTEN__PORT: String(port),
        TP_MQTT__CREDENTIALS_FILE: credentialsFile,
        TP_EDGE__TICK_INTERVAL_MS: '200',
        ...options.env,
        ...env,
      }),
    async connect(account, clientOptions = {}) {
      const client = mqtt.connect(url, { protocolVersion: 5, username: account.username, password: account.password, reconnectPeriod: 200, ...clientOptions });
      try {
        await new Promise<void>((resolve, reject) => {
          client.once('connect', () => resolve());
          client.once('error', reject);
        });
      } catch (error) {
        client.end(true);
        throw error;
      }
      return client;
    },
  };
}
