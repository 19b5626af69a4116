import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { directPipeline } from '../support/direct-pipeline.ts';
import { PROTO_FILE, codecRulesFor } from '../../loadtest/fleet/formats.ts';
import { eventually, type BridgeProcess } from './edge-harness.ts';

/**
 * Interop: a device publishing its own Protobuf messages (config/codecs/device.proto, encoded with
 * protobufjs as the device's firmware would) over MQTT 5 to the bridge's direct endpoint, read by
 * the configured field map. Audited in ClickHouse: each reading once in readings_raw and in the
 * aggregates, a redelivered message counted once, a refused reading dead-lettered with its reason.
 */
const pipeline = directPipeline({
  name: 'proto',
  partitions: 2,
  tenantPrefix: 'pb',
  accounts: (tenant) => [{ username: 'dev-1', password: 'dev-1-secret', tenant, device: 'dev-1' }],
  env: { TP_MQTT__CODECS: JSON.stringify(codecRulesFor('protobuf')) },
});
const { scenario, tenant, deadLetter } = pipeline;
const Batch = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: true }).lookupType('acme.telemetry.Batch');
let bridge: BridgeProcess;

before(async () => {
  bridge = await pipeline.startBridge();
});

test('a Protobuf device feeds ClickHouse through its field map: each reading once, a redelivery once, a refusal dead-lettered', async () => {
  const device = await pipeline.connect({ clientId: `${tenant}-dev-1`, reconnectPeriod: 0 });
  const t = Date.now();
  const message = Buffer.from(
    Batch.encode(
      Batch.fromObject({
        readings: [
          { id: 'r1', ts: t, metrics: { temperature: 20.5, humidity: 40 } },
          { id: 'r2', ts: t + 1, metrics: { temperature: 21 }, device: 'dev-1' },
          { id: 'r3', ts: t + 2, metrics: { temperature: 22 }, device: 'dev-2' },
        ],
      }),
    ).finish(),
  );
  const topic = `proto/${tenant}/dev-1`;
  await device.publishAsync(topic, message, { qos: 1 });
  await device.publishAsync(topic, message, { qos: 1 }); // redelivered
  const rows = await eventually(
    () => scenario.query<{ id: string; metric: string; n: string }>(`SELECT reading_id AS id, metric, count() AS n FROM ${scenario.database}.readings_raw FINAL WHERE tenant = '${tenant}' GROUP BY reading_id, metric`),
    (found) => found.length >= 3,
    90_000,
    1000,
  );
  assert.deepEqual(rows.map((row) => [row.id, row.metric, Number(row.n)]).sort(), [['r1', 'humidity', 1], ['r1', 'temperature', 1], ['r2', 'temperature', 1]]);
  const aggregated = await eventually(
    async () => Number((await scenario.query<{ n: string }>(`SELECT sum(count) AS n FROM ${scenario.database}.agg_proto FINAL WHERE tenant = '${tenant}'`))[0]?.n ?? 0),
    (n) => n >= 3,
    90_000,
    1000,
  );
  assert.equal(aggregated, 3, 'each value counted once in the aggregates, the redelivery too');
  const text = await (await fetch(`${bridge.url}/metrics`)).text();
  assert.match(text, /tp_edge_rejected_total\{source="mqtt",reason="device-mismatch"\} 2/, 'the foreign reading refused in both deliveries');
  await device.endAsync();
});
