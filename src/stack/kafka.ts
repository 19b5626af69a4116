import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { StackConfig } from './config-schema.ts';
import { ConfigError } from '../core/errors.ts';
import { fetchMetadata } from '../kafka/admin.ts';
import type { KafkaConnection } from '../kafka/connection.ts';
import { upsertScramUsers } from '../kafka/scram-users.ts';
import { scramCredential } from '../kafka/wire/scram.ts';
import { KAFKA_PRINCIPALS, localKafkaPasswords, localKafkaSecurity, publishedKafkaCaFile } from './local-credentials.ts';
import { KAFKA_BROKER_SUBJECT, ensureKafkaTls, kafkaTlsFiles } from './tls.ts';
import { kafkaLibDir, stackPaths } from './paths.ts';
import { launchUnlessRunning, requireCommand, waitForProcess } from './launch.ts';
import { StackError, isAlive, portAnswers, runningPid, signal, stopProcess, waitUntil, type ManagedProcess } from './processes.ts';

/**
 * Apache Kafka in KRaft mode, each node a combined broker and controller on loopback. One node by
 * default; three nodes (replication factor 3, min.insync.replicas 2) for failover tests. Node i
 * listens for clients on basePort + 2(i-1) and for the controller quorum on the port after it.
 */
export interface KafkaNode {
  readonly id: number;
  readonly brokerPort: number;
  readonly controllerPort: number;
  readonly dir: string;
  readonly configFile: string;
  readonly process: ManagedProcess;
}

const HOST = '127.0.0.1';

export function kafkaNodes(stack: StackConfig): KafkaNode[] {
  const { dataDir, runDir, logDir } = stackPaths(stack);
  const mode = stack.kafkaNodes === 1 ? 'single' : `cluster${stack.kafkaNodes}`;
  const nodes: KafkaNode[] = [];
  for (let id = 1; id <= stack.kafkaNodes; id++) {
    const dir = join(dataDir, 'kafka', mode, `node-${id}`);
    const configFile = join(dir, 'server.properties');
    nodes.push({
      id,
      brokerPort: stack.kafkaBasePort + 2 * (id - 1),
      controllerPort: stack.kafkaBasePort + 2 * (id - 1) + 1,
      dir,
      configFile,
      process: {
        name: `kafka-${id}`,
        command: 'java',
        args: [
          // The whole heap from the start, as Kafka's operations guide advises: sized once, rather
          // than grown by G1 step by step while the broker serves.
          `-Xms${stack.kafkaHeapMb}m`,
          `-Xmx${stack.kafkaHeapMb}m`,
          '-XX:+UseG1GC',
          '-XX:MaxGCPauseMillis=20',
          ...(stack.kafkaQuickStart ? ['-XX:TieredStopAtLevel=1'] : []),
          '-Djava.awt.headless=true',
          `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`,
          '-cp',
          `${kafkaLibDir()}/*`,
          'kafka.Kafka',
          configFile,
        ],
        logFile: join(logDir, `kafka-${id}.log`),
        pidFile: join(runDir, `kafka-${id}.pid`),
        marker: configFile,
      },
    });
  }
  return nodes;
}

export function bootstrapServers(stack: StackConfig): string[] {
  return kafkaNodes(stack).map((node) => `${HOST}:${node.brokerPort}`);
}

/** The ISOLATED listener's port (see stack.isolatedKafkaAddress): a port of its own, as Kafka wants one per listener. */
export function isolatedBrokerPort(node: Pick<KafkaNode, 'brokerPort'>): number {
  return node.brokerPort + 1000;
}

/** Bootstrap servers for a process in the network namespace of stack.isolatedKafkaAddress. */
export function isolatedBootstrapServers(stack: StackConfig): string[] {
  if (!stack.isolatedKafkaAddress) throw new ConfigError('stack.isolatedKafkaAddress is not set', { key: 'stack.isolatedKafkaAddress' });
  return kafkaNodes(stack).map((node) => `${stack.isolatedKafkaAddress}:${isolatedBrokerPort(node)}`);
}

/**
 * How the node's listeners are secured. 'sasl_ssl': clients and the other brokers log in with
 * SCRAM-SHA-512 over TLS (CLIENT, ISOLATED), the controller quorum speaks mutual TLS (a broker's
 * certificate names it; SCRAM cannot serve there, its users live in the metadata the quorum
 * replicates), and the StandardAuthorizer denies whatever no ACL allows. 'plaintext': none of it
 * (stack.kafkaProtocol 'plaintext', and the one start that adds SCRAM users to an older stack).
 */
type ListenerSecurity = 'sasl_ssl' | 'plaintext';

function securityProperties(stack: StackConfig, isolated: string): string[] {
  const { keystoreFile, caFile } = kafkaTlsFiles(stack);
  // The brokers' own login on CLIENT (inter-broker) and ISOLATED; the server side of SCRAM reads the metadata's users.
  const jaas = `org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${localKafkaPasswords(stack).admin}";`;
  return [
    `listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SSL${isolated ? ',ISOLATED:SASL_SSL' : ''}`,
    'sasl.enabled.mechanisms=SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512',
    `listener.name.client.scram-sha-512.sasl.jaas.config=${jaas}`,
    ...(isolated ? [`listener.name.isolated.scram-sha-512.sasl.jaas.config=${jaas}`] : []),
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${keystoreFile}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${caFile}`,
    'listener.name.controller.ssl.client.auth=required',
    'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    `super.users=User:admin;User:${KAFKA_BROKER_SUBJECT}`,
    'allow.everyone.if.no.acl.found=false',
  ];
}

function serverProperties(stack: StackConfig, node: KafkaNode, all: KafkaNode[], security: ListenerSecurity): string {
  const replicated = all.length >= 3;
  const voters = all.map((n) => `${n.id}@${HOST}:${n.controllerPort}`).join(',');
  const isolated = stack.isolatedKafkaAddress ? `${stack.isolatedKafkaAddress}:${isolatedBrokerPort(node)}` : '';
  return [
    '# Written by src/stack/kafka.ts; edit the stack configuration instead.',
    'process.roles=broker,controller',
    `node.id=${node.id}`,
    `controller.quorum.voters=${voters}`,
    `listeners=CLIENT://${HOST}:${node.brokerPort},CONTROLLER://${HOST}:${node.controllerPort}${isolated ? `,ISOLATED://${isolated}` : ''}`,
    // A client keeps to the listener it bootstrapped through: one in a network namespace is told ISOLATED addresses.
    `advertised.listeners=CLIENT://${HOST}:${node.brokerPort}${isolated ? `,ISOLATED://${isolated}` : ''}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=CLIENT',
    ...(security === 'sasl_ssl' ? securityProperties(stack, isolated) : [`listener.security.protocol.map=CLIENT:PLAINTEXT,CONTROLLER:PLAINTEXT${isolated ? ',ISOLATED:PLAINTEXT' : ''}`]),
    `log.dirs=${join(node.dir, 'data')}`,
    'num.partitions=12',
    `default.replication.factor=${replicated ? 3 : 1}`,
    `min.insync.replicas=${replicated ? 2 : 1}`,
    `offsets.topic.replication.factor=${replicated ? 3 : 1}`,
    `transaction.state.log.replication.factor=${replicated ? 3 : 1}`,
    `transaction.state.log.min.isr=${replicated ? 2 : 1}`,
    // Topics are created by the pipeline with explicit partitions and replication.
    'auto.create.topics.enable=false',
    // A new group waits this long for more members before its first assignment (the broker's
    // default is 3 s). Not 0: an aggregator's workers join together, within tens of milliseconds,
    // and at 0 the first formed the group alone, took every partition and processed readings that
    // the next owner read again after the rebalance (decision 0022). Short: tests start many groups.
    'group.initial.rebalance.delay.ms=300',
    // A producer that died must not hold back read_committed readers for long.
    'transaction.max.timeout.ms=900000',
    'unclean.leader.election.enable=false',
    'log.retention.hours=168',
    'log.segment.bytes=268435456',
    'num.network.threads=2',
    'num.io.threads=4',
    '',
  ].join('\n');
}

const LOG4J2 = [
  'rootLogger.level=WARN',
  'rootLogger.appenderRef.stdout.ref=STDOUT',
  'appender.stdout.type=Console',
  'appender.stdout.name=STDOUT',
  'appender.stdout.layout.type=PatternLayout',
  'appender.stdout.layout.pattern=[%d] %p %m (%c)%n',
  'logger.server.name=kafka.server.KafkaRaftServer',
  'logger.server.level=INFO',
  '',
].join('\n');

/**
 * A KRaft cluster id: 16 random bytes in URL-safe base64 without padding. Like Kafka's own
 * Uuid.randomUuid, it never starts with '-' (one id in 64 would), which a command line would read
 * as an option.
 */
export function newClusterId(random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function clusterId(stack: StackConfig): string {
  const file = join(stackPaths(stack).dataDir, 'kafka', `cluster-id-${stack.kafkaNodes}`);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const id = newClusterId();
  mkdirSync(join(stackPaths(stack).dataDir, 'kafka'), { recursive: true });
  writeFileSync(file, `${id}\n`);
  return id;
}

function checkPrerequisites(): void {
  requireCommand(
    'java',
    'STACK_JAVA_MISSING',
    'Kafka needs Java 17 or newer, and `java` is not on PATH. Install it with ' +
      '`apt-get install -y openjdk-17-jre-headless` (or run `npm run setup`), then start the stack again.',
  );
  const libs = kafkaLibDir();
  if (!existsSync(libs) || !readdirSync(libs).some((file) => file.startsWith('kafka_2.13-'))) {
    throw new StackError(
      'STACK_KAFKA_JARS_MISSING',
      `Kafka's jars are not in ${libs}. Fetch them with \`npm run setup\` (runs Maven on deploy/kafka/pom.xml).`,
    );
  }
}

/** The marker of a cluster whose metadata holds the stack's SCRAM users (formatted with them, or given them once). */
function scramMarker(stack: StackConfig): string {
  return join(stackPaths(stack).dataDir, 'kafka', stack.kafkaNodes === 1 ? 'single' : `cluster${stack.kafkaNodes}`, 'scram-users');
}

/**
 * `--add-scram` for each principal, with the salted password rather than the password, so that no
 * password shows on a command line (`ps`).
 */
function scramFormatArgs(stack: StackConfig): string[] {
  const passwords = localKafkaPasswords(stack);
  return KAFKA_PRINCIPALS.flatMap((name) => {
    const credential = scramCredential(passwords[name]);
    return ['--add-scram', `SCRAM-SHA-512=[name=${name},iterations=${credential.iterations},salt="${credential.salt.toString('base64')}",saltedpassword="${credential.saltedPassword.toString('base64')}"]`];
  });
}

function formatStorage(stack: StackConfig, node: KafkaNode): void {
  if (existsSync(join(node.dir, 'data', 'meta.properties'))) return;
  const output = execFileSync(
    'java',
    [
      `-Dlog4j2.configurationFile=${join(node.dir, 'log4j2.properties')}`,
      '-cp',
      `${kafkaLibDir()}/*`,
      'kafka.tools.StorageTool',
      'format',
      '--ignore-formatted',
      // One argument with '=': an id saved by an older version may start with '-'.
      `--cluster-id=${clusterId(stack)}`,
      // The users go into the bootstrap metadata: the brokers log in to each other with admin's from the first start.
      ...scramFormatArgs(stack),
      '-c',
      node.configFile,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (!existsSync(join(node.dir, 'data', 'meta.properties'))) {
    throw new StackError('STACK_KAFKA_FORMAT_FAILED', `formatting Kafka node ${node.id} failed:\n${output}`);
  }
  writeFileSync(scramMarker(stack), 'SCRAM-SHA-512 users added when formatting\n');
}

/** The connection of the stack's own admin principal (the stack, tools, tests). */
export function adminConnection(stack: StackConfig): KafkaConnection {
  return { brokers: bootstrapServers(stack), security: localKafkaSecurity(stack, 'admin') };
}

function writeNodeFiles(stack: StackConfig, node: KafkaNode, all: KafkaNode[], security: ListenerSecurity): void {
  mkdirSync(node.dir, { recursive: true });
  writeFileSync(node.configFile, serverProperties(stack, node, all, security), { mode: 0o600 });
  // It holds the admin password (the brokers' own login): the stack's user only, whatever its mode was.
  chmodSync(node.configFile, 0o600);
  writeFileSync(join(node.dir, 'log4j2.properties'), LOG4J2);
}

/**
 * A node that runs already must run the security this stack asks for: a broker started by an older
 * version listens in plaintext, and its clients would now fail to log in without saying why.
 */
function assertRunningSecurity(stack: StackConfig, node: KafkaNode): void {
  const why = restartNeeded(stack, node);
  if (why !== null) throw new StackError('STACK_KAFKA_RESTART_NEEDED', why, { node: node.id });
}

function restartNeeded(stack: StackConfig, node: KafkaNode): string | null {
  const text = existsSync(node.configFile) ? readFileSync(node.configFile, 'utf8') : '';
  // A plaintext broker of an older version named its client listener PLAINTEXT: the same security.
  const wanted = stack.kafkaProtocol === 'sasl_ssl' ? ['CLIENT:SASL_SSL'] : ['CLIENT:PLAINTEXT', 'PLAINTEXT:PLAINTEXT'];
  if (wanted.some((map) => text.includes(`listener.security.protocol.map=${map}`))) return null;
  return (
    `Kafka node ${node.id} runs with another listener security than stack.kafkaProtocol '${stack.kafkaProtocol}' (started by an older version or with another setting). ` +
    'Stop the stack (`npm run stack -- down`) and start it again: its topics are kept, and an older stack gets its SCRAM users on the way.'
  );
}

/** Why a running node's clients cannot connect as this stack's configuration says (null when they can, or nothing runs). */
export function kafkaRestartNeeded(stack: StackConfig): string | null {
  for (const node of kafkaNodes(stack)) {
    if (runningPid(node.process) === null) continue;
    const why = restartNeeded(stack, node);
    if (why !== null) return why;
  }
  return null;
}

/** Writes the node's configuration, formats its storage once, and starts it unless it runs. */
export async function startKafkaNode(stack: StackConfig, id: number, security: ListenerSecurity = stack.kafkaProtocol): Promise<{ node: KafkaNode; started: boolean }> {
  checkPrerequisites();
  const all = kafkaNodes(stack);
  const node = all.find((candidate) => candidate.id === id);
  if (!node) throw new StackError('STACK_NO_SUCH_NODE', `there is no Kafka node ${id} in a ${all.length}-node stack`);
  if (runningPid(node.process) !== null && security === stack.kafkaProtocol) assertRunningSecurity(stack, node);
  const started = await launchUnlessRunning(node.process, {
    prepare: () => {
      if (security === 'sasl_ssl') {
        ensureKafkaTls(stack);
        mkdirSync(dirname(publishedKafkaCaFile(stack)), { recursive: true });
        copyFileSync(kafkaTlsFiles(stack).caFile, publishedKafkaCaFile(stack));
      }
      writeNodeFiles(stack, node, all, security);
      formatStorage(stack, node);
    },
    ports: [
      { service: `Kafka node ${id}`, host: HOST, port: node.brokerPort, configKey: 'stack.kafkaBasePort', graceMs: 15_000 },
      { service: `Kafka node ${id}'s controller`, host: HOST, port: node.controllerPort, configKey: 'stack.kafkaBasePort', graceMs: 15_000 },
    ],
  });
  return { node, started };
}

export async function waitForKafkaNode(stack: StackConfig, node: KafkaNode, timeoutMs = stack.startTimeoutMs): Promise<void> {
  await waitForProcess(node.process, `Kafka did not answer on ${HOST}:${node.brokerPort}`, () => portAnswers(HOST, node.brokerPort), timeoutMs);
}

/**
 * A stack formatted by a version without SCRAM users (its brokers listened in plaintext) gets them
 * once: its nodes start in plaintext as before, the users are added through the Kafka protocol, the
 * nodes stop, and the caller starts them secured. Topics and offsets are kept.
 */
async function addScramUsersToOlderStack(stack: StackConfig, log: (line: string) => void): Promise<void> {
  const nodes = kafkaNodes(stack);
  const formatted = nodes.some((node) => existsSync(join(node.dir, 'data', 'meta.properties')));
  if (stack.kafkaProtocol !== 'sasl_ssl' || !formatted || existsSync(scramMarker(stack))) return;
  for (const node of nodes) if (runningPid(node.process) !== null) assertRunningSecurity(stack, node);
  log('kafka: this stack was formatted without SCRAM users; starting it once in plaintext to add them');
  for (const node of nodes) await startKafkaNode(stack, node.id, 'plaintext');
  const plaintext: KafkaConnection = { brokers: bootstrapServers(stack), security: { ...localKafkaSecurity(stack, 'admin'), protocol: 'plaintext' } };
  try {
    for (const node of nodes) await waitForKafkaNode(stack, node);
    await waitForBrokersOn(stack, plaintext);
    const passwords = localKafkaPasswords(stack);
    await upsertScramUsers(plaintext, KAFKA_PRINCIPALS.map((name) => ({ name, password: passwords[name] })));
    writeFileSync(scramMarker(stack), 'SCRAM-SHA-512 users added to an older stack\n');
  } finally {
    await stopKafka(stack);
  }
}

/** Starts every node (idempotent) and waits until each answers and the cluster has all brokers. */
export async function startKafka(stack: StackConfig, log: (line: string) => void = () => undefined): Promise<{ started: number[]; running: number[] }> {
  await addScramUsersToOlderStack(stack, log);
  const started: number[] = [];
  const running: number[] = [];
  for (const node of kafkaNodes(stack)) {
    const result = await startKafkaNode(stack, node.id);
    (result.started ? started : running).push(node.id);
  }
  for (const node of kafkaNodes(stack)) await waitForKafkaNode(stack, node);
  await waitForBrokers(stack);
  return { started, running };
}

/** Waits until the cluster metadata lists every broker (a quorum has formed). */
export async function waitForBrokers(stack: StackConfig, timeoutMs = stack.startTimeoutMs): Promise<void> {
  await waitForBrokersOn(stack, adminConnection(stack), timeoutMs);
}

async function waitForBrokersOn(stack: StackConfig, connection: KafkaConnection, timeoutMs = stack.startTimeoutMs): Promise<void> {
  const first = kafkaNodes(stack)[0]!;
  await waitUntil(
    `Kafka on ${bootstrapServers(stack).join(',')} did not report ${stack.kafkaNodes} broker(s)`,
    async () => (await fetchMetadata(connection, 3000)).brokers.length >= stack.kafkaNodes,
    { timeoutMs, logFile: first.process.logFile, intervalMs: 500 },
  );
}

export async function stopKafkaNode(stack: StackConfig, id: number, how: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<boolean> {
  const node = kafkaNodes(stack).find((candidate) => candidate.id === id);
  if (!node) return false;
  if (how === 'SIGKILL') {
    const pid = runningPid(node.process);
    if (pid === null) return false;
    signal(pid, 'SIGKILL');
    while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    return true;
  }
  return stopProcess(node.process, 60_000);
}

export async function stopKafka(stack: StackConfig): Promise<number[]> {
  // All nodes at once: stopped one by one, the last ones lose their controller quorum and wait for it.
  const nodes = kafkaNodes(stack);
  const results = await Promise.all(nodes.map((node) => stopProcess(node.process, 30_000)));
  return nodes.filter((_, index) => results[index]).map((node) => node.id);
}

export function kafkaStatus(stack: StackConfig): { id: number; port: number; pid: number | null }[] {
  return kafkaNodes(stack).map((node) => ({ id: node.id, port: node.brokerPort, pid: runningPid(node.process) }));
}
