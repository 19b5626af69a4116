import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analyzeDelays } from '../../src/advisor/analyze.ts';
import { candidateGrid } from '../../src/advisor/candidates.ts';
import { partitionForKey } from '../../src/advisor/partitioner.ts';
import { recommend, type Sla } from '../../src/advisor/recommend.ts';
import { walkReplayLog } from '../../src/advisor/replay-log.ts';
import { simulate, simulateAll } from '../../src/advisor/simulate.ts';
import { resolvePartitions } from '../../src/advisor/trace.ts';
import { readTraceFromTopic } from '../../src/advisor/trace-kafka.ts';
import { generateTrace } from '../../src/advisor/traces.ts';
import { DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS } from '../../src/core/device-clock.ts';
import { encodeReading } from '../../src/core/wire/reading.ts';
import { encodeTick } from '../../src/core/wire/tick.ts';
import { AggregatorScenario } from '../support/aggregator-harness.ts';
import { connectRawProducer } from '../support/raw-producer.ts';
import { eventually } from '../../src/stack/services.ts';
import { eventually as pollUntil } from './edge-harness.ts';

/**
 * The advisor's promise, checked against the real thing: the configuration it recommends for a
 * trace, run by the real aggregator (child process, Kafka, ClickHouse) on the same trace, meets
 * the completeness the simulator predicted.
 *
 * The trace goes into Kafka as the replay log the simulator assumes: readings keyed by device with
 * the bridge's partitioner (murmur2), a tick on every partition every second of ingest time, then
 * one far tick that closes every window. Processing is a function of the log, so the prediction
 * should hold EXACTLY: the test allows 0.1 percentage point on completeness and requires the same
 * rows (device, window, count). Latency is a property of log time, which a fast replay does not
 * reproduce in wall-clock time; the simulator's latency is what the recommendation rests on.
 */
const SLA: Sla = { p95LatencyMs: 15_000, minCompleteness: 0.99, latency: 'end-to-end' };
const COMPLETENESS_TOLERANCE = 0.001;

test('the recommended configuration meets the SLA on the real aggregator, as the simulator predicted', async (t) => {
  const start = Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000;
  // 60 devices, one reading a second for 250 s; arrival delays step from ~1 s to ~5 s halfway.
  const { trace } = generateTrace({ kind: 'step', readings: 15_000, devices: 60, seed: 21, start });
  const partitions = 4;
  const grid = candidateGrid({
    windows: [{ kind: 'tumbling', sizeMs: 5000 }],
    fixedDelaysMs: [0, 500, 1000, 2000, 3000, 5000, 8000, 12_000],
    quantiles: [0.9, 0.99],
    marginsMs: [0, 500],
    latePolicy: { kind: 'drop' },
  });
  const results = simulateAll(trace, grid, { partitions });
  const recommendation = recommend(results, SLA, { name: 'advised', guarantee: 'exactly-once' });
  const chosen = recommendation.recommended;
  assert.ok(chosen && recommendation.pipeline, `a configuration meets the SLA: ${recommendation.explanation}`);
  assert.ok(chosen.completeness < 1, 'the trace makes the chosen configuration drop something (otherwise the test proves little)');
  const predicted = simulate(trace, chosen.candidate, { partitions, collectRows: true });
  assert.equal(predicted.completeness, chosen.completeness);

  const pipeline = recommendation.pipeline;
  // The harness runs the aggregator with the default device-clock ceiling: the one simulated.
  assert.equal(pipeline.maxDeviceClockOffsetMs, DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS);
  const scenario = new AggregatorScenario(
    [{ name: pipeline.name, guarantee: pipeline.guarantee, window: pipeline.window, watermark: { ...pipeline.watermark }, latePolicy: { ...pipeline.latePolicy } }],
    { partitions },
  );
  t.after(() => scenario.tearDown());
  await scenario.setUp();

  // The replay log, written by a producer that partitions like the bridge's.
  const producer = await connectRawProducer(scenario.config.kafka, {
    'enable.idempotence': true,
    acks: 'all',
    'linger.ms': 5,
    partitioner: 'murmur2_random',
    dr_cb: true,
  });
  t.after(() => new Promise<void>((resolve) => producer.disconnect(() => resolve())));
  producer.setPollInterval(10);
  let delivered = 0;
  const misplaced: string[] = [];
  // A throw in librdkafka's callback would be an uncaught exception, not a failed test: collected and asserted.
  const deliveryErrors: string[] = [];
  producer.on('delivery-report', (error, report) => {
    if (error) return void deliveryErrors.push(error.message);
    delivered++;
    const key = report.key?.toString();
    if (key !== undefined && report.partition !== partitionForKey(key, partitions)) misplaced.push(`${key} → ${report.partition}`);
  });
  const partitionOf = resolvePartitions(trace, partitions);
  const producedFrom = Date.now();
  const sequence = new Map<string, number>();
  let produced = 0;
  const lastTick = walkReplayLog(trace, partitionOf, 1000, {
    reading: (index) => {
      const device = trace.devices[trace.device[index]!]!;
      const seq = sequence.get(device) ?? 0;
      sequence.set(device, seq + 1);
      const value = encodeReading({ tenant: 'trace', device, id: `${device}:${seq}`, eventTime: trace.eventTime[index]!, ingestTime: trace.ingestTime[index]!, metrics: { value: 1 } });
      producer.produce(scenario.topic, null, Buffer.from(value), device);
      produced++;
    },
    tick: (time) => {
      for (let partition = 0; partition < partitions; partition++) {
        producer.produce(scenario.topic, partition, Buffer.from(encodeTick(time, 'advisor-test')), null);
        produced++;
      }
    },
  });
  for (let partition = 0; partition < partitions; partition++) {
    producer.produce(scenario.topic, partition, Buffer.from(encodeTick(lastTick + 3_600_000, 'advisor-test')), null);
    produced++;
  }
  await eventually('Kafka answers for the whole log', async () => (delivered + deliveryErrors.length >= produced ? true : undefined), 30_000, 20);
  assert.deepEqual(deliveryErrors.slice(0, 3), [], `${deliveryErrors.length} records refused`);
  assert.equal(delivered, produced, 'Kafka acknowledged the whole log');
  assert.deepEqual(misplaced, [], 'the simulator partitions devices as the bridge\'s producer does');

  // The analysis reads the same arrivals back from the topic (offsetsForTimes over record timestamps).
  const fromTopic = await readTraceFromTopic({ connection: scenario.config.kafka, topic: scenario.topic, from: producedFrom - 1000, to: Date.now() + 1000 });
  assert.equal(fromTopic.trace.length, trace.length);
  assert.equal(fromTopic.partitions, partitions);
  assert.ok(fromTopic.ticks > 4 * 240, `${fromTopic.ticks} ticks skipped`);
  const read = fromTopic.trace;
  const placed = Array.from(read.partition, (partition, i) => partition === partitionForKey(read.devices[read.device[i]!]!, partitions));
  assert.ok(placed.every(Boolean), 'each reading read back from the partition the simulator put it on');
  assert.deepEqual(analyzeDelays(fromTopic.trace, { partitions }).overall, analyzeDelays(trace, { partitions }).overall);
  const empty = await readTraceFromTopic({ connection: scenario.config.kafka, topic: scenario.topic, from: producedFrom - 7_200_000, to: producedFrom - 3_600_000 });
  assert.equal(empty.trace.length, 0, 'nothing was written an hour before the test');

  const aggregator = scenario.startAggregator('a');
  await aggregator.waitForLog(/aggregator started/);

  const expectedRows = predicted.finalRows!;
  type Row = { device: string; window_start_ms: string; count: string };
  // Polls until the aggregator stored what the simulator predicts (the table appears with the
  // aggregator's migration: a failed read is an empty one); the assertions below judge what it stored.
  const rows = await pollUntil(
    () => scenario.query<Row>(`SELECT device, window_start_ms, count FROM ${scenario.database}.agg_${pipeline.name} FINAL`).catch((): Row[] => []),
    (found) => found.reduce((sum, row) => sum + Number(row.count), 0) >= predicted.counted && found.length >= expectedRows.size,
    45_000,
    500,
  );
  const counted = rows.reduce((sum, row) => sum + Number(row.count), 0);
  const completeness = counted / trace.length;
  t.diagnostic(
    `recommended ${chosen.label}: predicted completeness ${(chosen.completeness * 100).toFixed(3)} %, ` +
      `ClickHouse ${(completeness * 100).toFixed(3)} % (${counted} of ${trace.length} readings, ${rows.length} rows)`,
  );
  assert.ok(completeness >= SLA.minCompleteness, `the real aggregator is ${completeness} complete; the SLA asks ${SLA.minCompleteness}`);
  assert.ok(
    Math.abs(completeness - predicted.completeness) <= COMPLETENESS_TOLERANCE,
    `ClickHouse completeness ${completeness} vs predicted ${predicted.completeness}`,
  );
  const actualRows = new Map(rows.map((row) => [`${row.device}\u0000${row.window_start_ms}`, Number(row.count)]));
  assert.deepEqual(new Map([...actualRows].sort()), new Map([...expectedRows].sort()), 'the same windows with the same counts');
});
