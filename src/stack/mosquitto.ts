import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from './config-schema.ts';
import type { BrokerPersistence } from '../core/failure-analysis.ts';
import { stackPaths } from './paths.ts';
import { ensureLocalTls, localTlsFiles } from './tls.ts';
import { launchUnlessRunning, requireCommand, waitForProcess } from './launch.ts';
import { StackError, portAnswers, stopProcess, type ManagedProcess } from './processes.ts';

/**
 * Mosquitto 2.0 for the local stack (broker mode): MQTT 5, persistent sessions kept on disk,
 * authentication on, and access control under which a device may publish only under its own
 * topic telemetry/<tenant>/<device> and nobody but the bridge may subscribe.
 *
 * Access control is Mosquitto's dynamic-security plugin, not an acl_file: on Mosquitto 2.0 the
 * acl_file check answers "allowed" to every SUBSCRIBE (it filters only on delivery), so any
 * device could join the bridges' `$share` group, be handed its share of every device's messages,
 * and have them dropped on its read ACL — acknowledged readings lost without a trace. The plugin
 * checks subscriptions, and denies them by default.
 *
 * Local users (development credentials, not secrets of any real deployment):
 *   bridge  — the edge bridge: subscribes to $share/<group>/telemetry/# only, receives telemetry/#
 *   fleet   — simulators and gateways: writes telemetry/#, subscribes to nothing
 *   probe   — health checks: reads, writes and subscribes to health/#
 *   sensor-1, sensor-2 — devices: each writes only telemetry/+/<its own name>, subscribes to nothing
 */
export const LOCAL_MQTT_USERS: Readonly<Record<string, string>> = {
  bridge: 'bridge-secret',
  fleet: 'fleet-secret',
  probe: 'probe-secret',
  'sensor-1': 'sensor-1-secret',
  'sensor-2': 'sensor-2-secret',
};

const HOST = '127.0.0.1';

/** Mosquitto's autosave setting of the local stack (see the broker-crash row of src/core/failure-analysis.ts). */
export const LOCAL_BROKER_PERSISTENCE: BrokerPersistence = { mode: 'autosave-interval', autosave: 5 };

type AclType = 'publishClientSend' | 'publishClientReceive' | 'subscribePattern';
const allow = (acltype: AclType, topic: string) => ({ acltype, topic, allow: true });

/** Roles of the dynamic-security plugin; every other access is denied (see `defaultACLAccess`). */
const ROLES: Readonly<Record<string, ReadonlyArray<ReturnType<typeof allow>>>> = {
  bridge: [allow('subscribePattern', '$share/+/telemetry/#'), allow('publishClientReceive', 'telemetry/#')],
  fleet: [allow('publishClientSend', 'telemetry/#')],
  probe: [allow('publishClientSend', 'health/#'), allow('publishClientReceive', 'health/#'), allow('subscribePattern', 'health/#')],
};
/**
 * Every other user is a device with a role of its own: it may publish only under its own name.
 * (Mosquitto 2.0.11's plugin does not expand %u in an ACL topic — measured: PUBACK 0x87 — so
 * the name is written out.)
 */
const deviceAcls = (device: string) => [allow('publishClientSend', `telemetry/+/${device}`)];
/** mosquitto_ctrl's choice for dynamic-security passwords: PBKDF2-SHA512, 12-byte salt, 101 iterations. */
const PBKDF2_ITERATIONS = 101;

/** The dynamic-security plugin's state file: users with salted password hashes, roles, default denials. */
export function dynamicSecurityJson(users: Readonly<Record<string, string>> = LOCAL_MQTT_USERS): string {
  const clients = Object.entries(users).map(([username, password]) => {
    const salt = randomBytes(12);
    return {
      username,
      password: pbkdf2Sync(password, salt, PBKDF2_ITERATIONS, 64, 'sha512').toString('base64'),
      salt: salt.toString('base64'),
      iterations: PBKDF2_ITERATIONS,
      roles: [{ rolename: ROLES[username] ? username : `device-${username}` }],
    };
  });
  const roles = Object.keys(users).map((username) => ({ rolename: ROLES[username] ? username : `device-${username}`, acls: ROLES[username] ?? deviceAcls(username) }));
  const defaultACLAccess = { publishClientSend: false, publishClientReceive: false, subscribe: false, unsubscribe: true };
  return `${JSON.stringify({ clients, groups: [], roles, defaultACLAccess }, null, 2)}\n`;
}

/** Where Debian (any architecture) and the eclipse-mosquitto image install the plugin. */
const DYNSEC_PLUGIN_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
  '/usr/local/lib/mosquitto_dynamic_security.so',
];

function dynamicSecurityPlugin(): string {
  const found = DYNSEC_PLUGIN_CANDIDATES.find((path) => existsSync(path));
  if (found === undefined) {
    throw new StackError(
      'STACK_MOSQUITTO_MISSING',
      `Mosquitto's dynamic-security plugin (mosquitto_dynamic_security.so) is not in ${DYNSEC_PLUGIN_CANDIDATES.join(', ')}: it ships with Mosquitto 2.0 (\`apt-get install -y mosquitto\`).`,
    );
  }
  return found;
}

function persistenceLines(dir: string, persistence: BrokerPersistence): string[] {
  if (persistence.mode === 'off') return ['persistence false'];
  return [
    'persistence true',
    `persistence_location ${join(dir, 'data')}/`,
    `autosave_interval ${persistence.autosave}`,
    `autosave_on_changes ${persistence.mode === 'autosave-on-changes'}`,
  ];
}

export function mosquittoProcess(stack: StackConfig): ManagedProcess & { dir: string; configFile: string } {
  const { dataDir, runDir, logDir } = stackPaths(stack);
  const dir = join(dataDir, 'mosquitto');
  const configFile = join(dir, 'mosquitto.conf');
  return {
    name: 'mosquitto',
    command: '/usr/sbin/mosquitto',
    args: ['-c', configFile],
    logFile: join(logDir, 'mosquitto.log'),
    pidFile: join(runDir, 'mosquitto.pid'),
    marker: configFile,
    dir,
    configFile,
  };
}

export function mosquittoUrl(stack: StackConfig): string {
  return `mqtt://${HOST}:${stack.mosquittoPort}`;
}

export function mosquittoTlsUrl(stack: StackConfig): string {
  return `mqtts://${HOST}:${stack.mosquittoTlsPort}`;
}

function configText(stack: StackConfig, dir: string, persistence: BrokerPersistence): string {
  const tls = localTlsFiles(stack);
  return [
    '# Written by src/stack/mosquitto.ts; edit the stack configuration instead.',
    'per_listener_settings false',
    `listener ${stack.mosquittoPort} ${HOST}`,
    'protocol mqtt',
    // MQTT over TLS with the local CA's server certificate: the bridges (broker mode) and devices use
    // this one. Devices log in with username/password; no client certificate is asked for.
    `listener ${stack.mosquittoTlsPort} ${HOST}`,
    'protocol mqtt',
    `cafile ${tls.caFile}`,
    `certfile ${tls.certFile}`,
    `keyfile ${tls.keyFile}`,
    'require_certificate false',
    'tls_version tlsv1.2',
    'allow_anonymous false',
    `plugin ${dynamicSecurityPlugin()}`,
    `plugin_opt_config_file ${join(dir, 'dynamic-security.json')}`,
    // Run as the invoking user so that the data directory stays ours.
    'user root',
    // Sessions and queued QoS 1 messages survive a broker restart as of the last save: a message
    // acknowledged to its device after that save and not yet acknowledged by a bridge is lost when
    // the broker is killed (the broker-crash row of the failure table). `$share` subscriptions are
    // not restored at all (Mosquitto 2.0.11): until a bridge subscribes again (it does on every
    // reconnect, edge/mqtt-intake.ts), publishes get PUBACK 0x10 "no matching subscribers" and
    // are dropped.
    ...persistenceLines(dir, persistence),
    'persistent_client_expiration 2d',
    // A bridge that is away for a while must find its readings queued, not dropped.
    'max_queued_messages 2000000',
    'max_queued_bytes 0',
    'max_inflight_messages 0',
    'max_packet_size 1048576',
    'set_tcp_nodelay true',
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'connection_messages false',
    '',
  ].join('\n');
}

/**
 * `persistence`: the broker's autosave setting (the local stack's unless a test asks for another);
 * it decides what a broker crash loses (src/core/failure-analysis.ts).
 */
export async function startMosquitto(stack: StackConfig, persistence: BrokerPersistence = LOCAL_BROKER_PERSISTENCE): Promise<{ started: boolean; url: string }> {
  const proc = mosquittoProcess(stack);
  const started = await launchUnlessRunning(proc, {
    requires: () =>
      requireCommand(
        proc.command,
        'STACK_MOSQUITTO_MISSING',
        `Mosquitto is not installed (${proc.command} not found). Install it with \`apt-get install -y mosquitto\` ` +
          '(or run `npm run setup`), or point mqtt.url at a broker and set stack.useExistingMqtt.',
      ),
    prepare: () => {
      mkdirSync(join(proc.dir, 'data'), { recursive: true });
      ensureLocalTls(stack);
      writeFileSync(proc.configFile, configText(stack, proc.dir, persistence));
      writeFileSync(join(proc.dir, 'dynamic-security.json'), dynamicSecurityJson(), { mode: 0o600 });
      chmodSync(join(proc.dir, 'dynamic-security.json'), 0o600); // also when the file existed
    },
    ports: [
      { service: 'Mosquitto', host: HOST, port: stack.mosquittoPort, configKey: 'stack.mosquittoPort' },
      { service: 'Mosquitto (TLS)', host: HOST, port: stack.mosquittoTlsPort, configKey: 'stack.mosquittoTlsPort' },
    ],
  });
  await waitForMosquitto(stack);
  return { started, url: mosquittoUrl(stack) };
}

export async function waitForMosquitto(stack: StackConfig, timeoutMs = stack.startTimeoutMs): Promise<void> {
  const what = `Mosquitto did not answer on ${mosquittoUrl(stack)}`;
  await waitForProcess(mosquittoProcess(stack), what, () => portAnswers(HOST, stack.mosquittoPort), timeoutMs);
}

export async function stopMosquitto(stack: StackConfig): Promise<boolean> {
  return stopProcess(mosquittoProcess(stack), 15_000);
}
