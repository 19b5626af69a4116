import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { PipelineError } from '../core/errors.ts';

const run = promisify(execFile);

/**
 * A second "host" on this machine for the chaos run's network-partition fault: a network namespace
 * joined to the machine by a veth pair. A process started inside it reaches Kafka and ClickHouse at
 * two addresses on the machine's side of the pair, so a partition can cut it off from Kafka alone
 * (ClickHouse stays reachable, as when one link of a real network fails):
 *
 *   namespace  guestAddress ──veth── kafkaAddress (Kafka's second listener)
 *                                    clickhouseAddress (ClickHouse's second listen_host)
 *
 * The cut is a pair of policy-routing `blackhole` rules on the machine's side: packets between the
 * guest and Kafka's address are dropped silently in both directions, so connections hang rather
 * than fail fast, as across a broken network. Needs root and iproute2 (`ip`); nothing else.
 */
export interface IsolatedHost {
  readonly namespace: string;
  readonly guestAddress: string;
  readonly kafkaAddress: string;
  readonly clickhouseAddress: string;
  readonly hostInterface: string;
}

export class NetworkNamespaceError extends PipelineError {
  constructor(message: string, context: Record<string, string>, cause?: unknown) {
    super('NETNS_FAILED', message, { retriable: false, context, cause });
  }
}

/** Rule priorities of the cut (policy rules are ordered by priority; these come before the main table's). */
const CUT_PRIORITIES = [7701, 7702] as const;

export function isolatedHostPlan(name: string, subnet = '10.231.77'): IsolatedHost {
  return {
    namespace: name,
    guestAddress: `${subnet}.2`,
    kafkaAddress: `${subnet}.1`,
    clickhouseAddress: `${subnet}.3`,
    // Interface names are limited to 15 characters.
    hostInterface: `${name.slice(0, 12)}-h`,
  };
}

async function ip(args: readonly string[]): Promise<void> {
  try {
    await run('ip', [...args], { timeout: 10_000 });
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr?.trim() ?? '';
    throw new NetworkNamespaceError(`ip ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, { command: `ip ${args.join(' ')}` }, error);
  }
}

/** Creates the namespace and its link; a namespace of the same name left by a crashed run is replaced. */
export async function createIsolatedHost(host: IsolatedHost): Promise<void> {
  await destroyIsolatedHost(host);
  const guestInterface = `${host.hostInterface.slice(0, -2)}-g`;
  await ip(['netns', 'add', host.namespace]);
  await ip(['link', 'add', host.hostInterface, 'type', 'veth', 'peer', 'name', guestInterface]);
  await ip(['link', 'set', guestInterface, 'netns', host.namespace]);
  await ip(['addr', 'add', `${host.kafkaAddress}/24`, 'dev', host.hostInterface]);
  await ip(['addr', 'add', `${host.clickhouseAddress}/24`, 'dev', host.hostInterface]);
  await ip(['link', 'set', host.hostInterface, 'up']);
  await ip(['netns', 'exec', host.namespace, 'ip', 'addr', 'add', `${host.guestAddress}/24`, 'dev', guestInterface]);
  await ip(['netns', 'exec', host.namespace, 'ip', 'link', 'set', guestInterface, 'up']);
  await ip(['netns', 'exec', host.namespace, 'ip', 'link', 'set', 'lo', 'up']);
}

/** What removes the cut, the namespace and its link (deleting the namespace deletes both ends of the pair). */
function teardownCommands(host: IsolatedHost): string[][] {
  return [...cutRules(host).map((rule) => ['rule', 'delete', ...rule]), ['netns', 'delete', host.namespace], ['link', 'delete', host.hostInterface]];
}

// In both teardowns an absent piece (never cut, removed already, half made) is not an error.
export async function destroyIsolatedHost(host: IsolatedHost): Promise<void> {
  for (const args of teardownCommands(host)) await ip(args).catch(() => undefined);
}

/** The same, synchronously: for a process being interrupted, which cannot wait for promises. */
export function destroyIsolatedHostNow(host: IsolatedHost): void {
  for (const args of teardownCommands(host)) {
    try {
      execFileSync('ip', args, { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // Absent already.
    }
  }
}

/** The two rules of the cut: every packet between the guest and Kafka's address, both ways. */
function cutRules(host: IsolatedHost): string[][] {
  return [
    ['from', host.guestAddress, 'to', host.kafkaAddress, 'blackhole', 'priority', String(CUT_PRIORITIES[0])],
    ['from', host.kafkaAddress, 'to', host.guestAddress, 'blackhole', 'priority', String(CUT_PRIORITIES[1])],
  ];
}

export async function partition(host: IsolatedHost): Promise<void> {
  for (const rule of cutRules(host)) await ip(['rule', 'add', ...rule]);
}

export async function heal(host: IsolatedHost): Promise<void> {
  // An absent rule (never cut, or healed already) is not an error: heal() is also the cleanup.
  for (const rule of cutRules(host)) await ip(['rule', 'delete', ...rule]).catch(() => undefined);
}

/** Why a network namespace cannot be made here, or null when it can (tried for real, then removed). */
export async function networkNamespacesUnavailable(): Promise<string | null> {
  const probe = isolatedHostPlan(`tpprobe${process.pid % 10_000}`, '10.231.78');
  try {
    await createIsolatedHost(probe);
    return null;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await destroyIsolatedHost(probe).catch(() => undefined);
  }
}
