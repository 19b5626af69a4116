import { connectionProperties } from '../../src/kafka/connection.ts';
import kafkaJs from '@confluentinc/kafka-javascript';
import type { LocalStackConfig as Config } from '../../src/stack/config-schema.ts';
import { startClickhouse, stopClickhouse } from '../../src/stack/clickhouse.ts';
import { kafkaStatus, startKafkaNode, stopKafkaNode, waitForKafkaNode, waitForBrokers } from '../../src/stack/kafka.ts';
import { mosquittoProcess, startMosquitto, stopMosquitto } from '../../src/stack/mosquitto.ts';
import { heal, partition, type IsolatedHost } from '../../src/stack/netns.ts';
import { portAnswers, runningPid } from '../../src/stack/processes.ts';
import { eventually, type ServiceProcess } from '../../src/stack/services.ts';
import type { ScheduledFault } from './schedule.ts';
import type { Supervisor } from './supervisor.ts';
import { seconds } from '../support/format.ts';

/** The chaos run's faults, one function each: what they do to the private stack and the pipeline's processes. */
export const SESSION_TIMEOUT_MS = 6000;
/** Past the session timeout, so that the group moves the cut-off instance's partitions. */
const PARTITION_MS = 15_000;
/** Kafka frozen (direct mode) or the bridges held back (broker mode) this long before the kill. */
const FREEZE_MS = 5000;
const HOLD_MS = 8000;
const CLICKHOUSE_GRACE_MS = 5000;
/** Several of the sink's retry intervals: the aggregators must wait and go on, not give up or skip. */
const CLICKHOUSE_DOWN_MS = 15_000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function inject(fault: ScheduledFault, config: Config, supervisor: Supervisor, isolatedHost: IsolatedHost | null, log: (line: string) => void, held: (ms: number) => void): Promise<string> {
  const stack = config.stack;
  log(`fault ${fault.kind}${fault.point ? ` (${fault.point})` : ''} on #${fault.target}`);
  switch (fault.kind) {
    case 'kill-bridge': {
      const victim = supervisor.bridges[fault.target]!;
      supervisor.expect(victim);
      victim.signal('SIGKILL');
      await victim.exited;
      await sleep(1000);
      supervisor.startBridge(fault.target);
      return `SIGKILL pid ${victim.pid}, restarted`;
    }
    case 'kill-aggregator': {
      const victim = supervisor.aggregators[fault.target]!;
      supervisor.expect(victim);
      victim.signal('SIGKILL');
      await victim.exited;
      await sleep(1000);
      supervisor.startAggregator(fault.target);
      return `SIGKILL pid ${victim.pid}, restarted`;
    }
    case 'crash-aggregator-at-point': {
      const current = supervisor.aggregators[fault.target]!;
      supervisor.expect(current);
      await current.stop(20_000);
      const crashing = supervisor.startAggregator(fault.target, { TEST_AGGREGATOR_CRASH_AT: fault.point! });
      supervisor.expect(crashing);
      // With several workers (aggregator.instances) the point kills a worker, which the service
      // restarts without the crash point: that is the recovery under test, so the service stays.
      const workerCrashed = crashing.waitForLog(/aggregator worker exited; restarting it/, 60_000).then(
        () => 'worker crashed',
        () => 'still running',
      );
      const outcome = await Promise.race([crashing.exited, workerCrashed]);
      if (outcome === 'worker crashed') return `crashAt ${fault.point}: a worker was SIGKILLed and restarted by the service`;
      if (outcome === 'still running') await crashing.stop(20_000);
      supervisor.startAggregator(fault.target);
      return `restarted with crashAt ${fault.point}: ${String(outcome)}; restarted normally`;
    }
    case 'stop-aggregator-past-session-timeout': {
      const victim = supervisor.aggregators[fault.target]!;
      victim.signal('SIGSTOP');
      await sleep(SESSION_TIMEOUT_MS + 4000);
      victim.signal('SIGCONT');
      return `SIGSTOP pid ${victim.pid} for ${(SESSION_TIMEOUT_MS + 4000) / 1000} s, then SIGCONT`;
    }
    case 'kill-partition-leader': {
      const leader = await partitionLeader(config, 0);
      await stopKafkaNode(stack, leader, 'SIGKILL');
      await sleep(5000);
      const { node } = await startKafkaNode(stack, leader);
      await waitForKafkaNode(stack, node);
      await waitForBrokers(stack);
      return `SIGKILL broker ${leader} (leader of partition 0), restarted after 5 s`;
    }
    case 'restart-broker': {
      const stopping = Date.now();
      await stopKafkaNode(stack, fault.target, 'SIGTERM');
      const starting = Date.now();
      const { node } = await startKafkaNode(stack, fault.target);
      await waitForKafkaNode(stack, node);
      const rejoining = Date.now();
      await waitForBrokers(stack);
      return `broker ${fault.target} stopped (SIGTERM) in ${seconds(starting - stopping)}, started in ${seconds(rejoining - starting)}, all brokers up ${seconds(Date.now() - rejoining)} later`;
    }
    case 'stop-clickhouse': {
      // As an orchestrator stops a pod: SIGTERM, SIGKILL after a grace period. Under the aggregators'
      // inserts 18.16 took 46 s to end on SIGTERM (seen here), which only made the run longer.
      const stopping = Date.now();
      await stopClickhouse(stack, CLICKHOUSE_GRACE_MS);
      const stopped = Date.now();
      await sleep(CLICKHOUSE_DOWN_MS);
      const starting = Date.now();
      await startClickhouse(stack);
      return `ClickHouse stopped (SIGTERM, SIGKILL after ${CLICKHOUSE_GRACE_MS / 1000} s) in ${seconds(stopped - stopping)}, down for ${CLICKHOUSE_DOWN_MS / 1000} s, started in ${seconds(Date.now() - starting)}`;
    }
    case 'restart-mosquitto': {
      await stopMosquitto(stack);
      await startMosquitto(stack, config.mqtt.brokerPersistence);
      return 'Mosquitto stopped (SIGTERM, sessions persisted) and started';
    }
    case 'partition-aggregator-from-kafka': {
      if (!isolatedHost) throw new Error('partition-aggregator-from-kafka needs the network namespace');
      await partition(isolatedHost);
      try {
        await sleep(PARTITION_MS);
      } finally {
        await heal(isolatedHost);
      }
      return `aggregator ${fault.target} (pid ${supervisor.aggregators[fault.target]?.pid ?? '?'}) cut off from Kafka for ${PARTITION_MS / 1000} s (ClickHouse reachable), then healed`;
    }
    case 'kill-endpoint-kafka-frozen':
      return killEndpointWhileKafkaFrozen(fault, config, supervisor);
    case 'kill-mosquitto-bridge-held':
      return killMosquittoWhileBridgesHeld(config, supervisor, held);
  }
}

/**
 * Direct mode: a Kafka broker frozen (SIGSTOP; acks=all waits for it as long as it is in the ISR),
 * so the bridge holds back its devices' PUBACKs; the bridge, their MQTT endpoint, is killed with
 * SIGKILL, Kafka thawed, the bridge restarted. The devices must publish again what was never
 * acknowledged to them.
 */
async function killEndpointWhileKafkaFrozen(fault: ScheduledFault, config: Config, supervisor: Supervisor): Promise<string> {
  const leader = await partitionLeader(config, 0);
  const pid = kafkaStatus(config.stack).find((node) => node.id === leader)?.pid;
  if (pid === null || pid === undefined) throw new Error(`Kafka broker ${leader} has no running pid`);
  const victim = supervisor.bridges[fault.target]!;
  process.kill(pid, 'SIGSTOP');
  try {
    await sleep(FREEZE_MS);
    supervisor.expect(victim);
    victim.signal('SIGKILL');
    await victim.exited;
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await sleep(1000);
  supervisor.startBridge(fault.target);
  return `Kafka broker ${leader} (pid ${pid}) frozen ${FREEZE_MS / 1000} s, bridge ${fault.target} (pid ${victim.pid}) SIGKILLed meanwhile, Kafka thawed, bridge restarted`;
}

/**
 * Broker mode: every bridge held back (SIGSTOP) while Mosquitto acknowledges the devices and queues
 * for them, then Mosquitto killed (SIGKILL) and restarted with the declared persistence, then the
 * bridges resumed. What it loses is checked against the table's broker-crash row (audit.ts).
 */
async function killMosquittoWhileBridgesHeld(config: Config, supervisor: Supervisor, held: (ms: number) => void): Promise<string> {
  const stack = config.stack;
  const pid = runningPid(mosquittoProcess(stack));
  if (pid === null) throw new Error('the private Mosquitto is not running');
  const bridges = supervisor.bridges.filter((bridge): bridge is ServiceProcess => bridge !== null);
  const heldAt = Date.now();
  bridges.forEach((bridge) => bridge.signal('SIGSTOP'));
  try {
    await sleep(HOLD_MS);
    process.kill(pid, 'SIGKILL');
    await eventually('Mosquitto gone', async () => ((await portAnswers('127.0.0.1', stack.mosquittoPort)) ? undefined : true), 10_000, 50);
    held(Date.now() - heldAt);
    await startMosquitto(stack, config.mqtt.brokerPersistence);
  } finally {
    bridges.forEach((bridge) => bridge.signal('SIGCONT'));
  }
  const p = config.mqtt.brokerPersistence;
  return `bridges held back (SIGSTOP) ${((Date.now() - heldAt) / 1000).toFixed(1)} s; Mosquitto (pid ${pid}, persistence ${p.mode}${p.mode === 'off' ? '' : ` ${p.autosave}`}) SIGKILLed after ${HOLD_MS / 1000} s and restarted`;
}

async function partitionLeader(config: Config, partition: number): Promise<number> {
  const client = new kafkaJs.Producer(connectionProperties(config.kafka) as never);
  return new Promise((resolve, reject) => {
    client.connect({ timeout: 10_000, topic: config.kafka.readingsTopic } as never, (error: unknown, metadata: any) => {
      client.disconnect();
      if (error) return reject(error);
      const topic = (metadata.topics as { name: string; partitions: { id: number; leader: number }[] }[]).find((t) => t.name === config.kafka.readingsTopic);
      const leader = topic?.partitions.find((p) => p.id === partition)?.leader;
      if (leader === undefined) return reject(new Error(`no leader known for partition ${partition} of ${config.kafka.readingsTopic}`));
      resolve(leader);
    });
  });
}
