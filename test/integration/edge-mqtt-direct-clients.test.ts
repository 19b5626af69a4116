import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { directPayload as payload, directPipeline } from '../support/direct-pipeline.ts';
import { eventually, readTopic, uniqueName } from './edge-harness.ts';

/**
 * Direct mode with clients nobody here wrote (mosquitto_pub 3.1.1 and 5, paho-mqtt) at every QoS,
 * audited in ClickHouse, and refusals with their MQTT 5 reason codes, dead-lettered. Nothing here
 * stops or freezes a shared server (the Kafka freezes are in edge-mqtt-direct.test.ts).
 */
const pipeline = directPipeline();
const { scenario, tenant, deadLetter } = pipeline;
const kafka = scenario.config.kafka;
const startDirectBridge = pipeline.startBridge;
const connect = pipeline.connect;
const assertExactlyOnceInClickHouse = pipeline.assertExactlyOnceInClickHouse;

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
      const result = await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(pipeline.port()), '-V', version, '-q', String(qos), '-u', 'gw', '-P', 'gw-secret', '-i', `mp-${version}-${qos}`, '-t', `telemetry/${tenant}/mp-${version}`, '-l'], `${lines}\n`);
      assert.equal(result.code, 0, `mosquitto_pub -V ${version} -q ${qos}: ${result.output}`);
    }
  }
  for (const version of ['311', '5']) {
    const ids = Array.from({ length: 5 }, (_, index) => `paho-${version}-${index}`);
    for (const qos of [0, 1, 2]) expected.push(...ids.map((id) => `${id}-q${qos}`));
    const result = await run('python3', ['-c', PAHO, String(pipeline.port()), version, tenant, ids.join(',')]);
    assert.equal(result.code, 0, `paho-mqtt MQTT ${version}: ${result.output}`);
  }
  await assertExactlyOnceInClickHouse('mp-', expected.filter((id) => id.startsWith('mp-')));
  await assertExactlyOnceInClickHouse('paho-', expected.filter((id) => id.startsWith('paho-')));
});

test('refusals: wrong password, another device’s or tenant’s topic (0x87), malformed payload (0x99), SUBSCRIBE refused; dead-lettered', async (t) => {
  const bridge = await startDirectBridge();
  t.after(() => bridge.stop());
  const wrong = mqtt.connect(`mqtt://127.0.0.1:${pipeline.port()}`, { protocolVersion: 5, username: 'd1', password: 'nope', reconnectPeriod: 0 });
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
