import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackConfig } from '../config/schema.ts';
import { stackPaths } from './paths.ts';
import {
  StackError,
  assertPortFree,
  runningPid,
  startDetached,
  stopProcess,
  waitUntil,
  which,
  type ManagedProcess,
} from './processes.ts';

/**
 * ClickHouse for the local stack: Debian's clickhouse-server (18.16) run with the project's own
 * configuration, data directory and loopback ports. The same XML works on current servers.
 */
const HOST = '127.0.0.1';

export function clickhouseProcess(stack: StackConfig): ManagedProcess & { dir: string; configFile: string } {
  const { dataDir, runDir, logDir } = stackPaths(stack);
  const dir = join(dataDir, 'clickhouse');
  const configFile = join(dir, 'config.xml');
  return {
    name: 'clickhouse',
    command: '/usr/sbin/clickhouse-server',
    args: [`--config-file=${configFile}`],
    logFile: join(logDir, 'clickhouse.log'),
    pidFile: join(runDir, 'clickhouse.pid'),
    marker: configFile,
    dir,
    configFile,
  };
}

export function clickhouseUrl(stack: StackConfig): string {
  return `http://${HOST}:${stack.clickhouseHttpPort}`;
}

function configXml(stack: StackConfig, dir: string, logDir: string): string {
  return `<?xml version="1.0"?>
<!-- Written by src/stack/clickhouse.ts; edit the stack configuration instead. -->
<yandex>
  <logger>
    <level>warning</level>
    <log>${logDir}/clickhouse-server.log</log>
    <errorlog>${logDir}/clickhouse-server.err.log</errorlog>
    <size>100M</size>
    <count>3</count>
  </logger>
  <listen_host>${HOST}</listen_host>
  <http_port>${stack.clickhouseHttpPort}</http_port>
  <tcp_port>${stack.clickhouseTcpPort}</tcp_port>
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
</yandex>
`;
}

const USERS_XML = `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default>
      <max_memory_usage>4000000000</max_memory_usage>
      <load_balancing>random</load_balancing>
    </default>
  </profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas>
    <default>
      <interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval>
    </default>
  </quotas>
</yandex>
`;

export async function clickhousePing(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) });
    return response.ok && (await response.text()).startsWith('Ok');
  } catch {
    return false;
  }
}

export async function startClickhouse(stack: StackConfig): Promise<{ started: boolean; url: string }> {
  const url = clickhouseUrl(stack);
  const proc = clickhouseProcess(stack);
  if (runningPid(proc) === null) {
    if (!which(proc.command)) {
      throw new StackError(
        'STACK_CLICKHOUSE_MISSING',
        `ClickHouse is not installed (${proc.command} not found). Install it with ` +
          '`apt-get install -y clickhouse-server` (or run `npm run setup`), or point clickhouse.url at a server and set stack.useExistingClickhouse.',
      );
    }
    const { logDir } = stackPaths(stack);
    for (const sub of ['data', 'tmp', 'user_files', 'format_schemas']) mkdirSync(join(proc.dir, sub), { recursive: true });
    mkdirSync(logDir, { recursive: true });
    writeFileSync(proc.configFile, configXml(stack, proc.dir, logDir));
    writeFileSync(join(proc.dir, 'users.xml'), USERS_XML);
    await assertPortFree('ClickHouse (HTTP)', HOST, stack.clickhouseHttpPort, 'stack.clickhouseHttpPort');
    await assertPortFree('ClickHouse (native)', HOST, stack.clickhouseTcpPort, 'stack.clickhouseTcpPort');
    startDetached({ ...proc, cwd: proc.dir });
    await waitForClickhouse(stack);
    return { started: true, url };
  }
  await waitForClickhouse(stack);
  return { started: false, url };
}

export async function waitForClickhouse(stack: StackConfig, timeoutMs = stack.startTimeoutMs): Promise<void> {
  const proc = clickhouseProcess(stack);
  const url = clickhouseUrl(stack);
  await waitUntil(`ClickHouse did not answer on ${url}/ping`, () => clickhousePing(url), {
    timeoutMs,
    logFile: join(stackPaths(stack).logDir, 'clickhouse-server.err.log'),
    pid: runningPid(proc),
  });
}

export async function stopClickhouse(stack: StackConfig): Promise<boolean> {
  return stopProcess(clickhouseProcess(stack), 60_000);
}
