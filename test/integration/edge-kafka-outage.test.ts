import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeRecord } from '../../src/core/wire/decode.ts';
import { KafkaProducer } from '../../src/kafka/producer.ts';
import { kafkaStatus, startKafka, stopKafka } from '../../src/stack/kafka.ts';
import { isAlive, signal } from '../../src/stack/processes.ts';
import { createLogger } from '../../src/util/log.ts';
import { eventually as waitFor } from '../../src/stack/services.ts';
import { pace } from '../support/pace.ts';
import {
  bridgeEnv,
  bridgeMetric,
  connectFleet,
  createTopics,
  deleteTopics,
  eventually,
  killAllBridges,
  readTopic,
  startBridge,
  testConfig,
  uniqueName,
  type BridgeProcess,
} from './edge-harness.ts';

/**
 * Kafka stopped for 15 s mid-stream, then started again: nothing is lost, the bridge stops taking
 * input while Kafka is away (its memory stays bounded) and drains when Kafka is back.
 * Stops the whole Kafka of the stack named by the configuration (stack.*), so it must not share
 * that Kafka with tests running at the same time (npm test runs integration files one by one).
 */
const config = testConfig();
/**
 * Kafka's restart here took 42 s in a CI run (two cores shared with the unit tests and the chaos
 * run's three brokers): the stack's 60 s start timeout is too close for a test that asserts no timing.
 */
const stack = { ...config.stack, startTimeoutMs: Math.max(config.stack.startTimeoutMs, 180_000) };
const kafka = config.kafka;
const run = uniqueName('edge-outage');
const names = { run, readings: `${run}.readings`, deadLetter: `${run}.dead-letter`, raw: `${run}.raw` };
const MAX_IN_FLIGHT = 20_000;
const OUTAGE_MS = 15_000;
/** Readings the bridge forwards before the outage (about 2 s of the fleet's rate): its steady state. */
const STEADY_READINGS = 3000;
const AFTER_OUTAGE_MS = 3000;

before(async () => {
  await startKafka(stack); // idempotent: a running stack is left as it is
  await createTopics(kafka, [
    { topic: names.readings, partitions: 4 },
    { topic: names.deadLetter, partitions: 1 },
    { topic: names.raw, partitions: 4 },
  ]);
});

after(async () => {
  await killAllBridges();
  await startKafka(stack); // whatever happened, leave Kafka running for the next test
  await deleteTopics(kafka, [names.readings, names.deadLetter, names.raw]);
});

interface Sample {
  readonly at: number;
  readonly rssMb: number;
  readonly inFlight: number;
  readonly state: string;
}

async function sample(bridge: BridgeProcess, started: number): Promise<Sample | undefined> {
  try {
    const status = readFileSync(`/proc/${bridge.child.pid}/status`, 'utf8');
    const rssMb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
    const text = await fetch(`${bridge.url}/metrics`).then((response) => response.text());
    const inFlight = Number(/^tp_edge_records_in_flight (\S+)$/m.exec(text)?.[1] ?? Number.NaN);
    const state = /^tp_edge_state\{state="([^"]+)"\} 1$/m.exec(text)?.[1] ?? 'unknown';
    return { at: Date.now() - started, rssMb, inFlight, state };
  } catch {
    return undefined;
  }
}

test('Kafka stopped for 15 s mid-stream: nothing lost, intake paused, memory bounded, drained afterwards', async (t) => {
  const bridge = await startBridge(bridgeEnv(config, names, { TP_EDGE__MAX_IN_FLIGHT_READINGS: String(MAX_IN_FLIGHT) }));
  const fleet = await connectFleet(config);
  const started = Date.now();
  const samples: Sample[] = [];
  let sampling = true;
  // Whatever fails below, the sampler and the fleet must not keep this test process alive.
  t.after(() => {
    sampling = false;
    fleet.end(true);
  });
  const sampler = (async () => {
    while (sampling) {
      const next = await sample(bridge, started);
      if (next) samples.push(next);
      await pace(250, 'the sampling period of RSS, in-flight count and state');
    }
  })();

  // About 1500 readings a second: before the outage until the bridge is in steady state, through
  // the 15 s outage (+ Kafka's start), and AFTER_OUTAGE_MS once Kafka answers again.
  const perTick = 15;
  let published = 0;
  let publishUntil = Number.POSITIVE_INFINITY;
  t.after(() => {
    publishUntil = 0; // whatever fails below, the fleet stops publishing
  });
  const publishing = (async () => {
    while (Date.now() < publishUntil) {
      const tickStart = Date.now();
      for (let i = 0; i < perTick; i++, published++) {
        const seq = published;
        fleet.publish(`${config.mqtt.topicPrefix}/acme/dev-${seq % 25}`, JSON.stringify({ seq, ts: Date.now(), metrics: { v: seq } }), { qos: 1 });
      }
      await pace(Math.max(0, 10 - (Date.now() - tickStart)), 'a tick of the fleet: 15 readings every 10 ms');
    }
  })();

  // Steady state before the outage: the bridge has forwarded STEADY_READINGS and was sampled accepting since.
  await waitFor('the bridge forwards the fleet\'s readings', async () => ((await bridgeMetric(bridge, /^tp_edge_readings_published_total\b/)) >= STEADY_READINGS ? true : undefined), 60_000, 100);
  const steadyAt = Date.now() - started;
  await waitFor('a sample of the bridge accepting', async () => (samples.some((s) => s.at > steadyAt && s.state === 'accepting') ? true : undefined), 10_000, 50);
  const before = samples.filter((s) => s.state === 'accepting').at(-1);
  const stoppedAt = Date.now() - started;
  await stopKafka(stack);
  await pace(OUTAGE_MS, 'the outage: long enough for the intake to fill up to its in-flight bound');
  const restartAt = Date.now() - started;
  await startKafka(stack);
  const backAt = Date.now() - started;
  await pace(AFTER_OUTAGE_MS, 'the fleet goes on publishing after the outage, into the draining bridge');
  publishUntil = Date.now();
  await publishing;
  const total = published;

  const ids = await eventually(
    async () => {
      const found = new Set<number>();
      for (const message of await readTopic(kafka, names.readings)) {
        const decoded = decodeRecord(message.value!);
        if (decoded.ok) for (const reading of decoded.readings) found.add(Number(reading.id));
      }
      return found;
    },
    (found) => found.size >= total,
    120_000,
    2000,
  );
  sampling = false;
  await sampler;
  fleet.end();

  const missing: number[] = [];
  for (let seq = 0; seq < total && missing.length < 20; seq++) if (!ids.has(seq)) missing.push(seq);
  assert.deepEqual(missing, [], `readings lost (first 20 shown) of ${total}`);

  const during = samples.filter((s) => s.at > stoppedAt && s.at < backAt);
  assert.ok(during.some((s) => s.state === 'kafka-unavailable'), `the bridge reported kafka-unavailable: ${[...new Set(during.map((s) => s.state))]}`);
  assert.match(bridge.output(), /"msg":"intake kafka-unavailable"/);
  const peakInFlight = Math.max(...samples.map((s) => s.inFlight));
  assert.ok(peakInFlight <= MAX_IN_FLIGHT + config.edge.validation.maxReadingsPerMessage, `in flight bounded: ${peakInFlight}`);
  const peakRss = Math.max(...samples.map((s) => s.rssMb));
  assert.ok(before, 'sampled before the outage');
  assert.ok(peakRss - before.rssMb < 200, `memory bounded: ${before.rssMb.toFixed(0)} MB before, ${peakRss.toFixed(0)} MB at peak`);

  // Every reading is in Kafka; the bridge may still be reading the last delivery reports.
  await waitFor(
    'the bridge drained and accepting again after Kafka came back',
    async () => {
      const last = await sample(bridge, started);
      return last?.state === 'accepting' && last.inFlight === 0 ? true : undefined;
    },
    10_000,
    100,
  );
  t.diagnostic(
    `Kafka down at ${stoppedAt} ms, restarted at ${restartAt} ms, answering at ${backAt} ms; ` +
      `${total} readings; peak in flight ${peakInFlight}; RSS ${before.rssMb.toFixed(0)} → peak ${peakRss.toFixed(0)} MB; ` +
      `states ${[...new Set(samples.map((s) => s.state))].join(',')}`,
  );
  assert.equal(await bridge.stop(), 0);
});

/** Blocks this thread (timers, I/O, callbacks) for `ms`: librdkafka's threads go on meanwhile. */
function blockThread(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test('a delivery report of a record acknowledged before Kafka went away does not mark Kafka available again', async (t) => {
  const changes: string[] = [];
  const producer = new KafkaProducer({
    connection: kafka,
    clientId: 'edge-outage-test',
    deliveryTimeoutMs: 120_000,
    logger: createLogger('edge-outage-test', process.env['TP_LOG__LEVEL'] ?? 'warn'),
    observer: { availabilityChanged: (available, reason) => changes.push(`${available ? 'available' : 'unavailable'} (${reason})`) },
  });
  t.after(() => producer.close(0));
  await producer.connect();
  const delivered: Promise<void>[] = [];
  for (let i = 0; i < 200; i++) delivered.push(producer.produce(names.raw, `k-${i % 8}`, `warm-up ${i}`));
  await Promise.all(delivered);

  // The JavaScript thread is held while Kafka stops with records in flight: their delivery reports
  // and librdkafka's "all brokers down" wait in the binding's two queues and reach JavaScript
  // together, the event's queue first — as on a busy bridge.
  const pids = kafkaStatus(stack).map((node) => node.pid).filter((pid): pid is number => pid !== null);
  assert.ok(pids.length > 0, 'Kafka runs');
  for (let i = 0; i < 5000; i++) delivered.push(producer.produce(names.raw, `k-${i % 8}`, `in flight ${i}`));
  blockThread(200);
  for (const pid of pids) signal(pid, 'SIGTERM');
  const deadline = Date.now() + 60_000;
  while (pids.some(isAlive) && Date.now() < deadline) blockThread(50);
  blockThread(2000);
  await pace(1000, 'the queued reports and events reach JavaScript');
  assert.equal(producer.isAvailable(), false, `Kafka is down, yet the producer says it is available: ${changes.join(' → ')}`);

  await startKafka(stack);
  await waitFor('the producer sees Kafka again, with no new record sent', async () => (producer.isAvailable() ? true : undefined), 60_000, 100);
  await Promise.all(delivered);
  t.diagnostic(changes.join(' → '));
});
