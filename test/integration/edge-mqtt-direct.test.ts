import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { kafkaStatus } from '../../src/stack/kafka.ts';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { directEndpoint, type DirectEndpoint } from '../support/direct-bridge.ts';
import { createTopics, deleteTopics, eventually, killAllBridges, readTopic, uniqueName, type BridgeProcess } from './edge-harness.ts';

/**
 * Direct mode against the real Kafka and ClickHouse: the bridge is the devices' MQTT server.
 * A device's PUBACK follows Kafka's ack (Kafka frozen → none; thawed → all), a bridge killed
 * mid-stream loses no acknowledged reading (the device resends; ClickHouse holds each once),
 * clients nobody here wrote (mosquitto_pub 3.1.1 and 5, paho-mqtt) get every QoS through, and
 * refusals carry their MQTT 5 reason codes.
 */
const scenario = new AggregatorScenario([{ name: 'direct', guarantee: 'exactly-once', window: { kind: 'tumbling', sizeMs: 2000 }, watermark: { kind: 'fixed', delayMs: 1000 } }], { partitions: 4 });
const kafka = scenario.config.kafka;
const deadLetter = `${scenario.topic}-dead-letter`;
const tenant = uniqueName('t').replace(/[^A-Za-z0-9_-]/g, '_');
let endpoint: DirectEndpoint;
let port = 0;

before(async () => {
  await scenario.setUp();
  await createTopics(kafka, [{ topic: deadLetter, partitions: 1 }]);
  scenario.startAggregator('a');
  endpoint = await directEndpoint({
    brokers: kafka.brokers,
    readingsTopic: scenario.topic,
    deadLetterTopic: deadLetter,
    accounts: [
      { username: 'gw', password: 'gw-secret', tenant, device: '*' },
      { username: 'd1', password: 'd1-secret', tenant, device: 'd1' },
    ],
  });
  port = endpoint.port;
});

after(async () => {
  await killAllBridges();
  await scenario.tearDown();
  await deleteTopics(kafka, [scenario.topic, `${scenario.topic}-late`, deadLetter]);
});

const startDirectBridge = (): Promise<BridgeProcess> => endpoint.start();
const connect = (options: IClientOptions): Promise<MqttClient> => endpoint.connect({ username: 'gw', password: 'gw-secret' }, options);

const payload = (id: string): string => JSON.stringify({ id, ts: Date.now(), metrics: { v: 1 } });

/** reading id → how many rows readings_raw holds for it under FINAL (one metric per reading here). */
async function clickhouseIds(device: string): Promise<Map<string, number>> {
  const rows = await scenario.query<{ id: string; n: string }>(
    `SELECT reading_id AS id, count() AS n FROM ${scenario.database}.readings_raw FINAL WHERE tenant = '${tenant}' AND device LIKE '${device}%' GROUP BY reading_id`,
  );
  return new Map(rows.map((row) => [row.id, Number(row.n)]));
}

async function aggregatedCount(device: string): Promise<number> {
  const [row] = await scenario.query<{ n: string }>(`SELECT sum(count) AS n FROM ${scenario.database}.agg_direct FINAL WHERE tenant = '${tenant}' AND device LIKE '${device}%'`);
  return Number(row?.n ?? 0);
}

async function assertExactlyOnceInClickHouse(device: string, ids: readonly string[]): Promise<void> {
  const stored = await eventually(() => clickhouseIds(device), (found) => ids.every((id) => found.has(id)), 90_000, 1000);
  const missing = ids.filter((id) => !stored.has(id));
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged readings missing from readings_raw`);
  const doubled = [...stored].filter(([, n]) => n !== 1);
  assert.deepEqual(doubled.slice(0, 10), [], 'each reading once in readings_raw');
  const aggregated = await eventually(() => aggregatedCount(device), (n) => n >= stored.size, 90_000, 1000);
  assert.equal(aggregated, stored.size, 'each reading counted once in the aggregates');
}

async function bridgeReceived(bridge: BridgeProcess): Promise<number> {
  const text = await fetch(`${bridge.url}/metrics`).then((response) => response.text(), () => '');
  return Number(/^tp_edge_messages_received_total\{source="mqtt"\} (\S+)$/m.exec(text)?.[1] ?? 0);
}

test('Kafka frozen (SIGSTOP): no PUBACK arrives; thawed (SIGCONT): every PUBACK does, and every reading is in ClickHouse', async (t) => {
  const bridge = await startDirectBridge();
  t.after(() => bridge.stop());
  const client = await connect({ clientId: uniqueName('frozen') });
  t.after(() => client.end(true));
  const pid = kafkaStatus(scenario.config.stack)[0]?.pid;
  assert.ok(pid, 'the local Kafka runs');
  const ids = Array.from({ length: 50 }, (_, index) => `frozen-${index}`);
  const acked: string[] = [];
  process.kill(pid, 'SIGSTOP');
  let thawed = false;
  const thaw = (): void => {
    if (thawed) return;
    thawed = true;
    process.kill(pid, 'SIGCONT');
  };
  t.after(thaw); // whatever fails below, Kafka runs again
  try {
    const before = await bridgeReceived(bridge);
    for (const id of ids) client.publish(`telemetry/${tenant}/frozen-${Number(id.split('-')[1]) % 5}`, payload(id), { qos: 1 }, (error) => !error && acked.push(id));
    // The bridge has them all; what matters is what the devices hear while Kafka cannot answer.
    await eventually(() => bridgeReceived(bridge), (n) => n >= before + ids.length, 10_000, 50);
    // A window of 4 s in which no PUBACK may arrive (a wrong one ends it at once).
    await eventually(async () => acked.length, (n) => n > 0, 4000, 50);
    assert.equal(acked.length, 0, 'no PUBACK while Kafka is frozen');
  } finally {
    thaw();
  }
  await eventually(async () => acked.length, (n) => n === ids.length, 60_000, 100);
  assert.equal(acked.length, ids.length, 'every PUBACK after Kafka is back');
  await assertExactlyOnceInClickHouse('frozen-', ids);
});

test('the bridge SIGKILLed mid-stream while Kafka is frozen: the device resends to the restarted bridge; ClickHouse holds every acknowledged reading exactly once', async (t) => {
  let bridge = await startDirectBridge();
  t.after(() => bridge.stop());
  const client = await connect({ clientId: uniqueName('killed'), clean: false, properties: { sessionExpiryInterval: 300 } });
  t.after(() => client.end(true));
  const total = 3000;
  const acked = new Set<string>();
  let failed = 0;
  let next = 0;
  let outstanding = 0;
  const done = new Promise<void>((resolve) => {
    const pump = (): void => {
      while (outstanding < 100 && next < total) {
        const id = `kill-${next++}`;
        outstanding++;
        client.publish(`telemetry/${tenant}/kill-${next % 7}`, payload(id), { qos: 1 }, (error) => {
          outstanding--;
          if (error) failed++;
          else acked.add(id);
          if (next >= total && outstanding === 0) resolve();
          else setImmediate(pump);
        });
      }
    };
    pump();
  });
  await eventually(async () => acked.size, (n) => n >= 800, 60_000, 20);
  // Killed while Kafka is frozen: every message the bridge holds then is one Kafka never confirmed.
  const pid = kafkaStatus(scenario.config.stack)[0]?.pid;
  assert.ok(pid, 'the local Kafka runs');
  process.kill(pid, 'SIGSTOP');
  let thawed = false;
  const thaw = (): void => {
    if (!thawed) process.kill(pid, 'SIGCONT');
    thawed = true;
  };
  t.after(thaw);
  let heldAtKill = 0;
  try {
    const received = await eventually(() => bridgeReceived(bridge), (n) => n >= next, 5000, 20);
    heldAtKill = received - acked.size;
    await bridge.kill();
  } finally {
    thaw();
  }
  const ackedAtKill = acked.size;
  bridge = await startDirectBridge();
  await done;
  assert.equal(failed, 0, 'no publish failed: the device kept and resent what was not acknowledged');
  assert.ok(ackedAtKill < total, 'the kill happened mid-stream');
  assert.equal(acked.size, total);
  const inKafka = new Map<string, number>();
  for (const record of await readTopic(kafka, scenario.topic)) {
    const decoded = decodeRecord(record.value!);
    if (!decoded.ok) continue;
    for (const reading of decoded.readings) if (reading.device.startsWith('kill-')) inKafka.set(reading.id, (inKafka.get(reading.id) ?? 0) + 1);
  }
  assert.deepEqual([...acked].filter((id) => !inKafka.has(id)).slice(0, 10), [], 'every acknowledged reading is in Kafka');
  t.diagnostic(`acknowledged before the kill: ${ackedAtKill}; received but unacknowledged at the kill: ${heldAtKill}; readings resent and written twice to Kafka: ${[...inKafka.values()].filter((n) => n > 1).length}`);
  await assertExactlyOnceInClickHouse('kill-', [...acked]);
});

function run(command: string, args: readonly string[], input?: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => resolve({ code, output }));
    child.stdin.end(input ?? '');
  });
}

const PAHO = `
import json, sys, time
import paho.mqtt.client as mqtt
port, version, tenant, ids = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(',')
protocol = mqtt.MQTTv5 if version == '5' else mqtt.MQTTv311
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id='paho-' + version + '-' + tenant, protocol=protocol)
client.username_pw_set('gw', 'gw-secret')
client.connect('127.0.0.1', port)
client.loop_start()
for qos in (0, 1, 2):
    for id in ids:
        reading = {'id': id + '-q' + str(qos), 'ts': int(time.time() * 1000), 'metrics': {'v': 1}}
        info = client.publish('telemetry/' + tenant + '/paho-' + version, json.dumps(reading), qos=qos)
        info.wait_for_publish(30)
        if qos > 0 and not info.is_published():
            sys.exit('not acknowledged: ' + reading['id'])
client.disconnect()
client.loop_stop()
`;

test('interop: mosquitto_pub (MQTT 3.1.1 and 5) and paho-mqtt (3.1.1 and 5) at QoS 0, 1 and 2, audited in ClickHouse', async (t) => {
  const bridge = await startDirectBridge();
  t.after(() => bridge.stop());
  const expected: string[] = [];
  for (const version of ['mqttv311', 'mqttv5'] as const) {
    for (const qos of [0, 1, 2]) {
      const ids = Array.from({ length: 5 }, (_, index) => `mp-${version}-q${qos}-${index}`);
      expected.push(...ids);
      const lines = ids.map((id) => JSON.stringify({ id, ts: Date.now(), metrics: { v: qos } })).join('\n');
      const result = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', version, '-q', String(qos), '-u', 'gw', '-P', 'gw-secret', '-i', `mp-${version}-${qos}`, '-t', `telemetry/${tenant}/mp-${version}`, '-l'], `${lines}\n`);
      assert.equal(result.code, 0, `mosquitto_pub -V ${version} -q ${qos}: ${result.output}`);
    }
  }
  for (const version of ['311', '5']) {
    const ids = Array.from({ length: 5 }, (_, index) => `paho-${version}-${index}`);
    for (const qos of [0, 1, 2]) expected.push(...ids.map((id) => `${id}-q${qos}`));
    const result = await run('python3', ['-c', PAHO, String(port), version, tenant, ids.join(',')]);
    assert.equal(result.code, 0, `paho-mqtt MQTT ${version}: ${result.output}`);
  }
  await assertExactlyOnceInClickHouse('mp-', expected.filter((id) => id.startsWith('mp-')));
  await assertExactlyOnceInClickHouse('paho-', expected.filter((id) => id.startsWith('paho-')));
});

test('refusals: wrong password, another device’s or tenant’s topic (0x87), malformed payload (0x99), SUBSCRIBE refused; dead-lettered', async (t) => {
  const bridge = await startDirectBridge();
  t.after(() => bridge.stop());
  const wrong = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, username: 'd1', password: 'nope', reconnectPeriod: 0 });
  const refused = await new Promise<{ code?: number }>((resolve) => wrong.once('error', (error) => resolve(error as { code?: number })));
  wrong.end(true);
  assert.equal(refused.code, 0x86);

  const device = await connect({ clientId: uniqueName('d1'), username: 'd1', password: 'd1-secret' });
  t.after(() => device.end(true));
  const outcome = (topic: string, body: string): Promise<number> =>
    new Promise((resolve) => device.publish(topic, body, { qos: 1 }, (error, packet) => resolve(error ? ((error as { code?: number }).code ?? -1) : ((packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0))));
  assert.equal(await outcome(`telemetry/${tenant}/d1`, payload('ok-1')), 0);
  assert.equal(await outcome(`telemetry/${tenant}/d2`, payload('other-device')), 0x87);
  assert.equal(await outcome(`telemetry/other-tenant/d1`, payload('other-tenant')), 0x87);
  assert.equal(await outcome(`telemetry/${tenant}/d1`, '{"id":"broken'), 0x99);
  // mqtt.js turns a SUBACK that refuses into an error carrying the packet.
  const granted = await device.subscribeAsync([`telemetry/${tenant}/+`, `$share/bridges/telemetry/+/+`], { qos: 1 }).then(
    () => 'granted',
    (error: { packet?: { granted?: number[] } }) => error.packet?.granted,
  );
  assert.deepEqual(granted, [0x87, 0x9e]);

  const letters = await eventually(
    async () => (await readTopic(kafka, deadLetter)).map((record) => JSON.parse(record.value!.toString()) as { reason: string; origin: string }),
    (found) => found.length >= 3,
  );
  assert.deepEqual(letters.map((letter) => letter.reason).sort(), ['device-mismatch', 'malformed-json', 'tenant-mismatch']);
  const metrics = await fetch(`${bridge.url}/metrics`).then((response) => response.text());
  assert.match(metrics, /tp_edge_mqtt_direct_refusals_total\{reason_code="0x87",packet="publish"\} 2/);
  assert.match(metrics, /tp_edge_mqtt_direct_refusals_total\{reason_code="0x86",packet="connect"\} 1/);
});
