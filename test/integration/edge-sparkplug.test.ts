import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { get as sparkplugNamespace } from 'sparkplug-payload';
import type { UPayload } from 'sparkplug-payload/lib/sparkplugbpayload.js';
import { directPipeline } from '../support/direct-pipeline.ts';
import { eventually, type BridgeProcess } from './edge-harness.ts';

/**
 * Interop: a Sparkplug B edge node as a real one behaves, its payloads built with Eclipse Tahu's
 * `sparkplug-payload`, over MQTT 5 to the bridge's direct endpoint: NBIRTH, DBIRTH, NDATA and DDATA
 * by alias, a seq gap (answered with an NCMD rebirth the node subscribed to), a redelivered
 * message, NDEATH. Audited in ClickHouse: every metric value once in readings_raw and once in the
 * aggregates, the redelivery counted once.
 */
const spB = sparkplugNamespace('spBv1.0')!;
const pipeline = directPipeline({
  name: 'sparkplug',
  partitions: 2,
  tenantPrefix: 'sp',
  accounts: (tenant) => [{ username: 'gw1', password: 'gw1-secret', tenant, device: 'gw1' }],
  env: { TP_MQTT__CODECS: JSON.stringify([{ topic: 'spBv1.0/#', codec: 'sparkplug' }]) },
});
const { scenario, deadLetter, tenant: group } = pipeline;
let bridge: BridgeProcess;

before(async () => {
  bridge = await pipeline.startBridge();
});

async function connectNode(): Promise<MqttClient> {
  const will = { topic: `spBv1.0/${group}/NDEATH/gw1`, payload: Buffer.from(spB.encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }] })), qos: 1 as const };
  return pipeline.connect({ clientId: `${group}-gw1`, reconnectPeriod: 0, will });
}

async function send(client: MqttClient, type: string, payload: UPayload, device?: string): Promise<void> {
  const topic = `spBv1.0/${group}/${type}/gw1${device === undefined ? '' : `/${device}`}`;
  await client.publishAsync(topic, Buffer.from(spB.encodePayload(payload)), { qos: 1 });
}

async function metricsText(): Promise<string> {
  return (await fetch(`${bridge.url}/metrics`)).text();
}

test('a Sparkplug edge node and its device feed ClickHouse: aliases resolved, each value once, a seq gap answered with a rebirth', async () => {
  const node = await connectNode();
  const commands: string[] = [];
  node.on('message', (topic, bytes) => {
    const command = spB.decodePayload(bytes);
    commands.push(`${topic} ${command.metrics?.map((metric) => `${metric.name}=${String(metric.value)}`).join(',')}`);
  });
  const granted = await node.subscribeAsync(`spBv1.0/${group}/NCMD/gw1`, { qos: 0 });
  assert.deepEqual(granted.map((grant) => grant.qos), [0], 'the node may read its own NCMD topic');
  await assert.rejects(node.subscribeAsync(`spBv1.0/${group}/NCMD/gw2`, { qos: 0 }), /Not authorized/, "another node's commands are not the account's");

  const t = Date.now();
  await send(node, 'NBIRTH', { timestamp: t, seq: 0, metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }, { name: 'Node Control/Rebirth', type: 'Boolean', value: false }, { name: 'temperature', alias: 1, type: 'Double', value: 20 }] });
  await send(node, 'DBIRTH', { timestamp: t, seq: 1, metrics: [{ name: 'rpm', alias: 10, type: 'Int32', value: 0 }, { name: 'running', alias: 11, type: 'Boolean', value: false }] }, 'pump');
  await send(node, 'NDATA', { timestamp: t + 1, seq: 2, metrics: [{ alias: 1, type: 'Double', value: 21.5 }] });
  await send(node, 'DDATA', { timestamp: t + 2, seq: 3, metrics: [{ alias: 10, type: 'Int32', value: 1500 }, { alias: 11, type: 'Boolean', value: true }] }, 'pump');
  // seq 4 never arrives: a gap.
  const gap: UPayload = { timestamp: t + 3, seq: 5, metrics: [{ alias: 1, type: 'Double', value: 22 }, { name: 'label', type: 'String', value: 'not a number' }] };
  await send(node, 'NDATA', gap);
  await send(node, 'NDATA', gap); // the same message again, as a redelivery
  await eventually(async () => commands, (seen) => seen.length > 0, 10_000, 100);
  assert.deepEqual(commands, [`spBv1.0/${group}/NCMD/gw1 Node Control/Rebirth=true`], 'one rebirth request, delivered to the subscribed node');

  const expected = new Map([
    [`gw1|${2}-${t + 1}`, ['temperature']],
    [`gw1.pump|${3}-${t + 2}`, ['rpm', 'running']],
    [`gw1|${5}-${t + 3}`, ['temperature']],
  ]);
  const values = [...expected.values()].reduce((sum, names) => sum + names.length, 0);
  const rows = await eventually(
    () => scenario.query<{ device: string; id: string; metric: string; value: number; n: string }>(`SELECT device, reading_id AS id, metric, any(value) AS value, count() AS n FROM ${scenario.database}.readings_raw FINAL WHERE tenant = '${group}' GROUP BY device, reading_id, metric ORDER BY device, id, metric`),
    (found) => found.length >= values,
    90_000,
    1000,
  );
  assert.deepEqual(rows.map((row) => [`${row.device}|${row.id}`, row.metric, Number(row.n)]).sort(), [...expected].flatMap(([key, names]) => names.map((name) => [key, name, 1])).sort());
  assert.deepEqual(rows.filter((row) => row.metric === 'running').map((row) => Number(row.value)), [1], 'a boolean lands as 1');
  const aggregated = await eventually(
    async () => Number((await scenario.query<{ n: string }>(`SELECT sum(count) AS n FROM ${scenario.database}.agg_sparkplug FINAL WHERE tenant = '${group}'`))[0]?.n ?? 0),
    (n) => n >= values,
    90_000,
    1000,
  );
  assert.equal(aggregated, values, 'each value counted once in the aggregates, the redelivery too');

  await send(node, 'NDEATH', { timestamp: Date.now(), metrics: [{ name: 'bdSeq', type: 'Int64', value: 0 }] });
  const text = await eventually(metricsText, (body) => /tp_edge_sparkplug_edge_nodes\{state="offline"\} 1/.test(body), 10_000, 200);
  assert.match(text, /tp_edge_sparkplug_devices\{state="offline"\} 1/, "the node's device went offline with it");
  assert.match(text, /tp_edge_sparkplug_seq_gaps_total 1/);
  assert.match(text, /tp_edge_sparkplug_rebirth_requests_total\{cause="seq-gap",delivered="true"\} 1/);
  assert.match(text, /tp_edge_rejected_total\{source="mqtt",reason="unsupported-type"\} 2/, 'the string metric refused, in both deliveries');
  await node.endAsync();
});
