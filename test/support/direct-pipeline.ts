import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { IClientOptions, MqttClient } from 'mqtt';
import { AggregatorScenario } from './aggregator-harness.ts';
import { directEndpoint, type DeviceAccount, type DirectEndpoint } from './direct-bridge.ts';
import { createTopics, deleteTopics, eventually, killAllBridges, uniqueName, type BridgeProcess } from '../integration/edge-harness.ts';

/**
 * Direct mode end to end for a test file: the file's topics, an exactly-once aggregator (pipeline
 * and table `agg_<name>`) writing into its database, and a bridge endpoint with the file's device
 * accounts (by default gateway `gw` and device `d1`) whose readings the file audits in ClickHouse.
 * Registers the file's before and after hooks; a file's own before hook runs after them.
 */
export interface DirectPipelineOptions {
  readonly name?: string;
  readonly partitions?: number;
  readonly tenantPrefix?: string;
  readonly accounts?: (tenant: string) => DeviceAccount[];
  /** Bridge settings (TP_*) beside the endpoint's. */
  readonly env?: Record<string, string>;
}

export interface DirectPipeline {
  readonly scenario: AggregatorScenario;
  readonly deadLetter: string;
  readonly tenant: string;
  /** The endpoint's port (set once the file's before hook has run). */
  port(): number;
  startBridge(): Promise<BridgeProcess>;
  /** Connects as the first account unless `options` names another. */
  connect(options: IClientOptions): Promise<MqttClient>;
  /** Every id once in readings_raw under FINAL and counted once in the aggregates, for devices whose name starts with `device`. */
  assertExactlyOnceInClickHouse(device: string, ids: readonly string[]): Promise<void>;
}

export const directPayload = (id: string): string => JSON.stringify({ id, ts: Date.now(), metrics: { v: 1 } });

const defaultAccounts = (tenant: string): DeviceAccount[] => [
  { username: 'gw', password: 'gw-secret', tenant, device: '*' },
  { username: 'd1', password: 'd1-secret', tenant, device: 'd1' },
];

export function directPipeline(options: DirectPipelineOptions = {}): DirectPipeline {
  const name = options.name ?? 'direct';
  const scenario = new AggregatorScenario([{ name, guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 2000 }, watermark: { kind: 'fixed', delayMs: 1000 } }], { partitions: options.partitions ?? 4 });
  const kafka = scenario.config.kafka;
  const deadLetter = `${scenario.topic}-dead-letter`;
  const tenant = uniqueName(options.tenantPrefix ?? 't').replace(/[^A-Za-z0-9_-]/g, '_');
  const accounts = (options.accounts ?? defaultAccounts)(tenant);
  // Whichever hook or test needs it first makes it (the order of a file's root hooks is not promised).
  let made: Promise<DirectEndpoint> | undefined;
  const ready = (): Promise<DirectEndpoint> =>
    (made ??= (async () => {
      await scenario.setUp();
      await createTopics(kafka, [{ topic: deadLetter, partitions: 1 }]);
      scenario.startAggregator('a');
      return directEndpoint({
        brokers: kafka.brokers,
        readingsTopic: scenario.topic,
        deadLetterTopic: deadLetter,
        accounts,
        ...(options.env ? { env: options.env } : {}),
      });
    })());
  let port = 0;

  before(async () => {
    port = (await ready()).port;
  });

  after(async () => {
    await killAllBridges();
    await scenario.tearDown();
    await deleteTopics(kafka, [scenario.topic, `${scenario.topic}-late`, deadLetter]);
  });

  /** reading id → how many rows readings_raw holds for it under FINAL (one metric per reading here). */
  const clickhouseIds = async (device: string): Promise<Map<string, number>> => {
    const rows = await scenario.query<{ id: string; n: string }>(
      `SELECT reading_id AS id, count() AS n FROM ${scenario.database}.readings_raw FINAL WHERE tenant = '${tenant}' AND device LIKE '${device}%' GROUP BY reading_id`,
    );
    return new Map(rows.map((row) => [row.id, Number(row.n)]));
  };
  const aggregatedCount = async (device: string): Promise<number> => {
    const [row] = await scenario.query<{ n: string }>(`SELECT sum(count) AS n FROM ${scenario.database}.agg_${name} FINAL WHERE tenant = '${tenant}' AND device LIKE '${device}%'`);
    return Number(row?.n ?? 0);
  };

  return {
    scenario,
    deadLetter,
    tenant,
    port: () => port,
    startBridge: async () => (await ready()).start(),
    connect: async (clientOptions) => (await ready()).connect(accounts[0]!, clientOptions),
    async assertExactlyOnceInClickHouse(device, ids) {
      const stored = await eventually(() => clickhouseIds(device), (found) => ids.every((id) => found.has(id)), 90_000, 1000);
      const missing = ids.filter((id) => !stored.has(id));
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged readings missing from readings_raw`);
      const doubled = [...stored].filter(([, n]) => n !== 1);
      assert.deepEqual(doubled.slice(0, 10), [], 'each reading once in readings_raw');
      const aggregated = await eventually(() => aggregatedCount(device), (n) => n >= stored.size, 90_000, 1000);
      assert.equal(aggregated, stored.size, 'each reading counted once in the aggregates');
    },
  };
}
