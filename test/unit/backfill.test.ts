import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/load.ts';
import { PartitionProcessor, type ProcessorSpec } from '../../src/core/processor.ts';
import { READING_SCHEMA_VERSION, type Reading } from '../../src/core/readings.ts';
import { validateGatewayBody } from '../../src/core/validation.ts';
import { estimateLate, inWriteOrder } from '../../src/backfill/late-estimate.ts';
import { BackfillError, derivedId, formatOf, parseFile, splitCsvLine } from '../../src/backfill/parse.ts';
import { validateLines } from '../../src/backfill/validate.ts';

const validation = loadConfig({}).edge.validation;
const NOW = Date.parse('2025-03-02T00:00:00Z');
const DAY = Date.parse('2025-03-01T00:00:00Z');

test('format by file name; anything else is refused with the names that work', () => {
  assert.equal(formatOf('a/readings.ndjson'), 'ndjson');
  assert.equal(formatOf('readings.JSONL'), 'ndjson');
  assert.equal(formatOf('readings.csv'), 'csv');
  assert.throws(() => formatOf('readings.txt'), (error: unknown) => error instanceof BackfillError && /\.ndjson/.test(error.message));
});

test('CSV lines: RFC 4180 quoting on one line; a stray or unterminated quote is a refusal', () => {
  assert.deepEqual(splitCsvLine('a,"b,c","d ""e"""'), ['a', 'b,c', 'd "e"']);
  assert.deepEqual(splitCsvLine('a,,'), ['a', '', '']);
  assert.equal(typeof splitCsvLine('a,"b'), 'string');
  assert.equal(typeof splitCsvLine('a,b"c'), 'string');
  assert.equal(typeof splitCsvLine('"a"b'), 'string');
});

/** What the HTTP intake makes of the same readings sent as an NDJSON body. */
const intake = (ndjson: string): Reading[] => validateGatewayBody(Buffer.from(ndjson), 'ndjson', 'demo', NOW, validation, 1 << 22).readings;

test('CSV in long and wide form gives the readings the HTTP intake gives for the same NDJSON', () => {
  const long = parseFile('device,ts,id,metric,value\nd1,2025-03-01T00:00:00Z,1,temp,20.5\n\nd2,1740787210000,2,hum,40\n', 'csv');
  const wide = parseFile('\ufeffdevice,seq,ts,temp,hum\r\nd1,1,2025-03-01T00:00:00Z,20.5,\r\nd2,2,1740787210000,,40\r\n', 'csv');
  const expected = intake('{"device":"d1","id":"1","ts":"2025-03-01T00:00:00Z","metric":"temp","value":20.5}\n{"device":"d2","seq":2,"ts":1740787210000,"metrics":{"hum":40}}');
  for (const parsed of [long, wide]) {
    assert.deepEqual(parsed.refusals, []);
    const validated = validateLines(parsed.lines, 'demo', NOW, validation, 1 << 22);
    assert.deepEqual(validated.readings, expected);
  }
  assert.deepEqual(long.lines.map((line) => line.line), [2, 4]);
});

test('CSV header problems stop the load before anything; row problems are refusals with their line', () => {
  for (const header of ['ts,temp', 'device,temp', 'device,ts,metric', 'device,ts', 'device,ts,metric,value,temp', '']) {
    assert.throws(() => parseFile(`${header}\nx`, 'csv'), BackfillError, header);
  }
  const parsed = parseFile('device,ts,temp\nd1,1740787200000\nd1,"1740787200000,9\nd1,1740787200000,hot\n', 'csv');
  assert.deepEqual(parsed.refusals.map((refusal) => [refusal.line, refusal.reason]), [[2, 'schema'], [3, 'schema']]);
  const validated = validateLines(parsed.lines, 'demo', NOW, validation, 1 << 22);
  assert.deepEqual(validated.refusals.map((refusal) => [refusal.line, refusal.reason]), [[4, 'schema']]);
});

test('a reading without id or seq gets an id from its content: the same reading in any spelling, the same id; another reading, another id', () => {
  const a = parseFile('{"device":"d1","ts":1740787200000,"metrics":{"a":1,"b":2}}\n', 'ndjson').lines[0]!.json;
  const b = parseFile('{ "metrics": {"b":2, "a":1}, "ts":1740787200000, "device":"d1" }\n', 'ndjson').lines[0]!.json;
  const c = parseFile('device,ts,a,b\nd1,1740787200000,1,2\n', 'csv').lines[0]!.json;
  const ids = [a, b, c].map((json) => JSON.parse(json).id as string);
  assert.match(ids[0]!, /^bf-[0-9a-f]{24}$/);
  assert.equal(new Set(ids).size, 1);
  assert.notEqual(derivedId({ device: 'd1', ts: 1740787200000, metrics: { a: 1, b: 3 } }), ids[0]);
  assert.notEqual(derivedId({ device: 'd2', ts: 1740787200000, metrics: { a: 1, b: 2 } }), ids[0]);
  // An id or seq of the file is kept as it is.
  assert.equal(JSON.parse(parseFile('{"device":"d1","seq":7,"ts":1,"metrics":{"a":1}}', 'ndjson').lines[0]!.json).seq, 7);
});

test('validation in bodies of the intake\'s limits: every refusal keeps the intake\'s reason and its own line, whatever the chunking', () => {
  const lines = [];
  for (let i = 0; i < 25; i++) {
    const ts = i % 7 === 3 ? NOW - 8 * 86_400_000 : DAY + i * 1000;
    lines.push(i % 5 === 4 ? '{"device":"d1","id":"x' : JSON.stringify({ device: 'd1', id: String(i), ts, metrics: { v: i } }));
  }
  const parsed = parseFile(lines.join('\n'), 'ndjson');
  const whole = validateLines(parsed.lines, 'demo', NOW, validation, 1 << 22);
  for (const maxReadingsPerMessage of [1, 2, 3, 10, 1000]) {
    const chunked = validateLines(parsed.lines, 'demo', NOW, { ...validation, maxReadingsPerMessage }, 1 << 22);
    assert.deepEqual(chunked, whole, `chunks of ${maxReadingsPerMessage}`);
  }
  assert.deepEqual(
    whole.refusals.map((refusal) => [refusal.line, refusal.reason]),
    [[4, 'event-time-too-far-behind'], [5, 'malformed-json'], [10, 'malformed-json'], [11, 'event-time-too-far-behind'], [15, 'malformed-json'], [18, 'event-time-too-far-behind'], [20, 'malformed-json'], [25, 'malformed-json']],
  );
  assert.equal(whole.readings.length + whole.refusals.length, 25);
  assert.deepEqual(whole.lines, whole.readings.map((reading) => Number(reading.id) + 1));
  // A line larger than a body may be is refused alone, as the intake refuses the body.
  const big = validateLines(parsed.lines, 'demo', NOW, validation, 60);
  assert.ok(big.refusals.every((refusal) => refusal.reason === 'payload-too-large' || refusal.reason === 'malformed-json' || refusal.reason === 'event-time-too-far-behind'));
  assert.ok(big.refusals.some((refusal) => refusal.reason === 'payload-too-large'));
});

const spec: ProcessorSpec = {
  pipeline: 'p',
  partition: 0,
  window: { kind: 'tumbling', sizeMs: 60_000 },
  watermark: { kind: 'fixed', delayMs: 5000 },
  latePolicy: { kind: 'drop' },
  idleTimeoutMs: 30_000,
};

/** A day of readings, device by device (as files often come). */
function dayOfReadings(devices: number, everyMs: number): Reading[] {
  const out: Reading[] = [];
  for (let d = 0; d < devices; d++) {
    for (let t = DAY; t < DAY + 86_400_000; t += everyMs) out.push({ tenant: 'demo', device: `dev-${d}`, id: `${d}-${t}`, eventTime: t, ingestTime: NOW, metrics: { v: 1 } });
  }
  return out;
}

test('late estimate: a day written oldest first is not late for a fresh pipeline; device by device it is; the count is what the processor itself does', () => {
  const readings = dayOfReadings(4, 60_000);
  const input = { partitions: 1, specOf: () => spec, stateOf: () => null, ingestTime: NOW };
  assert.equal(estimateLate(inWriteOrder(readings), input).late, 0);
  const unordered = estimateLate(readings, input);
  // Device by device on one partition: after the first device the watermark is at the day's end.
  // The first device is never late; the others only in the windows still open at the day's end.
  assert.ok(unordered.late > 3 * 1440 - 10 && unordered.late <= 3 * 1440, String(unordered.late));
  assert.equal(unordered.readings, 4 * 1440);
});

test('late estimate: from a checkpoint whose watermark passed the day, every reading is late; under reemit within the lateness they correct windows; a second load meets its own ids', () => {
  const readings = inWriteOrder(dayOfReadings(2, 60_000));
  const ahead = new PartitionProcessor(spec);
  ahead.processReadings([{ v: READING_SCHEMA_VERSION, tenant: 'demo', device: 'other', id: 'x', eventTime: NOW + 120_000, ingestTime: NOW + 120_000, metrics: { v: 1 } }], 0, { emitRow: () => undefined, emitLate: () => undefined });
  const fromCheckpoint = estimateLate(readings, { partitions: 1, specOf: () => spec, stateOf: () => ahead.snapshot(), ingestTime: NOW });
  assert.deepEqual({ late: fromCheckpoint.late, fromCheckpoint: fromCheckpoint.fromCheckpoint }, { late: readings.length, fromCheckpoint: 1 });

  const reemit: ProcessorSpec = { ...spec, latePolicy: { kind: 'reemit', allowedLatenessMs: 10 * 86_400_000 } };
  const loaded = new PartitionProcessor(reemit);
  readings.forEach((reading, offset) => loaded.processReadings([{ ...reading, v: READING_SCHEMA_VERSION }], offset, { emitRow: () => undefined, emitLate: () => undefined }));
  const again = estimateLate(readings, { partitions: 1, specOf: () => reemit, stateOf: () => loaded.snapshot(), ingestTime: NOW });
  assert.equal(again.duplicates, readings.length);
  assert.equal(again.late, 0);
});
