import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import mqtt from 'mqtt';
import { deleteTopics, ensureTopics, pipelineTopics } from '../../src/kafka/admin.ts';
import { pipelineServicesHealth, startPipelineServices } from '../../src/stack/pipeline-services.ts';
import { stackPaths } from '../../src/stack/paths.ts';
import { stopAllRecorded } from '../../src/stack/processes.ts';
import { freePort } from './edge-harness.ts';
import { testConfig, uniqueName } from '../support/stack.ts';

/**
 * `stack up --bridges 2 --aggregators 2` on the running servers, in a private data folder with its
 * own topics, share group, database and ports: a reading published over MQTT comes out as an
 * aggregate row, whichever bridge and aggregator handled it, and every process is stopped by pid.
 */
test('stack services: two bridges and two aggregators carry a reading from MQTT to ClickHouse', { timeout: 240_000 }, async () => {
  const run = uniqueName('svc').replace(/-/g, '_');
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-services-'));
  const edgePort = await freePort();
  const metricsPort = await freePort();
  const config = testConfig({
    stack: { dataDir },
    kafka: { readingsTopic: `${run}-readings`, deadLetterTopic: `${run}-dead-letter`, lateTopic: `${run}-late` },
    mqtt: { shareGroup: run, clientIdPrefix: run, sessionExpirySeconds: 60 },
    edge: { httpPort: edgePort },
    clickhouse: { database: run },
    aggregator: {
      metricsPort,
      pipelines: [
        {
          name: 'svc',
          guarantee: 'exactly-once',
          window: { kind: 'tumbling', sizeMs: 1000 },
          watermark: { kind: 'fixed', delayMs: 500 },
          latePolicy: { kind: 'drop' },
          idleTimeoutMs: 1000,
          consumerGroup: `${run}-svc`,
          table: 'agg_svc',
        },
      ],
    },
  });
  const clickhouse = createClient({ url: config.clickhouse.url });
  await ensureTopics(config.kafka.brokers, pipelineTopics(config.kafka));
  try {
    const { started, services } = await startPipelineServices(config, { bridges: 2, aggregators: 2 });
    assert.deepEqual(started.sort(), ['aggregator-1', 'aggregator-2', 'bridge-1', 'bridge-2']);
    assert.deepEqual(services.map((service) => service.url).sort(), [
      `http://127.0.0.1:${edgePort}`,
      `http://127.0.0.1:${edgePort + 1}`,
      `http://127.0.0.1:${metricsPort}`,
      `http://127.0.0.1:${metricsPort + 1}`,
    ].sort());
    const health = await pipelineServicesHealth(config);
    assert.equal(health.length, 4);
    assert.ok(health.every((entry) => entry.healthy), JSON.stringify(health));

    // A second start leaves the running instances alone.
    const again = await startPipelineServices(config, { bridges: 2, aggregators: 2 });
    assert.deepEqual(again.started, []);
    assert.equal(again.alreadyRunning.length, 4);

    const fleet = await mqtt.connectAsync(config.mqtt.url, { protocolVersion: 5, username: 'fleet', password: 'fleet-secret', clientId: `${run}-fleet` });
    const eventTime = Date.now();
    for (let i = 0; i < 20; i++) {
      await fleet.publishAsync(`${config.mqtt.topicPrefix}/acme/dev-${i % 4}`, JSON.stringify({ id: `r${i}`, ts: eventTime, metrics: { temperature: 20 } }), { qos: 1 });
    }
    await fleet.endAsync();

    const deadline = Date.now() + 120_000;
    let counted = 0;
    while (Date.now() < deadline) {
      const rows = await clickhouse
        .query({ query: `SELECT sum(count) AS n FROM ${run}.agg_svc FINAL WHERE metric = 'temperature'`, format: 'JSONEachRow' })
        .then((result) => result.json<{ n: string }>(), () => [{ n: '0' }]);
      counted = Number(rows[0]?.n ?? 0);
      if (counted >= 20) break;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    assert.equal(counted, 20);
  } finally {
    const stopped = await stopAllRecorded(join(stackPaths(config.stack).runDir, 'services'), 20_000);
    assert.equal(stopped.length, 4, `stopped ${stopped.join(', ')}`);
    await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${run}` }).catch(() => undefined);
    await clickhouse.close();
    await deleteTopics(config.kafka.brokers, pipelineTopics(config.kafka).map((spec) => spec.topic)).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
