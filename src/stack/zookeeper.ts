import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { StackConfig } from './config-schema.ts';
import { stackPaths } from './paths.ts';
import { launchUnlessRunning, requireCommand, waitForProcess } from './launch.ts';
import { StackError, runningPid, stopProcess, type ManagedProcess } from './processes.ts';

/**
 * ZooKeeper for replicated ClickHouse: Debian's `zookeeper` package (3.8) run as one standalone
 * server on loopback with the project's own zoo.cfg and data under <dataDir>/zookeeper. The JVM is
 * started directly (not through zkServer.sh, which wants /etc/zookeeper and /var/log); the jar's
 * manifest names its dependencies, slf4j-simple sends the log lines to the process log.
 */
const HOST = '127.0.0.1';
const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const SLF4J_BINDING = '/usr/share/java/slf4j-simple.jar';
const MAIN_CLASS = 'org.apache.zookeeper.server.ZooKeeperServerMain';

export function zookeeperProcess(stack: StackConfig): ManagedProcess & { dir: string; configFile: string } {
  const { dataDir, runDir, logDir } = stackPaths(stack);
  const dir = join(dataDir, 'zookeeper');
  const configFile = join(dir, 'zoo.cfg');
  return {
    name: 'zookeeper',
    command: 'java',
    args: [
      '-Xmx256m',
      '-XX:+UseSerialGC',
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      '-Dzookeeper.jmx.log4j.disable=true',
      '-cp',
      `${ZOOKEEPER_JAR}:${SLF4J_BINDING}`,
      MAIN_CLASS,
      configFile,
    ],
    logFile: join(logDir, 'zookeeper.log'),
    pidFile: join(runDir, 'zookeeper.pid'),
    marker: configFile,
    dir,
    configFile,
  };
}

/** 'host:port' as ClickHouse's <zookeeper> section names it. */
export function zookeeperEndpoint(stack: StackConfig): { host: string; port: number } {
  return { host: HOST, port: stack.zookeeperPort };
}

function zooCfg(stack: StackConfig, dir: string): string {
  return [
    '# Written by src/stack/zookeeper.ts; edit the stack configuration instead.',
    'tickTime=2000',
    'initLimit=10',
    'syncLimit=5',
    `dataDir=${dir}/data`,
    `clientPort=${stack.zookeeperPort}`,
    `clientPortAddress=${HOST}`,
    // The admin server (Jetty, port 8080 by default) would collide with the edge's HTTP intake.
    'admin.enableServer=false',
    '4lw.commands.whitelist=ruok,srvr,mntr',
    'maxClientCnxns=100',
    // Old snapshots and logs are purged hourly, so that a long-lived local stack stays small.
    'autopurge.snapRetainCount=3',
    'autopurge.purgeInterval=1',
    '',
  ].join('\n');
}

/** The four-letter `ruok` command; a serving ZooKeeper answers `imok`. */
export function zookeeperRuok(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    let answer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => socket.write('ruok'));
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
    });
    socket.once('end', () => done(answer === 'imok'));
    socket.once('error', () => done(false));
  });
}

export async function startZookeeper(stack: StackConfig): Promise<{ started: boolean; endpoint: string }> {
  const proc = zookeeperProcess(stack);
  const started = await launchUnlessRunning(proc, {
    requires: () => {
      requireCommand('java', 'STACK_JAVA_MISSING', 'ZooKeeper needs a Java runtime (java not found on PATH). Install it with `apt-get install -y default-jre-headless`.');
      if (!existsSync(ZOOKEEPER_JAR) || !existsSync(SLF4J_BINDING)) {
        throw new StackError(
          'STACK_ZOOKEEPER_MISSING',
          `ZooKeeper is not installed (${existsSync(ZOOKEEPER_JAR) ? SLF4J_BINDING : ZOOKEEPER_JAR} not found). ` +
            'Install it with `apt-get install -y zookeeper` (or run `npm run setup`).',
        );
      }
    },
    prepare: () => {
      mkdirSync(join(proc.dir, 'data'), { recursive: true });
      writeFileSync(proc.configFile, zooCfg(stack, proc.dir));
    },
    ports: [{ service: 'ZooKeeper', host: HOST, port: stack.zookeeperPort, configKey: 'stack.zookeeperPort', graceMs: 2000 }],
    cwd: proc.dir,
  });
  await waitForZookeeper(stack);
  return { started, endpoint: `${HOST}:${stack.zookeeperPort}` };
}

export async function waitForZookeeper(stack: StackConfig, timeoutMs = stack.startTimeoutMs): Promise<void> {
  const what = `ZooKeeper did not answer 'ruok' on ${HOST}:${stack.zookeeperPort}`;
  await waitForProcess(zookeeperProcess(stack), what, () => zookeeperRuok(HOST, stack.zookeeperPort), timeoutMs);
}

export async function stopZookeeper(stack: StackConfig): Promise<boolean> {
  return stopProcess(zookeeperProcess(stack), 30_000);
}

export function zookeeperPid(stack: StackConfig): number | null {
  return runningPid(zookeeperProcess(stack));
}
