import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import type { StackConfig } from './config-schema.ts';
import { localSecrets, type LocalSecrets } from './local-credentials.ts';
import { stackPaths } from './paths.ts';
import { launchUnlessRunning, requireCommand, waitForProcess } from './launch.ts';
import { StackError, runningPid, stopProcess, type ManagedProcess } from './processes.ts';

/**
 * ClickHouse for the local stack: Debian's clickhouse-server (18.16) run with the project's own
 * configuration, data directory and loopback ports. The same XML works on current servers.
 *
 * One server by default ('clickhouse', data in <dataDir>/clickhouse). With
 * stack.clickhouseReplicas = 2, two replicas of one shard ('clickhouse-r1', 'clickhouse-r2', each
 * with its own data directory, so that a single-node schema is never mixed with a replicated one)
 * share the ZooKeeper of zookeeper.ts; replica i listens on each ClickHouse port + i − 1, so
 * replica 1 keeps the single server's HTTP port.
 */
const HOST = '127.0.0.1';
/** The <remote_servers> name the local stack gives its replicas when clickhouse.cluster is empty. */
export const LOCAL_CLUSTER = 'telemetry';

export type ClickhouseProcess = ManagedProcess & { dir: string; configFile: string };

export interface ClickhouseNode {
  /** 1-based; a single server is replica 1 of a cluster of one. */
  readonly replica: number;
  readonly httpPort: number;
  readonly tcpPort: number;
  readonly interserverPort: number;
  readonly url: string;
  readonly process: ClickhouseProcess;
  /** The server's own log files are named after this (clickhouse-server.log for the single server). */
  readonly logName: string;
}

/** The replicated topology written into each replica's configuration. */
export interface ReplicationTopology {
  readonly cluster: string;
  readonly zookeeper: { readonly host: string; readonly port: number };
  readonly nodes: readonly ClickhouseNode[];
}

function processFor(stack: StackConfig, name: string): ClickhouseProcess {
  const { dataDir, runDir, logDir } = stackPaths(stack);
  const dir = join(dataDir, name);
  const configFile = join(dir, 'config.xml');
  return {
    name,
    command: '/usr/sbin/clickhouse-server',
    args: [`--config-file=${configFile}`],
    logFile: join(logDir, `${name}.log`),
    pidFile: join(runDir, `${name}.pid`),
    marker: configFile,
    dir,
    configFile,
  };
}

/** The single server (stack.clickhouseReplicas = 1). */
export function clickhouseProcess(stack: StackConfig): ClickhouseProcess {
  return processFor(stack, 'clickhouse');
}

export function clickhouseUrl(stack: StackConfig): string {
  return `http://${HOST}:${stack.clickhouseHttpPort}`;
}

function replicaNode(stack: StackConfig, replica: number): ClickhouseNode {
  const offset = replica - 1;
  const httpPort = stack.clickhouseHttpPort + offset;
  return {
    replica,
    httpPort,
    tcpPort: stack.clickhouseTcpPort + offset,
    interserverPort: stack.clickhouseInterserverPort + offset,
    url: `http://${HOST}:${httpPort}`,
    process: processFor(stack, `clickhouse-r${replica}`),
    logName: `clickhouse-r${replica}-server`,
  };
}

/** The servers the stack configuration asks for: the single server, or every replica. */
export function clickhouseNodes(stack: StackConfig): ClickhouseNode[] {
  if (stack.clickhouseReplicas === 1) {
    return [
      {
        replica: 1,
        httpPort: stack.clickhouseHttpPort,
        tcpPort: stack.clickhouseTcpPort,
        interserverPort: stack.clickhouseInterserverPort,
        url: clickhouseUrl(stack),
        process: clickhouseProcess(stack),
        logName: 'clickhouse-server',
      },
    ];
  }
  return Array.from({ length: stack.clickhouseReplicas }, (_, index) => replicaNode(stack, index + 1));
}

/** Every ClickHouse process the stack may have started, whatever its current replica count. */
export function allClickhouseProcesses(stack: StackConfig): ClickhouseProcess[] {
  return [clickhouseProcess(stack), replicaNode(stack, 1).process, replicaNode(stack, 2).process];
}

export function replicationTopology(stack: StackConfig, cluster: string): ReplicationTopology {
  return { cluster: cluster || LOCAL_CLUSTER, zookeeper: { host: HOST, port: stack.zookeeperPort }, nodes: clickhouseNodes(stack) };
}

function configXml(node: ClickhouseNode, dir: string, logDir: string, replication = '', isolatedAddress = ''): string {
  return `<?xml version="1.0"?>
<!-- Written by src/stack/clickhouse.ts; edit the stack configuration instead. -->
<yandex>
  <logger>
    <level>warning</level>
    <log>${logDir}/${node.logName}.log</log>
    <errorlog>${logDir}/${node.logName}.err.log</errorlog>
    <size>100M</size>
    <count>3</count>
  </logger>
  <listen_host>${HOST}</listen_host>${isolatedAddress ? `\n  <listen_host>${isolatedAddress}</listen_host>` : ''}
  <http_port>${node.httpPort}</http_port>
  <tcp_port>${node.tcpPort}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <max_concurrent_queries>100</max_concurrent_queries>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <mark_cache_size>268435456</mark_cache_size>
  <keep_alive_timeout>30</keep_alive_timeout>
  <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
  <max_session_timeout>3600</max_session_timeout>
  <default_session_timeout>60</default_session_timeout>
${replication}</yandex>
`;
}

/**
 * What a replica adds: where to fetch parts from it (interserver HTTP), ZooKeeper, the cluster
 * (one shard; internal_replication so that a Distributed table writes one replica and lets
 * replication copy), its macros ({shard}, {replica} in the Replicated engines' ZooKeeper paths)
 * and the distributed DDL queue (so that `ON CLUSTER` statements can be run by hand).
 */
export function replicationXml(topology: ReplicationTopology, node: ClickhouseNode): string {
  const replicas = topology.nodes
    .map((peer) => `        <replica><host>${HOST}</host><port>${peer.tcpPort}</port></replica>\n`)
    .join('');
  return `  <interserver_http_host>${HOST}</interserver_http_host>
  <interserver_http_port>${node.interserverPort}</interserver_http_port>
  <zookeeper>
    <node><host>${topology.zookeeper.host}</host><port>${topology.zookeeper.port}</port></node>
    <session_timeout_ms>30000</session_timeout_ms>
  </zookeeper>
  <remote_servers>
    <${topology.cluster}>
      <shard>
        <internal_replication>true</internal_replication>
${replicas}      </shard>
    </${topology.cluster}>
  </remote_servers>
  <macros>
    <shard>01</shard>
    <replica>r${node.replica}</replica>
  </macros>
  <distributed_ddl>
    <path>/clickhouse/task_queue/ddl</path>
  </distributed_ddl>
`;
}

/**
 * The users of the local server, one per role (src/clickhouse/roles.ts); 18.16 has no CREATE USER,
 * so they live here. Passwords are stored as SHA-256 (the plaintext is in the local secrets file
 * for the stack's clients). `default` keeps loopback access for nothing: its password is random and
 * given to nobody. Profiles carry the permissions 18.16 knows: `readonly` and `allow_ddl`.
 * `isolatedAddress`: its /24 (a network namespace's link, see stack.isolatedClickhouseAddress) may connect too.
 */
export function usersXml(isolatedAddress: string, secrets: LocalSecrets): string {
  const isolatedNetwork = isolatedAddress ? `<ip>${isolatedAddress.split('.').slice(0, 3).join('.')}.0/24</ip>` : '';
  const networks = `<networks><ip>127.0.0.1</ip><ip>::1</ip>${isolatedNetwork}</networks>`;
  const user = (name: string, hash: string, profile: string): string =>
    `    <${name}>\n      <password_sha256_hex>${hash}</password_sha256_hex>\n      ${networks}\n      <profile>${profile}</profile>\n      <quota>default</quota>\n    </${name}>\n`;
  const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
  return `<?xml version="1.0"?>
<!-- Written by src/stack/clickhouse.ts from the local secrets (src/stack/local-credentials.ts); ClickHouse reloads it while running. -->
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
    </default>
    <!-- The aggregator: INSERT and SELECT, ALTER ... DELETE of its checkpoints; no CREATE, DROP, RENAME. -->
    <ingest>
      <max_memory_usage>4000000000</max_memory_usage>
      <allow_ddl>0</allow_ddl>
    </ingest>
    <!-- Dashboards, status, audits, query examples: SELECT only, settings fixed. -->
    <reader>
      <max_memory_usage>4000000000</max_memory_usage>
      <readonly>1</readonly>
    </reader>
  </profiles>
  <users>
${user('default', secrets.clickhouse.defaultUserHash, 'default')}${user('ingest', sha256(secrets.clickhouse.ingest), 'ingest')}${user('reader', sha256(secrets.clickhouse.reader), 'reader')}${user('admin', sha256(secrets.clickhouse.admin), 'default')}  </users>
  <quotas>
    <default>
      <interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
    </default>
  </quotas>
</yandex>
`;
}

/**
 * Writes the users of a server's directory when they differ from what it holds: at start, and on
 * every `stack up` of a running server (ClickHouse rereads users.xml within seconds), so that new
 * roles reach a server started before them.
 */
export function writeUsersXml(stack: StackConfig, node: ClickhouseNode): boolean {
  const file = join(node.process.dir, 'users.xml');
  const text = usersXml(stack.isolatedClickhouseAddress, localSecrets(stack));
  let current: string | undefined;
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === text) return false;
  mkdirSync(node.process.dir, { recursive: true });
  writeFileSync(file, text, { mode: 0o600 });
  return true;
}

/** The configuration file of a server, as startClickhouseNode writes it (exported for tests). */
export function clickhouseConfigXml(stack: StackConfig, node: ClickhouseNode, cluster = ''): string {
  const replication = stack.clickhouseReplicas > 1 ? replicationXml(replicationTopology(stack, cluster), node) : '';
  return configXml(node, node.process.dir, stackPaths(stack).logDir, replication, stack.isolatedClickhouseAddress);
}

/**
 * GET /ping on a connection of its own that is closed afterwards: a keep-alive socket left open by
 * the caller (fetch pools them) makes the server wait for it on shutdown, ~15 s on 18.16.
 */
export function clickhousePing(url: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const get = url.startsWith('https:') ? httpsGet : httpGet;
    const request = get(`${url}/ping`, { agent: false, headers: { connection: 'close' }, timeout: timeoutMs }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve(response.statusCode === 200 && body.startsWith('Ok')));
      response.on('error', () => resolve(false));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', () => resolve(false));
  });
}

/**
 * Starts one server unless it runs already (idempotent). A replica needs ZooKeeper to serve its
 * Replicated tables, not to start: the caller starts ZooKeeper first.
 */
export async function startClickhouseNode(stack: StackConfig, node: ClickhouseNode, cluster = ''): Promise<boolean> {
  const proc = node.process;
  const role = stack.clickhouseReplicas > 1 ? ` of replica ${node.replica}` : '';
  const offsetHint = node.replica > 1 ? ` (replica ${node.replica} uses it + ${node.replica - 1})` : '';
  const port = (kind: string, number: number, key: string) => ({ service: `ClickHouse (${kind}${role})`, host: HOST, port: number, configKey: `${key}${offsetHint}` });
  const started = await launchUnlessRunning(proc, {
    requires: () =>
      requireCommand(
        proc.command,
        'STACK_CLICKHOUSE_MISSING',
        `ClickHouse is not installed (${proc.command} not found). Install it with ` +
          '`apt-get install -y clickhouse-server` (or run `npm run setup`), or point clickhouse.url at a server and set stack.useExistingClickhouse.',
      ),
    prepare: () => {
      for (const sub of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(join(proc.dir, sub), { recursive: true });
      mkdirSync(stackPaths(stack).logDir, { recursive: true });
      writeFileSync(proc.configFile, clickhouseConfigXml(stack, node, cluster));
      writeUsersXml(stack, node);
    },
    ports: [
      port('HTTP', node.httpPort, 'stack.clickhouseHttpPort'),
      port('native', node.tcpPort, 'stack.clickhouseTcpPort'),
      ...(stack.clickhouseReplicas > 1 ? [port('interserver', node.interserverPort, 'stack.clickhouseInterserverPort')] : []),
    ],
    cwd: proc.dir,
  });
  // A running server rereads its users: roles added since it started reach it too.
  if (!started) writeUsersXml(stack, node);
  await waitForClickhouseNode(stack, node);
  return started;
}

export async function waitForClickhouseNode(stack: StackConfig, node: ClickhouseNode, timeoutMs = stack.startTimeoutMs): Promise<void> {
  const errorLog = join(stackPaths(stack).logDir, `${node.logName}.err.log`);
  await waitForProcess(node.process, `ClickHouse did not answer on ${node.url}/ping`, () => clickhousePing(node.url), timeoutMs, errorLog);
}

/** SIGTERM, then SIGKILL once `graceMs` has passed (a busy 18.16 server can take most of a minute to finish its requests). */
export async function stopClickhouseNode(node: ClickhouseNode, graceMs = 60_000): Promise<boolean> {
  return stopProcess(node.process, graceMs);
}

/**
 * The single server and the replicas share ports, so only one kind may run: switching between
 * stack.clickhouseReplicas 1 and 2 goes through `stack down`.
 */
export function assertClickhouseTopology(stack: StackConfig): void {
  const wanted = new Set(clickhouseNodes(stack).map((node) => node.process.name));
  const other = allClickhouseProcesses(stack).find((proc) => !wanted.has(proc.name) && runningPid(proc) !== null);
  if (other) {
    throw new StackError(
      'STACK_CLICKHOUSE_TOPOLOGY',
      `ClickHouse '${other.name}' (pid ${runningPid(other)}) runs, but stack.clickhouseReplicas is ${stack.clickhouseReplicas}; ` +
        'stop the stack first (`npm run stack -- down`), then start it with the replica count you want (--clickhouse-replicas).',
      { running: other.name, replicas: stack.clickhouseReplicas },
    );
  }
}

/** Starts every server of the configuration; `started` is true when any of them was started. */
export async function startClickhouse(
  stack: StackConfig,
  cluster = '',
): Promise<{ started: boolean; url: string; nodes: { name: string; url: string; started: boolean }[] }> {
  assertClickhouseTopology(stack);
  const nodes: { name: string; url: string; started: boolean }[] = [];
  for (const node of clickhouseNodes(stack)) {
    nodes.push({ name: node.process.name, url: node.url, started: await startClickhouseNode(stack, node, cluster) });
  }
  return { started: nodes.some((node) => node.started), url: clickhouseUrl(stack), nodes };
}

export async function waitForClickhouse(stack: StackConfig, timeoutMs = stack.startTimeoutMs): Promise<void> {
  for (const node of clickhouseNodes(stack)) await waitForClickhouseNode(stack, node, timeoutMs);
}

/** Stops every server of the configuration (replicas in parallel: each may take seconds); true when any was running. */
export async function stopClickhouse(stack: StackConfig, graceMs?: number): Promise<boolean> {
  const stopped = await Promise.all(clickhouseNodes(stack).map((node) => stopClickhouseNode(node, graceMs)));
  return stopped.some(Boolean);
}
