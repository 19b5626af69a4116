import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import mqtt from 'mqtt';
import { roleCredentials } from '../../src/clickhouse/roles.ts';
import { deleteTopics, ensureTopics, pipelineTopics } from '../../src/kafka/admin.ts';
import { pipelineServicesHealth, startPipelineServices } from '../../src/stack/pipeline-services.ts';
import { stackPaths } from '../../src/stack/paths.ts';
import { localClientTls } from '../../src/stack/tls-client.ts';
import { portAnswers, stopAllRecorded } from '../../src/stack/processes.ts';
import { eventually } from '../../src/stack/services.ts';
import { freePort } from './edge-harness.ts';
import { testConfig, uniqueName } from '../support/stack.ts';

/**
 * `stack up --bridges 2 --aggregators 2` on the running servers, in a private data folder with its
 * own topics, share group, database and ports: readings published over MQTT come out as aggregate
 * rows, whichever bridge and aggregator handled them, and every process is stopped by pid.
 *
 * Direct mode (the local stack's default): each bridge is an MQTT endpoint of its own, and the
 * devices use the demo accounts the stack writes; half the readings go to each bridge. Broker mode
 * (stack.mqttMode 'broker'): the devices publish to the local Mosquitto and the bridges share one
 * subscription.
 */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 65535 && (await portAnswers('127.0.0.1', port + 1)) === false) return port;
  }
}

for (const mode of ['direct', 'broker'] as const) {
test(`stack services (${mode} mode): two bridges and two aggregators carry readings from MQTT to ClickHouse`, { timeout: 240_000 }, async () => {
  const run = uniqueName(`svc_${mode}`).replace(/-/g, '_');
  const dataDir = mkdtempSync(join(tmpdir(), 'tp-services-'));
  // Service i takes each base port + i − 1: the pairs keep a file running beside this one off them.
  const edgePort = await freePortPair();
  const metricsPort = await freePortPair();
  const listenPort = await freePortPair();
  const config = testConfig({
    stack: { dataDir, mqttMode: mode },
    kafka: { readingsTopic: `${run}-readings`, deadLetterTopic: `${run}-dead-letter`, lateTopic: `${run}-late` },
    mqtt: { shareGroup: run, clientIdPrefix: run, sessionExpirySeconds: 60, listen: { port: listenPort } },
    // Direct mode: HTTPS and MQTTS with the private data folder's CA (the stack's default). Broker mode
    // keeps plaintext by the explicit setting: the running stack's Mosquitto serves TLS only with its own
    // data folder's CA, and only once restarted with this version's configuration.
    edge: { httpPort: edgePort, ...(mode === 'broker' ? { tls: { mode: 'plaintext' } } : {}) },
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
  const clickhouse = createClient({ url: config.clickhouse.url, ...roleCredentials(config.clickhouse, 'admin') });
  await ensureTopics(config.kafka, pipelineTopics(config.kafka));
  let stopped: string[] = [];
  try {
    const { started, services } = await startPipelineServices(config, { bridges: 2, aggregators: 2 });
    assert.deepEqual(started.sort(), ['aggregator-1', 'aggregator-2', 'bridge-1', 'bridge-2']);
    const tls = localClientTls(config);
    assert.equal(tls.http, mode === 'direct' ? 'https' : 'http');
    assert.deepEqual(services.map((service) => service.url).sort(), [
      `${tls.http}://127.0.0.1:${edgePort}`,
      `${tls.http}://127.0.0.1:${edgePort + 1}`,
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

    assert.equal(config.mqtt.mode, mode);
    // Where the devices connect: each bridge in direct mode, the broker otherwise.
    const endpoints = mode === 'direct' ? [0, 1].map((i) => `mqtts://127.0.0.1:${listenPort + i}`) : [config.mqtt.url];
    const eventTime = Date.now();
    for (const [index, endpoint] of endpoints.entries()) {
      // The demo accounts (src/stack/device-credentials.ts) publish for tenant 'demo'; Mosquitto's fleet account for any.
      const fleet = await mqtt.connectAsync(endpoint, { protocolVersion: 5, username: 'fleet', password: 'fleet-secret', clientId: `${run}-fleet-${index}`, reconnectPeriod: 0, ...(tls.ca ? { ca: tls.ca } : {}) });
      for (let i = 0; i < 20 / endpoints.length; i++) {
        const packet = await fleet.publishAsync(`${config.mqtt.topicPrefix}/demo/dev-${i % 4}`, JSON.stringify({ id: `r${index}-${i}`, ts: eventTime, metrics: { temperature: 20 } }), { qos: 1 });
        // Direct mode answers with the bridge's own PUBACK, after Kafka's ack: success, not an MQTT 5 refusal.
        const reasonCode = (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
        assert.equal(reasonCode, 0, `PUBACK reason ${reasonCode} from ${endpoint}`);
      }
      await fleet.endAsync();
    }

    const counted = await eventually('all 20 readings counted in agg_svc', async () => {
      const rows = await clickhouse
        .query({ query: `SELECT sum(count) AS n FROM ${run}.agg_svc FINAL WHERE metric = 'temperature'`, format: 'JSONEachRow' })
        .then((result) => result.json<{ n: string }>());
      const n = Number(rows[0]?.n ?? 0);
      return n >= 20 ? n : undefined;
    }, 120_000, 500);
    assert.equal(counted, 20);
  } finally {
    stopped = await stopAllRecorded(join(stackPaths(config.stack).runDir, 'services'), 20_000);
    await clickhouse.command({ query: `DROP DATABASE IF EXISTS ${run}` }).catch(() => undefined);
    await clickhouse.close();
    await deleteTopics(config.kafka, pipelineTopics(config.kafka).map((spec) => spec.topic)).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
  // After the body passed: asserted in `finally`, a missing service hid the body's own failure.
  assert.equal(stopped.length, 4, `stopped ${stopped.join(', ')}`);
});
}
