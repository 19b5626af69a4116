import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from '../config/schema.ts';
import { stackPaths } from './paths.ts';
import {
  StackError,
  assertPortFree,
  portAnswers,
  runningPid,
  startDetached,
  stopProcess,
  waitUntil,
  which,
  type ManagedProcess,
} from './processes.ts';

/**
 * Mosquitto 2.0 for the local stack: MQTT 5, persistent sessions kept on disk, authentication on,
 * and an ACL under which a device may publish only under its own topic telemetry/<tenant>/<device>.
 *
 * Local users (development credentials, not secrets of any real deployment):
 *   bridge  — the edge bridge: reads telemetry/#
 *   fleet   — simulators and gateways: writes telemetry/#
 *   probe   — health checks: reads and writes health/#
 *   sensor-1, sensor-2 — devices: each writes only telemetry/+/<its own name>
 */
export const LOCAL_MQTT_USERS: Readonly<Record<string, string>> = {
  bridge: 'bridge-secret',
  fleet: 'fleet-secret',
  probe: 'probe-secret',
  'sensor-1': 'sensor-1-secret',
  'sensor-2': 'sensor-2-secret',
};

const HOST = '127.0.0.1';

const ACL = `# Written by src/stack/mosquitto.ts.
user bridge
topic read telemetry/#

user fleet
topic write telemetry/#

user probe
topic readwrite health/#

# Every other user is a device: it may publish only under its own name.
pattern write telemetry/+/%u
`;

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

function configText(stack: StackConfig, dir: string): string {
  return [
    '# Written by src/stack/mosquitto.ts; edit the stack configuration instead.',
    'per_listener_settings false',
    `listener ${stack.mosquittoPort} ${HOST}`,
    'protocol mqtt',
    'allow_anonymous false',
    `password_file ${join(dir, 'passwd')}`,
    `acl_file ${join(dir, 'acl')}`,
    // Run as the invoking user so that the data directory stays ours.
    'user root',
    // Sessions and queued QoS 1 messages survive a broker restart. `$share` subscriptions do not
    // (Mosquitto 2.0.11; fixed upstream in 2.0.12): until a bridge subscribes again, publishes get
    // PUBACK 0x10 "no matching subscribers" and are dropped. No setting here prevents it: the
    // bridge resubscribes at once (edge/mqtt-intake.ts) and devices must resend on 0x10.
    'persistence true',
    `persistence_location ${join(dir, 'data')}/`,
    'autosave_interval 5',
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

function writePasswords(file: string): void {
  const tool = which('mosquitto_passwd');
  if (!tool) {
    throw new StackError('STACK_MOSQUITTO_MISSING', 'mosquitto_passwd is missing: `apt-get install -y mosquitto` (or `npm run setup`).');
  }
  writeFileSync(file, '');
  for (const [user, password] of Object.entries(LOCAL_MQTT_USERS)) {
    execFileSync(tool, ['-b', file, user, password], { stdio: 'ignore' });
  }
  chmodSync(file, 0o600);
}

export async function startMosquitto(stack: StackConfig): Promise<{ started: boolean; url: string }> {
  const proc = mosquittoProcess(stack);
  const url = mosquittoUrl(stack);
  if (runningPid(proc) !== null) {
    await waitForMosquitto(stack);
    return { started: false, url };
  }
  if (!which(proc.command)) {
    throw new StackError(
      'STACK_MOSQUITTO_MISSING',
      `Mosquitto is not installed (${proc.command} not found). Install it with \`apt-get install -y mosquitto\` ` +
        '(or run `npm run setup`), or point mqtt.url at a broker and set stack.useExistingMqtt.',
    );
  }
  mkdirSync(join(proc.dir, 'data'), { recursive: true });
  writeFileSync(proc.configFile, configText(stack, proc.dir));
  writeFileSync(join(proc.dir, 'acl'), ACL);
  if (!existsSync(join(proc.dir, 'passwd'))) writePasswords(join(proc.dir, 'passwd'));
  await assertPortFree('Mosquitto', HOST, stack.mosquittoPort, 'stack.mosquittoPort');
  startDetached(proc);
  await waitForMosquitto(stack);
  return { started: true, url };
}

export async function waitForMosquitto(stack: StackConfig, timeoutMs = stack.startTimeoutMs): Promise<void> {
  const proc = mosquittoProcess(stack);
  await waitUntil(`Mosquitto did not answer on ${mosquittoUrl(stack)}`, () => portAnswers(HOST, stack.mosquittoPort), {
    timeoutMs,
    logFile: proc.logFile,
    pid: runningPid(proc),
  });
}

export async function stopMosquitto(stack: StackConfig): Promise<boolean> {
  return stopProcess(mosquittoProcess(stack), 15_000);
}
