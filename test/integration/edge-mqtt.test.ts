import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReadingRecord } from '../../src/core/readings.ts';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import {
  bridgeEnv,
  connectFleet,
  createTopics,
  deleteTopics,
  eventually,
  killAllBridges,
  publishAll,
  readTopic,
  startBridge,
  testConfig,
  uniqueName,
  type BridgeProcess,
} from './edge-harness.ts';

const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('edge-mqtt');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
let bridge: BridgeProcess | undefined;

before(async () => {
  await createTopics(kafka, [
    { topic: names.readings, partitions: 4 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
  bridge = await startBridge(bridgeEnv(config, names, { TP_EDGE__TICK_INTERVAL_MS: '200' }));
});

after(async () => {
  await killAllBridges();
  await deleteTopics(kafka, [names.readings, names.deadLetter]);
});

async function readReadings(): Promise<{ readings: ReadingRecord[]; ticks: number; partitionsTicked: Set<number> }> {
  const records = await readTopic(kafka, names.readings);
  const readings: ReadingRecord[] = [];
  let ticks = 0;
  const partitionsTicked = new Set<number>();
  for (const message of records) {
    const decoded = decodeRecord(message.value!);
    assert.ok(decoded.ok, `readings topic holds only valid records (${decoded.ok ? '' : decoded.reason})`);
    if (decoded.tick !== null) {
      ticks++;
      partitionsTicked.add(message.partition);
    }
    for (const reading of decoded.readings) {
      readings.push(reading);
      assert.equal(message.key?.toString(), reading.device, 'a reading is keyed by its device');
    }
  }
  return { readings, ticks, partitionsTicked };
}

test('every reading published at QoS 1 by the fleet reaches the readings topic, keyed by device', async () => {
  const fleet = await connectFleet(config);
  const devices = 20;
  const perDevice = 100;
  const now = Date.now();
  const messages = [];
  for (let seq = 0; seq < perDevice; seq++) {
    for (let device = 0; device < devices; device++) {
      const payload = seq % 10 === 9
        ? JSON.stringify({ readings: [{ seq, ts: now, metrics: { t: seq } }, { id: `${seq}-b`, ts: new Date(now).toISOString(), metric: 'h', value: 1 }] })
        : JSON.stringify({ seq, ts: now, metrics: { temperature: 20 + device, humidity: 40 } });
      messages.push({ topic: `${config.mqtt.topicPrefix}/acme/dev-${device}`, payload });
    }
  }
  await publishAll(fleet, messages);
  fleet.end();

  const expected = devices * perDevice + devices * (perDevice / 10);
  const { readings } = await eventually(readReadings, (value) => new Set(value.readings.map((r) => `${r.device}/${r.id}`)).size >= expected, 60_000);
  const ids = new Set(readings.map((r) => `${r.device}/${r.id}`));
  assert.equal(ids.size, expected, 'every reading id is in Kafka');
  const sample = readings.find((r) => r.device === 'dev-3' && r.id === '0')!;
  assert.equal(sample.tenant, 'acme');
  assert.deepEqual(sample.metrics, { temperature: 23, humidity: 40 });
  assert.ok(sample.ingestTime >= now - 5000 && sample.ingestTime <= Date.now(), 'ingest time is the bridge clock at receipt');
});

test('ticks reach every partition of the readings topic', async () => {
  const { partitionsTicked } = await eventually(readReadings, (value) => value.partitionsTicked.size === 4, 20_000);
  assert.deepEqual([...partitionsTicked].sort(), [0, 1, 2, 3]);
});

test('GET /metrics, /healthz and /readyz answer on the HTTP port', async () => {
  const metrics = await fetch(`${bridge!.url}/metrics`).then((response) => response.text());
  assert.match(metrics, /tp_edge_readings_published_total\{source="mqtt"\} [1-9]/);
  assert.match(metrics, /tp_edge_state\{state="accepting"\} 1/);
  assert.match(metrics, /tp_edge_ack_latency_seconds_bucket/);
  assert.equal((await fetch(`${bridge!.url}/healthz`)).status, 200);
  const ready = await fetch(`${bridge!.url}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json().then((body: any) => [body.mqtt, body.kafka, body.state]), ['connected', 'ready', 'accepting']);
});

test('SIGTERM stops the bridge gracefully with exit code 0', async () => {
  const code = await bridge!.stop();
  assert.equal(code, 0, bridge!.output().split('\n').slice(-10).join('\n'));
  assert.match(bridge!.output(), /bridge stopped/);
});
