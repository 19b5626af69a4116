import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { kafkaStatus } from '../../src/stack/kafka.ts';
import { directPayload as payload, directPipeline } from '../support/direct-pipeline.ts';
import { eventually, readTopic, uniqueName, type BridgeProcess } from './edge-harness.ts';

/**
 * Direct mode against the real Kafka and ClickHouse: the bridge is the devices' MQTT server.
 * A device's PUBACK follows Kafka's ack (Kafka frozen → none; thawed → all), and a bridge killed
 * mid-stream loses no acknowledged reading (the device resends; ClickHouse holds each once).
 * Clients nobody here wrote and refusals: edge-mqtt-direct-clients.test.ts (it freezes nothing).
 */
const pipeline = directPipeline();
const { scenario, tenant } = pipeline;
const kafka = scenario.config.kafka;
const startDirectBridge = (): Promise<BridgeProcess> => pipeline.startBridge();
const connect = pipeline.connect;
const assertExactlyOnceInClickHouse = pipeline.assertExactlyOnceInClickHouse;

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
    const received = await eventually(() => bridgeReceived(bridge), (n) => n >= next, 30_000, 20);
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
