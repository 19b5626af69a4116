import { existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { generateGatewayKey, gatewayKeyLine } from '../util/gateway-keys.ts';
import type { Config } from '../config/schema.ts';
import type { LocalStackConfig, StackConfig } from './config-schema.ts';
import { loadStackConfig } from './config.ts';
import { DEMO_TENANT } from './device-credentials.ts';
import { LOCAL_MQTT_USERS } from './mosquitto.ts';
import { REPO_ROOT, stackPaths } from './paths.ts';
import { localTlsFiles } from './tls.ts';

/**
 * The local stack's credentials: the only place secrets get values in this repository. The schema
 * has no secret defaults; configForLocalStack fills an empty secret from here, and a service the
 * stack tooling starts without a configuration file gets them as environment variables.
 *
 * Generated on first use (git-ignored, mode 0600), never committed: under stack.dataDir the demo
 * gateway's key (the bridge gets only its scrypt hash, in a key file; the demo and the load tests
 * get the plaintext), and per local ClickHouse port one password per role (users.xml of that
 * server, written by clickhouse.ts). The Mosquitto password stays a fixed development value: the Compose credentials
 * and the dev overlay share it.
 */
export const LOCAL_MQTT_PASSWORD = LOCAL_MQTT_USERS['bridge']!;
export const LOCAL_GATEWAY = { gateway: 'gw-demo', tenant: DEMO_TENANT } as const;

export interface LocalSecrets {
  /** Plaintext key of LOCAL_GATEWAY, for the clients of the local stack. */
  readonly gatewayKey: string;
  /** Passwords of the ClickHouse roles; `default` gets only the SHA-256 of a password nobody keeps. */
  readonly clickhouse: { readonly ingest: string; readonly reader: string; readonly admin: string; readonly defaultUserHash: string };
}

export function localSecretsFile(stack: StackConfig): string {
  return join(stackPaths(stack).dataDir, 'credentials', 'local-secrets.json');
}

export function localGatewayKeysFile(stack: StackConfig): string {
  return join(stackPaths(stack).dataDir, 'credentials', 'gateway-keys');
}

/**
 * The passwords of the local ClickHouse listening on this HTTP port (its replicas share them). Kept
 * by port, in the repository's .data, rather than under stack.dataDir: a run with a private data
 * folder (stack-services, say) still talks to the one server on that port, whose users.xml holds
 * these.
 */
export function localClickhouseSecretsFile(stack: StackConfig): string {
  return join(REPO_ROOT, '.data', 'credentials', `clickhouse-${stack.clickhouseHttpPort}.json`);
}

const password = (): string => randomBytes(24).toString('base64url');

/**
 * The local Kafka's SCRAM principals: `admin` (the stack's super user: the stack itself, tools,
 * tests and load-test harnesses), and one per service, whose ACLs the stack creates
 * (src/stack/kafka-access.ts).
 */
export const KAFKA_PRINCIPALS = ['admin', 'bridge', 'aggregator'] as const;
export type KafkaPrincipal = (typeof KAFKA_PRINCIPALS)[number];

/**
 * The local Kafka's passwords, by its broker port like ClickHouse's (a run with a private data
 * folder still talks to the broker on that port, whose metadata holds these users).
 */
export function localKafkaSecretsFile(stack: StackConfig): string {
  return join(REPO_ROOT, '.data', 'credentials', `kafka-${stack.kafkaBasePort}.json`);
}

/**
 * The CA of the local Kafka's listener, by broker port like its passwords: a run with a private
 * data folder (its own CA for the bridges it starts) still talks to the broker its stack started.
 * Published when a broker is launched (src/stack/kafka.ts); before that, the stack's own CA.
 */
export function localKafkaCaFile(stack: StackConfig): string {
  const published = publishedKafkaCaFile(stack);
  return existsSync(published) ? published : localTlsFiles(stack).caFile;
}

/** Where startKafkaNode publishes the CA of the broker on this port. */
export function publishedKafkaCaFile(stack: StackConfig): string {
  return join(REPO_ROOT, '.data', 'credentials', `kafka-${stack.kafkaBasePort}-ca.pem`);
}

export function localKafkaPasswords(stack: StackConfig): Readonly<Record<KafkaPrincipal, string>> {
  return readOrCreate(localKafkaSecretsFile(stack), (stored: Partial<Record<KafkaPrincipal, string>>) => ({
    admin: stored.admin ?? password(),
    bridge: stored.bridge ?? password(),
    aggregator: stored.aggregator ?? password(),
  }));
}

/** kafka.security for a client of the local Kafka logging in as `principal` (plaintext when stack.kafkaProtocol says so). */
export function localKafkaSecurity(stack: StackConfig, principal: KafkaPrincipal): Config['kafka']['security'] {
  if (stack.kafkaProtocol === 'plaintext') return { protocol: 'plaintext', mechanism: 'SCRAM-SHA-512', username: '', password: '', caFile: '' };
  return { protocol: 'sasl_ssl', mechanism: 'SCRAM-SHA-512', username: principal, password: localKafkaPasswords(stack)[principal], caFile: localKafkaCaFile(stack) };
}

/**
 * The environment that makes a local service log in to Kafka as its own principal (the bridges as
 * `bridge`, the aggregators as `aggregator`), whatever its configuration file says.
 */
export function kafkaPrincipalEnv(stack: StackConfig, principal: KafkaPrincipal): Record<string, string> {
  const security = localKafkaSecurity(stack, principal);
  return {
    TP_KAFKA__SECURITY__PROTOCOL: security.protocol,
    TP_KAFKA__SECURITY__USERNAME: security.username,
    TP_KAFKA__SECURITY__PASSWORD: security.password,
    TP_KAFKA__SECURITY__CA_FILE: security.caFile,
  };
}

/**
 * The local secrets, generated the first time (by whichever process gets there first: a file is
 * created whole with link(), so a concurrent reader never sees half of it), and the demo gateway's
 * key file unless it exists (an operator's added keys survive).
 */
export function localSecrets(stack: StackConfig): LocalSecrets {
  const gateway = readOrCreate(localSecretsFile(stack), (stored: { gatewayKey?: string }) => ({ gatewayKey: stored.gatewayKey ?? generateGatewayKey().key }));
  const clickhouse = readOrCreate(localClickhouseSecretsFile(stack), (stored: Partial<LocalSecrets['clickhouse']>) => ({
    ingest: stored.ingest ?? password(),
    reader: stored.reader ?? password(),
    admin: stored.admin ?? password(),
    defaultUserHash: stored.defaultUserHash ?? createHash('sha256').update(randomBytes(32)).digest('hex'),
  }));
  const keyFile = localGatewayKeysFile(stack);
  const line = `# <gateway> <tenant> <device prefix|*> <key id> <scrypt hash> [<not after>]; add keys with 'npm run cli -- gateway-key add'\n${gatewayKeyLine({ ...LOCAL_GATEWAY, devicePrefix: '', notAfter: null }, gateway.gatewayKey)}\n`;
  if (readText(keyFile) === undefined) createWhole(keyFile, line);
  return { gatewayKey: gateway.gatewayKey, clickhouse };
}

/** The demo gateway's key as its clients (the demo, the load tests) send it. */
export function localGatewayKey(stack: StackConfig): { readonly key: string; readonly gateway: string; readonly tenant: string } {
  return { ...LOCAL_GATEWAY, key: localSecrets(stack).gatewayKey };
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The JSON of `file`, completed by `complete` (which fills what is missing); created when absent.
 * A file of an older version that lacks a secret added since gets it, the others kept.
 */
function readOrCreate<S, T extends S>(file: string, complete: (stored: Partial<S>) => T): T {
  const text = readText(file);
  if (text === undefined) {
    createWhole(file, `${JSON.stringify(complete({}), null, 2)}\n`);
    // Another process may have won the race: everyone uses the file's version.
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  }
  const stored = JSON.parse(text) as Partial<S>;
  const completed = complete(stored);
  if (JSON.stringify(completed) !== JSON.stringify(stored)) {
    const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(temporary, `${JSON.stringify(completed, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, file);
  }
  return completed;
}

/** Creates `file` with `text` unless it exists (then leaves it), never showing a partial file. */
function createWhole(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, text, { mode: 0o600 });
  try {
    linkSync(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** `config` with every empty secret filled from the local stack's credentials. */
export function withLocalCredentials(config: LocalStackConfig): LocalStackConfig {
  const mqtt = config.mqtt.password === '' ? { ...config.mqtt, password: LOCAL_MQTT_PASSWORD } : config.mqtt;
  const noKeys = config.edge.gatewayKeys.length === 0 && config.edge.hashedGatewayKeysFile === '';
  const edge = noKeys ? { ...config.edge, hashedGatewayKeysFile: localGatewayKeysFile(config.stack) } : config.edge;
  // The local Kafka's admin principal, unless a login is configured (a service's own, by kafkaPrincipalEnv).
  const kafka = config.kafka.security.username === '' ? { ...config.kafka, security: localKafkaSecurity(config.stack, 'admin') } : config.kafka;
  return { ...config, mqtt, edge, kafka, clickhouse: config.stack.useExistingClickhouse ? config.clickhouse : withLocalClickhouse(config.clickhouse, config.stack) };
}

/** ClickHouse settings with each empty role password filled from the local stack's (whose users.xml has them). */
export function withLocalClickhouse(clickhouse: Config['clickhouse'], stack: StackConfig): Config['clickhouse'] {
  const secrets = localSecrets(stack);
  const { reader, admin } = clickhouse.roles;
  return {
    ...clickhouse,
    password: clickhouse.password === '' ? secrets.clickhouse.ingest : clickhouse.password,
    roles: {
      reader: reader.password === '' ? { ...reader, password: secrets.clickhouse.reader } : reader,
      admin: admin.password === '' ? { ...admin, password: secrets.clickhouse.admin } : admin,
    },
  };
}

/**
 * The local credentials as TP_ variables, for a local service started with environment overrides
 * and no configuration file (a file written from configForLocalStack already holds them).
 */
export function localCredentialsEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  if (env['TP_CONFIG'] !== undefined) return {};
  const stack = loadStackConfig({ env: { ...env } }).stack;
  const secrets = localSecrets(stack);
  const unset = (name: string): boolean => env[name] === undefined && env[`${name}_FILE`] === undefined;
  const keysGiven = !unset('TP_EDGE__GATEWAY_KEYS') || env['TP_EDGE__HASHED_GATEWAY_KEYS_FILE'] !== undefined;
  const clickhouse = stack.useExistingClickhouse
    ? {}
    : {
        ...(unset('TP_CLICKHOUSE__PASSWORD') ? { TP_CLICKHOUSE__PASSWORD: secrets.clickhouse.ingest } : {}),
        ...(unset('TP_CLICKHOUSE__ROLES__READER__PASSWORD') ? { TP_CLICKHOUSE__ROLES__READER__PASSWORD: secrets.clickhouse.reader } : {}),
        ...(unset('TP_CLICKHOUSE__ROLES__ADMIN__PASSWORD') ? { TP_CLICKHOUSE__ROLES__ADMIN__PASSWORD: secrets.clickhouse.admin } : {}),
      };
  const kafka = env['TP_KAFKA__SECURITY__USERNAME'] === undefined ? kafkaPrincipalEnv(stack, 'admin') : {};
  return {
    ...kafka,
    ...(unset('TP_MQTT__PASSWORD') ? { TP_MQTT__PASSWORD: LOCAL_MQTT_PASSWORD } : {}),
    ...(keysGiven ? {} : { TP_EDGE__HASHED_GATEWAY_KEYS_FILE: localGatewayKeysFile(stack) }),
    ...clickhouse,
  };
}
