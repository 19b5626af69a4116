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
} from './edge-harness.ts';

const config = testConfig();
const kafka = config.kafka;
const run = uniqueName('edge-restart');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter` };

before(async () => {
  await createTopics(kafka, [
    { topic: names.readings, partitions: 3 },
    { topic: names.deadLetter, partitions: 1 },
  ]);
});

after(async () => {
  await killAllBridges();
  await deleteTopics(kafka, [names.readings, names.deadLetter]);
});

async function readReadings(): Promise<ReadingRecord[]> {
  return (await readTopic(kafka, names.readings))
    .map((message) => decodeRecord(message.value!))
    .flatMap((decoded) => (decoded.ok ? decoded.readings : []));
}

test('a bridge SIGKILLed mid-stream and restarted loses nothing; extra copies are exact redeliveries', async (t) => {
  const env = bridgeEnv(config, names);
  const first = await startBridge(env);
  const fleet = await connectFleet(config);
  const devices = 50;
  const total = 30_000;
  const start = Date.now();
  const messages = Array.from({ length: total }, (_, seq) => ({
    topic: `${config.mqtt.topicPrefix}/acme/dev-${seq % devices}`,
    payload: JSON.stringify({ seq, ts: start + (seq % 1000), metrics: { value: seq, half: seq / 2 } }),
  }));

  // Publish in slices so that the kill lands while the bridge is busy with acknowledgements in flight.
  const slices = 10;
  const sliceSize = total / slices;
  let restarted: Awaited<ReturnType<typeof startBridge>> | undefined;
  for (let slice = 0; slice < slices; slice++) {
    await publishAll(fleet, messages.slice(slice * sliceSize, (slice + 1) * sliceSize));
    if (slice === 3) {
      await first.kill();
    }
    if (slice === 5) {
      // Published meanwhile: the broker kept them for the bridge's persistent session.
      restarted = await startBridge(env);
    }
  }
  fleet.end();
  assert.ok(restarted);
  assert.notEqual(restarted.child.pid, first.child.pid);

  const readings = await eventually(readReadings, (records) => new Set(records.map((r) => r.id)).size >= total, 90_000, 1000);
  const byId = new Map<string, ReadingRecord[]>();
  for (const reading of readings) byId.set(reading.id, [...(byId.get(reading.id) ?? []), reading]);
  const missing = messages.map((_, seq) => String(seq)).filter((id) => !byId.has(id));
  assert.deepEqual(missing.slice(0, 20), [], `${missing.length} reading(s) lost`);
  let duplicates = 0;
  for (const [id, copies] of byId) {
    const [original, ...extra] = copies;
    for (const copy of extra) {
      duplicates++;
      // Same device, same id, same event time and values: a redelivery, not a different reading.
      assert.deepEqual(
        { device: copy.device, id: copy.id, eventTime: copy.eventTime, metrics: copy.metrics },
        { device: original!.device, id, eventTime: original!.eventTime, metrics: original!.metrics },
      );
    }
  }
  const code = await restarted.stop();
  assert.equal(code, 0);
  // Informative: how many readings were written twice because their PUBACK died with the bridge.
  t.diagnostic(`${total} readings, ${duplicates} redelivered copies, killed after ${4 * sliceSize} were published`);
});
