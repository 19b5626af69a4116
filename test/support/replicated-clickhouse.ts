import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseStackConfig } from '../../src/stack/config.ts';
import type { LocalStackConfig } from '../../src/stack/config-schema.ts';
import { connectClickHouse, type ClickHouseConnection } from '../../src/clickhouse/client.ts';
import { asRole } from '../../src/clickhouse/roles.ts';
import { clickhouseNodes, startClickhouse, stopClickhouse, type ClickhouseNode } from '../../src/stack/clickhouse.ts';
import { configForLocalStack } from '../../src/stack/stack.ts';
import { startZookeeper, stopZookeeper } from '../../src/stack/zookeeper.ts';

export interface ReplicaPorts {
  readonly http: number;
  readonly tcp: number;
  readonly interserver: number;
  readonly zookeeper: number;
}

export interface PrivateReplicas {
  /** The local stack's configuration for these replicas (cluster and replicaUrls set). */
  readonly config: LocalStackConfig;
  readonly nodes: ClickhouseNode[];
  /** One connection per replica, without failover. */
  readonly direct: ClickHouseConnection[];
  /** Closes the connections, stops both replicas and ZooKeeper by pid, removes the data. */
  stop(): Promise<void>;
}

/**
 * ZooKeeper and two ClickHouse replicas of a test's own (private ports and a temporary data
 * directory, so the shared stack on 8123 is untouched). `settings` are merged into the
 * configuration beside the stack's.
 */
export async function startPrivateReplicas(ports: ReplicaPorts, settings: Record<string, unknown> = {}): Promise<PrivateReplicas> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-replicas-'));
  const config = configForLocalStack(
    parseStackConfig({
      ...settings,
      stack: {
        dataDir,
        clickhouseReplicas: 2,
        clickhouseHttpPort: ports.http,
        clickhouseTcpPort: ports.tcp,
        clickhouseInterserverPort: ports.interserver,
        zookeeperPort: ports.zookeeper,
      },
    }),
  );
  const nodes = clickhouseNodes(config.stack);
  const direct: ClickHouseConnection[] = [];
  const stop = async (): Promise<void> => {
    for (const replica of direct) await replica.close();
    await stopClickhouse(config.stack);
    await stopZookeeper(config.stack);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await startZookeeper(config.stack);
    await startClickhouse(config.stack, config.clickhouse.cluster);
    for (const node of nodes) direct.push(await connectClickHouse({ ...asRole(config.clickhouse, 'admin'), url: node.url, replicaUrls: [] }));
  } catch (error) {
    await stop();
    throw error;
  }
  return { config, nodes, direct, stop };
}
