import { readFileSync } from 'node:fs';
import { errorMessage } from '../../src/core/errors.ts';
import type { Config } from '../../src/config/schema.ts';
import { secretPaths } from '../../src/config/secrets.ts';
import { loadStackConfig, servicesConfig } from '../../src/stack/config.ts';
import { DEMO_DEVICE_ACCOUNTS } from '../../src/stack/device-credentials.ts';
import { localKafkaPasswords, localSecrets } from '../../src/stack/local-credentials.ts';
import { LOCAL_MQTT_USERS } from '../../src/stack/mosquitto.ts';
import { portAnswers } from '../../src/stack/processes.ts';
import { configForLocalStack } from '../../src/stack/stack.ts';
import { startRunBridge, type RunBridge } from './bridge.ts';
import { Tally, type Capability, type CheckResult, type SecurityCheck } from './check.ts';
import { RunContext } from './context.ts';
import { SECURITY_CHECKS } from './registry.ts';
import { sendRequest } from './transport.ts';

/**
 * One security run against the running local stack: starts the run's bridge (bridge.ts), runs
 * every check of the registry whose requirements the run meets, stops the bridge by its pid, runs
 * the after-stop checks (the secret scan), and sums up. A requirement the run lacks by design (TLS
 * not configured yet) skips the check, with the reason; one it lacks because something failed
 * (the bridge did not start, the stack's Mosquitto does not answer) fails the check.
 */
export interface SecurityRunResult {
  readonly bench: 'security';
  readonly attempts: number;
  readonly refused: number;
  readonly admitted_wrongly: number;
  readonly unexpected: number;
  readonly checks: CheckResult[];
  readonly skipped: { readonly name: string; readonly why: string }[];
}

export interface SecurityRunOptions {
  readonly log?: (line: string) => void;
  /** Only these checks (by name); all when absent. */
  readonly only?: readonly string[];
}

export async function runSecurityChecks(options: SecurityRunOptions = {}): Promise<SecurityRunResult> {
  const log = options.log ?? (() => undefined);
  const checks = options.only === undefined ? SECURITY_CHECKS : SECURITY_CHECKS.filter((check) => options.only!.includes(check.name));
  const unknown = (options.only ?? []).filter((name) => !SECURITY_CHECKS.some((check) => check.name === name));
  if (unknown.length > 0) throw new Error(`unknown check(s) ${unknown.join(', ')}; known: ${SECURITY_CHECKS.map((check) => check.name).join(', ')}`);
  const stack = configForLocalStack(loadStackConfig());
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const failures = new Map<Capability, string>();

  let bridge: RunBridge | undefined;
  if (checks.some((check) => check.requires.includes('direct-mqtt') || check.requires.includes('http-intake') || check.phase === 'after-stop')) {
    try {
      bridge = await startRunBridge(stack, runId, log);
    } catch (error) {
      failures.set('direct-mqtt', `the run's bridge did not start: ${errorMessage(error)}`);
      failures.set('http-intake', `the run's bridge did not start: ${errorMessage(error)}`);
    }
  }
  const context = new RunContext(runId, stack, bridge, log);
  if (bridge !== undefined) context.logFiles.push(bridge.logFile);
  registerKnownSecrets(context, bridge);
  await markCapabilities(context, failures);

  const results: CheckResult[] = [];
  const skipped: { name: string; why: string }[] = [];
  const runPhase = async (phase: SecurityCheck['phase']): Promise<void> => {
    for (const check of checks.filter((candidate) => candidate.phase === phase)) {
      const failed = check.requires.map((capability) => failures.get(capability)).find((why) => why !== undefined);
      const lacking = check.requires.map((capability) => context.lacks(capability)).find((why) => why !== undefined);
      const tally = new Tally();
      if (failed !== undefined) tally.failed(failed);
      else if (lacking !== undefined) {
        skipped.push({ name: check.name, why: lacking });
        log(`${check.name}: skipped (${lacking})`);
        continue;
      } else {
        const started = Date.now();
        try {
          await check.run(context, tally);
        } catch (error) {
          tally.failed(errorMessage(error));
        }
        tally.note(`${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
      const result = tally.result(check.name);
      results.push(result);
      log(`${check.name}: ${result.attempts} attempts, ${result.refused} refused, ${result.admitted_wrongly} admitted wrongly, ${result.unexpected} unexpected`);
    }
  };
  try {
    await runPhase('attack');
    if (bridge !== undefined) {
      // Its counters as a client could read them: label values are answers too.
      const metrics = await sendRequest(`${bridge.httpUrl}/metrics`, { tls: bridge.tls }).then((reply) => reply.text, () => '');
      context.answered('the bridge\'s /metrics', metrics);
    }
  } finally {
    await bridge?.stop();
  }
  try {
    await runPhase('after-stop');
  } finally {
    await bridge?.cleanUp();
  }
  const sum = (field: 'attempts' | 'refused' | 'admitted_wrongly' | 'unexpected'): number => results.reduce((total, result) => total + result[field], 0);
  return { bench: 'security', attempts: sum('attempts'), refused: sum('refused'), admitted_wrongly: sum('admitted_wrongly'), unexpected: sum('unexpected'), checks: results, skipped };
}

/** What the run has; a failure to reach a running part of the stack fails the checks that need it. */
async function markCapabilities(context: RunContext, failures: Map<Capability, string>): Promise<void> {
  const { stack, bridge } = context;
  if (bridge === undefined) {
    for (const capability of ['mqtt-tls', 'https'] as const) failures.set(capability, failures.get('direct-mqtt') ?? "the run's bridge did not start");
  } else if (bridge.tls === undefined) {
    context.markMissing('mqtt-tls', "edge.tls.mode is 'plaintext' in the stack's configuration");
    context.markMissing('https', "edge.tls.mode is 'plaintext' in the stack's configuration");
  } else if (bridge.config.edge.tls.clientCaFile === '') {
    context.markMissing('mqtt-tls', "edge.tls.clientCaFile is '': the bridge asks for no device certificate");
  }
  const { roles } = stack.clickhouse;
  if (stack.stack.useExistingClickhouse) context.markMissing('clickhouse-roles', "stack.useExistingClickhouse: the server's users are not the stack's");
  else if (roles.reader.password === '' || roles.admin.password === '') context.markMissing('clickhouse-roles', 'clickhouse.roles has no reader or admin password: one user for every role');
  if (stack.stack.kafkaProtocol !== 'sasl_ssl') context.markMissing('kafka-sasl', "stack.kafkaProtocol is 'plaintext': Kafka has no logins and no ACLs");
  if (stack.stack.useExistingMqtt) {
    context.markMissing('stack-mosquitto', `stack.useExistingMqtt: the broker at ${stack.mqtt.url} is not the stack's Mosquitto, its accounts unknown`);
  } else {
    const url = new URL(stack.mqtt.url);
    if (!(await portAnswers(url.hostname, Number(url.port || 1883)))) failures.set('stack-mosquitto', `the local stack's Mosquitto does not answer on ${stack.mqtt.url} (is the stack up?)`);
  }
}

/** Every secret the run knows: its bridge's configuration's, the stack's, and the accounts'. */
function registerKnownSecrets(context: RunContext, bridge: RunBridge | undefined): void {
  for (const { label, value } of secretsOf(servicesConfig(context.stack), 'stack configuration')) context.addSecret(label, value);
  if (bridge !== undefined) {
    for (const { label, value } of secretsOf(bridge.config, "run bridge's configuration")) context.addSecret(label, value);
    for (const account of Object.values(bridge.accounts)) context.addSecret(`password of run account ${account.username}`, account.password);
    for (const key of Object.values(bridge.keys)) context.addSecret(`gateway key of ${key.gateway}`, key.key);
    for (const [role, key] of Object.entries(bridge.hashedKeys)) if (typeof key !== 'string') context.addSecret(`hashed-file gateway key (${role}) of ${key.gateway}`, key.key);
    const keyFile = bridge.config.edge.tls.keyFile;
    if (keyFile !== '') context.addPrivateKey(`the bridge's TLS private key ${keyFile}`, readFileSync(keyFile, 'utf8'));
  }
  // The demo gateway's key: the bridges get only its hash, its clients the plaintext.
  context.addSecret('the local stack\'s demo gateway key', localSecrets(context.stack.stack).gatewayKey);
  for (const account of DEMO_DEVICE_ACCOUNTS) context.addSecret(`password of demo device account ${account.username}`, account.password);
  for (const [username, password] of Object.entries(LOCAL_MQTT_USERS)) context.addSecret(`password of Mosquitto account ${username}`, password);
  // Every Kafka principal's password (the admin's is the stack configuration's kafka.security.password too).
  if (context.stack.stack.kafkaProtocol === 'sasl_ssl') for (const [principal, password] of Object.entries(localKafkaPasswords(context.stack.stack))) context.addSecret(`password of Kafka principal ${principal}`, password);
}

/** The value of every secret (schema Secret()) in a configuration, labelled by its path. */
function secretsOf(config: Config, where: string): { label: string; value: string }[] {
  const found: { label: string; value: string }[] = [];
  const walk = (value: unknown, segments: readonly string[], label: string): void => {
    if (segments.length === 0) {
      if (typeof value === 'string') found.push({ label: `${label} (${where})`, value });
      return;
    }
    const [head, ...rest] = segments as [string, ...string[]];
    const list = head.endsWith('[]');
    const name = list ? head.slice(0, -2) : head;
    const child = name === '' ? value : (value as Record<string, unknown> | undefined)?.[name];
    if (!list) return walk(child, rest, label === '' ? name : `${label}.${name}`);
    if (Array.isArray(child)) child.forEach((item, index) => walk(item, rest, `${label === '' ? name : `${label}.${name}`}[${index}]`));
  };
  for (const path of secretPaths()) walk(config, path.split('.'), '');
  return found;
}
