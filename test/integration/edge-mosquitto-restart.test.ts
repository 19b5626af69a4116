import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecord } from '../../src/core/readings.ts';
import { mosquittoUrl, startMosquitto, stopMosquitto } from '../../src/stack/mosquitto.ts';
import type { StackConfig } from '../../src/config/schema.ts';
import { STEADY_PATTERNS } from '../../loadtest/fleet/model.ts';
import { runFleet } from '../../loadtest/fleet/publisher.ts';
import { bridgeEnv, createTopics, deleteTopics, eventually, freePort, killAllBridges, readTopic, sleep, startBridge, testConfig, uniqueName } from './edge-harness.ts';

/**
 * A Mosquitto restart while the fleet publishes and the bridge is slow to come back (SIGSTOPped
 * across the restart, as on a loaded machine where the bridge is not scheduled).
 *
 * Mosquitto 2.0.11 does not restore `$share` subscriptions from its persistence file: after a
 * restart the share group has no member until a bridge subscribes again, and every message
 * published meanwhile is answered with PUBACK reason code 0x10 "no matching subscribers" and
 * dropped. mqtt.js resolves such a publish as a success; the fleet used to count its readings as
 * acknowledged, and the chaos run then reported them missing from Kafka. The fleet now publishes
 * such a message again until a bridge takes it.
 *
 * Runs its own Mosquitto (a free port, a temporary data directory, stopped by its pid) so that the
 * shared broker of the other tests is never restarted; Kafka is the local stack's.
 */
const config = testConfig();
const brokers = config.kafka.brokers;
const run = uniqueName('edge-mosq-restart');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
const dataDir = mkdtempSync(join(tmpdir(), 'edge-mosq-restart-'));
let stack: StackConfig;

before(async () => {
  stack = { ...config.stack, dataDir, mosquittoPort: await freePort(), useExistingMqtt: false };
  await startMosquitto(stack);
  await createTopics(brokers, [
    { topic: names.readings, partitions: 3 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
});

after(async () => {
  await killAllBridges();
  await stopMosquitto(stack);
  rmSync(dataDir, { recursive: true, force: true });
  await deleteTopics(brokers, [names.readings, names.deadLetter]);
});

test('across a Mosquitto restart every reading the fleet counts as acknowledged reaches Kafka', { timeout: 180_000 }, async () => {
  const url = mosquittoUrl(stack);
  const bridge = await startBridge(bridgeEnv(config, names, { TP_MQTT__URL: url }));
  const tenant = 'acme';
  const durationMs = 10_000;
  const fleet = runFleet(
    { tenant, devices: 200, gateways: 4, ratePerSecond: 500, batchSize: 5, patterns: STEADY_PATTERNS, seed: 7 },
    { url, username: 'fleet', password: 'fleet-secret', connections: 4, durationMs, clientIdPrefix: uniqueName('fleet'), maxInFlightPerConnection: 200 },
  );

  await sleep(3000);
  // The bridge misses the restart and comes back 3 s after the broker: the devices are back first.
  bridge.child.kill('SIGSTOP');
  await stopMosquitto(stack);
  await startMosquitto(stack);
  await sleep(3000);
  bridge.child.kill('SIGCONT');

  const result = await fleet;
  assert.equal(result.failed, 0, 'every publish was acknowledged in the end');
  assert.ok(result.noSubscriberPubacks > 0, 'the restart left a window without subscribers (the case under test happened)');

  const expected = new Set([...result.ackedIds].flatMap(([device, ids]) => ids.map((id) => `${device}/${id}`)));
  const stored = await eventually(
    async () => {
      const keys = new Set<string>();
      for (const message of await readTopic(brokers, names.readings)) {
        const decoded = decodeRecord(message.value!);
        if (decoded.ok) for (const reading of decoded.readings) keys.add(`${reading.device}/${reading.id}`);
      }
      return keys;
    },
    (keys) => [...expected].every((key) => keys.has(key)),
    60_000,
    1000,
  );
  const missing = [...expected].filter((key) => !stored.has(key));
  assert.equal(result.acked, expected.size, 'no reading was counted twice');
  assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${expected.size} acknowledged readings are missing from Kafka`);
  await bridge.stop();
});
