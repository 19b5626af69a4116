import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { failureAnalysis } from '../../src/core/failure-analysis.ts';
import { guaranteeSettings } from '../../src/config/guarantees.ts';
import { STEADY_PATTERNS } from '../../loadtest/fleet/model.ts';
import { runFleet } from '../../loadtest/fleet/publisher.ts';
import { eventually as waitFor } from '../../src/stack/services.ts';
import { pace } from '../support/pace.ts';
import { privateMosquitto, type PrivateMosquitto } from '../support/private-mosquitto.ts';
import { bridgeEnv, bridgeMetric, bridgeSettled, createTopics, deleteTopics, eventually, killAllBridges, readTopic, startBridge, testConfig, uniqueName, type BridgeProcess } from './edge-harness.ts';

/**
 * A Mosquitto restart while the fleet publishes and the bridge is slow to come back (SIGSTOPped
 * across the restart, as on a loaded machine where the bridge is not scheduled).
 *
 * Mosquitto 2.0.11 does not restore `$share` subscriptions from its persistence file: after a
 * restart the share group has no member until a bridge subscribes again, and every message
 * published meanwhile is answered with PUBACK reason code 0x10 "no matching subscribers" and
 * dropped. mqtt.js resolves such a publish as a success, and so do the device clients people
 * actually run (Paho too): they do not publish again. The first test plays a fleet that does
 * (it reads the reason code and publishes again) and loses nothing; the second plays real devices
 * and checks the failure table's honest 'lost' for mqtt-broker-restart: exactly the readings
 * answered 0x10 are missing.
 *
 * Runs its own Mosquitto (test/support/private-mosquitto.ts) so that the shared broker of the
 * other tests is never restarted; Kafka is the local stack's.
 */
const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('edge-mosq-restart');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };
const plain = { run: `${run}-plain`, readings: `${run}-plain.readings`, deadLetter: `${run}-plain.dead-letter` };
/** How long the bridge stays held back after the broker is back (a loaded machine that does not schedule it). */
const HELD_AFTER_RESTART_MS = 3000;
let broker: PrivateMosquitto;

before(async () => {
  broker = await privateMosquitto('edge-mosq-restart');
  await createTopics(kafka, [
    { topic: names.readings, partitions: 3 },
    { topic: names.deadLetter, partitions: 1 },
    { topic: plain.readings, partitions: 3 },
    { topic: plain.deadLetter, partitions: 1 },
  ]);
});

after(async () => {
  await killAllBridges();
  await broker?.remove();
  await deleteTopics(kafka, [names.readings, names.deadLetter, plain.readings, plain.deadLetter]);
});

/**
 * Once the bridge forwards the fleet's readings, the broker is restarted while the bridge is held
 * back (SIGSTOP); the bridge comes back HELD_AFTER_RESTART_MS after the broker, so the devices are
 * back first and publish into a share group with no member.
 */
async function restartWhileBridgeHeldBack(bridge: BridgeProcess): Promise<void> {
  await waitFor('the bridge forwards the fleet\'s readings to Kafka', async () => ((await bridgeMetric(bridge, /^tp_edge_readings_published_total\b/)) > 0 ? true : undefined), 30_000, 100);
  bridge.child.kill('SIGSTOP');
  await broker.stop();
  await broker.start();
  await pace(HELD_AFTER_RESTART_MS, 'the bridge is not scheduled for a while after the broker is back: the devices reconnect and publish first');
  bridge.child.kill('SIGCONT');
}

test('across a Mosquitto restart every reading the fleet counts as acknowledged reaches Kafka', { timeout: 180_000 }, async () => {
  const url = broker.url;
  const bridge = await startBridge(bridgeEnv(config, names, { TP_MQTT__URL: url, TP_MQTT__MODE: 'broker' }));
  const tenant = 'acme';
  const durationMs = 10_000;
  const fleet = runFleet(
    { tenant, devices: 200, gateways: 4, ratePerSecond: 500, batchSize: 5, patterns: STEADY_PATTERNS, seed: 7 },
    { url, username: 'fleet', password: 'fleet-secret', connections: 4, durationMs, clientIdPrefix: uniqueName('fleet'), maxInFlightPerConnection: 200 },
  );

  await restartWhileBridgeHeldBack(bridge);

  const result = await fleet;
  assert.equal(result.failed, 0, 'every publish was acknowledged in the end');
  assert.ok(result.noSubscriberPubacks > 0, 'the restart left a window without subscribers (the case under test happened)');

  const expected = new Set([...result.ackedIds].flatMap(([device, ids]) => ids.map((id) => `${device}/${id}`)));
  const stored = await eventually(
    async () => {
      const keys = new Set<string>();
      for (const message of await readTopic(kafka, names.readings)) {
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

test('devices that take PUBACK 0x10 as delivered lose readings across a restart, only those answered 0x10 (the table says lost)', { timeout: 180_000 }, async () => {
  const url = broker.url;
  const bridge = await startBridge(bridgeEnv(config, plain, { TP_MQTT__URL: url, TP_MQTT__MODE: 'broker' }));
  const batchSize = 5;
  const fleet = runFleet(
    { tenant: 'acme', devices: 200, gateways: 4, ratePerSecond: 500, batchSize, patterns: STEADY_PATTERNS, seed: 8 },
    { url, username: 'fleet', password: 'fleet-secret', connections: 4, durationMs: 10_000, clientIdPrefix: uniqueName('fleet'), maxInFlightPerConnection: 200, republishUnrouted: false },
  );
  await restartWhileBridgeHeldBack(bridge);
  const result = await fleet;
  assert.ok(result.noSubscriberPubacks > 0, 'the restart left a window without subscribers (the case under test happened)');

  const expected = new Set([...result.ackedIds].flatMap(([device, ids]) => ids.map((id) => `${device}/${id}`)));
  // What the broker dropped never arrives: read the topic once the bridge has nothing more to publish.
  await bridgeSettled(bridge);
  const stored = new Set<string>();
  for (const message of await readTopic(kafka, plain.readings)) {
    const decoded = decodeRecord(message.value!);
    if (decoded.ok) for (const reading of decoded.readings) stored.add(`${reading.device}/${reading.id}`);
  }
  assert.ok(stored.size > 0, 'the readings topic holds what the bridge published');
  await bridge.stop();
  const missing = [...expected].filter((key) => !stored.has(key)).length;
  const verdict = `${missing} of ${expected.size} acknowledged readings missing; ${result.noSubscriberPubacks} PUBACKs 0x10 (≤ ${batchSize} readings each)`;
  process.stdout.write(`# ${verdict}\n`);
  const row = failureAnalysis(guaranteeSettings({ ...config, mqtt: { ...config.mqtt, mode: 'broker' } }, config.aggregator.pipelines[0]!)).find((candidate) => candidate.id === 'mqtt-broker-restart')!;
  assert.equal(row.outcome, 'lost');
  assert.ok(missing > 0, `readings acknowledged with 0x10 are lost (${verdict})`);
  assert.ok(missing <= result.noSubscriberPubacks * batchSize, `only they are lost: the restart itself (SIGTERM, a full save) loses nothing else (${verdict})`);
});
