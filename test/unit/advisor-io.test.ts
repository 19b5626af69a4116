import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyzeDelays } from '../../src/advisor/analyze.ts';
import { parseLatePolicy, parseWindow } from '../../src/advisor/candidates.ts';
import { murmur2, partitionForKey } from '../../src/advisor/partitioner.ts';
import { recommend } from '../../src/advisor/recommend.ts';
import { renderReport } from '../../src/advisor/report-html.ts';
import { simulateAll } from '../../src/advisor/simulate.ts';
import { readTraceFile, writeTraceFile } from '../../src/advisor/trace-file.ts';
import { generateTrace } from '../../src/advisor/traces.ts';
import { parseDuration, parseQuantile, parseShare } from '../../src/advisor/units.ts';

test('murmur2 matches the Kafka Java client (org.apache.kafka.common.utils.UtilsTest)', () => {
  const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
  assert.equal(murmur2(encode('21')), -973932308);
  assert.equal(murmur2(encode('foobar')), -790332482);
  assert.equal(murmur2(encode('a-little-bit-long-string')), -985981536);
  assert.equal(murmur2(encode('a-little-bit-longer-string')), -1486304829);
  assert.equal(murmur2(encode('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8')), -58897971);
  assert.equal(murmur2(encode('abc')), 479470107);
  assert.equal(partitionForKey('foobar', 12), (-790332482 & 0x7fffffff) % 12);
});

test('durations, shares, quantiles, windows and late policies parse as typed on a command line', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('2.5s'), 2500);
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('1500'), 1500);
  assert.throws(() => parseDuration('ten seconds'), /not understood/);
  assert.equal(parseShare('99.9%'), 0.999);
  assert.equal(parseShare('0.95'), 0.95);
  assert.throws(() => parseShare('120%'), /not understood/);
  assert.equal(parseQuantile('p99'), 0.99);
  assert.throws(() => parseQuantile('1'), /strictly between/);
  assert.deepEqual(parseWindow('sliding:1m/10s'), { kind: 'sliding', sizeMs: 60_000, slideMs: 10_000 });
  assert.deepEqual(parseWindow('session:30s'), { kind: 'session', gapMs: 30_000 });
  assert.throws(() => parseWindow('sliding:10s/3s'), /divide the size evenly/);
  assert.deepEqual(parseLatePolicy('reemit:60s'), { kind: 'reemit', allowedLatenessMs: 60_000 });
  assert.throws(() => parseLatePolicy('keep'), /not understood/);
});

test('trace files: CSV, NDJSON and readings-topic records read back as the same trace', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advisor-io-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { trace } = generateTrace({ kind: 'lognormal', readings: 2000, devices: 20, seed: 1 });
  for (const [name, format] of [['t.csv', 'csv'], ['t.ndjson', 'ndjson'], ['r.ndjson', 'records']] as const) {
    const path = join(dir, name);
    assert.equal(await writeTraceFile(trace, path, format), 2000);
    const back = await readTraceFile(path);
    assert.equal(back.length, trace.length, name);
    assert.deepEqual(back.eventTime, trace.eventTime, `${name}: event times`);
    assert.deepEqual(back.ingestTime, trace.ingestTime, `${name}: ingest times`);
    assert.deepEqual([...back.device].map((d) => back.devices[d]), [...trace.device].map((d) => trace.devices[d]), `${name}: devices`);
  }
});

test('trace files: ISO times, recorded partitions, comments, ticks skipped, errors name the line', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'advisor-io-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const csv = join(dir, 'a.csv');
  writeFileSync(csv, '# a comment\ningestTime,eventTime,device,partition,tenant\n2024-01-01T00:00:01.500Z,2024-01-01T00:00:01.000Z,d1,3,acme\n1704067202000,1704067201900,d2,,acme\n');
  const fromCsv = await readTraceFile(csv);
  assert.equal(fromCsv.length, 2);
  assert.deepEqual([...fromCsv.eventTime], [1704067201000, 1704067201900]);
  assert.deepEqual([...fromCsv.partition], [3, -1]);
  assert.deepEqual(fromCsv.tenants, ['acme', 'acme']);

  const ndjson = join(dir, 'b.jsonl');
  writeFileSync(
    ndjson,
    [
      '{"v":1,"tick":true,"ingestTime":1704067200000,"source":"b"}',
      '{"v":1,"tenant":"acme","device":"d1","id":"1","eventTime":1704067200100,"ingestTime":1704067200300,"metrics":{"t":1},"partition":2}',
      '{"eventTime":"2024-01-01T00:00:00.500Z","ingestTime":1704067200900,"device":"d2"}',
    ].join('\n'),
  );
  const fromJson = await readTraceFile(ndjson);
  assert.equal(fromJson.length, 2, 'the tick is skipped');
  assert.deepEqual([...fromJson.partition], [2, -1]);

  const bad = join(dir, 'c.csv');
  writeFileSync(bad, 'eventTime,ingestTime,device\n1,2,d\nyesterday,3,d\n');
  await assert.rejects(readTraceFile(bad), /line 3: eventTime "yesterday"/);
  const noColumn = join(dir, 'd.csv');
  writeFileSync(noColumn, 'eventTime,device\n1,d\n');
  await assert.rejects(readTraceFile(noColumn), /lacks the column 'ingestTime'/);
});

test('the HTML report is self-contained and marks the recommendation', () => {
  const { trace } = generateTrace({ kind: 'lognormal', readings: 20_000, devices: 50, seed: 1 });
  const window = { kind: 'tumbling', sizeMs: 5000 } as const;
  const results = simulateAll(
    trace,
    [0, 1000, 3000].map((delayMs) => ({ window, watermark: { kind: 'fixed', delayMs }, latePolicy: { kind: 'drop' }, idleTimeoutMs: 5000, maxDeviceClockOffsetMs: 300_000 }) as const),
    { partitions: 2 },
  );
  const recommendation = recommend(results, { p95LatencyMs: 10_000, minCompleteness: 0.99, latency: 'end-to-end' });
  const html = renderReport({
    title: 'test',
    source: 'generated',
    analysis: analyzeDelays(trace, { partitions: 2 }),
    results,
    recommendation,
    comparisons: [],
    generatedAt: '2024-01-01T00:00:00Z',
  });
  assert.ok(html.startsWith('<!doctype html>'));
  assert.equal((html.match(/<svg /g) ?? []).length, 4, 'histogram, drift, frontier, memory');
  assert.doesNotMatch(html, /https?:\/\/(?!www\.w3\.org)/, 'no network references');
  assert.doesNotMatch(html, /<script|<link /);
  // The label holds '+' and parentheses ("fixed 1s + device-clock shift (max 5min)"): matched as text.
  assert.ok(html.includes(`recommended: ${recommendation.recommended!.label}`), 'the recommendation is marked');
  assert.match(html, /SLA P95 10s/);
});
