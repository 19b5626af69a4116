import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { decodeRecord } from '../core/wire/decode.ts';
import { encodeReading } from '../core/wire/reading.ts';
import { TraceBuilder, TraceError, type Trace } from './trace.ts';

/**
 * Trace files. Two formats, one arrival per line:
 *
 * CSV — a header naming the columns (any order), then one row per reading:
 *     eventTime,ingestTime,device,partition
 *     1704067200123,1704067200612,dev-0042,3
 *   `eventTime`, `ingestTime`: epoch milliseconds or ISO-8601; `device`: the Kafka key;
 *   `partition`: optional (empty = unknown; the replay then hashes the device like Kafka does);
 *   an optional `tenant` column. Fields hold no commas or quotes. Lines starting with # are comments.
 *
 * NDJSON — one JSON object per line, either
 *   {"eventTime":1704067200123,"ingestTime":1704067200612,"device":"dev-0042","partition":3}
 *   (partition and tenant optional, times as numbers or ISO-8601 strings), or a readings-topic
 *   record as the bridge writes it (src/core/wire/reading.ts: {"v":1,"tenant":…,"device":…,"id":…,
 *   "eventTime":…,"ingestTime":…,"metrics":{…}}), optionally with a "partition" field; tick
 *   records are skipped.
 *
 * The format follows the file name (.csv; .ndjson, .jsonl, .json), else the first character.
 */
export type TraceFormat = 'csv' | 'ndjson';
/** 'records': NDJSON in the readings-topic record shape (what `npm run cli -- watermark generate` can feed to Kafka). */
export type TraceOutputFormat = TraceFormat | 'records';

export function formatFromName(path: string): TraceFormat | undefined {
  if (/\.csv$/i.test(path)) return 'csv';
  if (/\.(nd)?jsonl?$|\.ndjson$/i.test(path)) return 'ndjson';
  return undefined;
}

export async function readTraceFile(path: string): Promise<Trace> {
  const input = path === '-' ? process.stdin : createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const lines = createInterface({ input, crlfDelay: Infinity });
  const builder = new TraceBuilder(1 << 16);
  let format = path === '-' ? undefined : formatFromName(path);
  let csv: CsvColumns | undefined;
  let lineNumber = 0;
  try {
    for await (const line of lines) {
      lineNumber++;
      const text = line.trim();
      if (text === '' || text.startsWith('#')) continue;
      format ??= text.startsWith('{') ? 'ndjson' : 'csv';
      if (format === 'ndjson') {
        addJsonLine(builder, text, path, lineNumber);
      } else if (csv === undefined) {
        csv = csvHeader(text, path);
      } else {
        addCsvLine(builder, csv, text, path, lineNumber);
      }
    }
  } catch (error) {
    if (error instanceof TraceError) throw error;
    throw new TraceError(`cannot read trace ${path}: ${(error as Error).message}`, { file: path });
  }
  return builder.build();
}

interface CsvColumns {
  readonly eventTime: number;
  readonly ingestTime: number;
  readonly device: number;
  readonly partition: number;
  readonly tenant: number;
}

function csvHeader(line: string, path: string): CsvColumns {
  const names = line.split(',').map((name) => name.trim());
  const at = (name: string, required: boolean): number => {
    const index = names.indexOf(name);
    if (index < 0 && required) {
      throw new TraceError(`trace ${path}: the CSV header '${line}' lacks the column '${name}' (expected eventTime,ingestTime,device,partition)`, {
        file: path,
      });
    }
    return index;
  };
  return { eventTime: at('eventTime', true), ingestTime: at('ingestTime', true), device: at('device', true), partition: at('partition', false), tenant: at('tenant', false) };
}

function addCsvLine(builder: TraceBuilder, columns: CsvColumns, line: string, path: string, lineNumber: number): void {
  const fields = line.split(',');
  const field = (index: number): string | undefined => (index < 0 ? undefined : fields[index]?.trim());
  const device = field(columns.device);
  if (!device) throw new TraceError(`trace ${path} line ${lineNumber}: no device`, { file: path, line: lineNumber });
  const tenant = field(columns.tenant);
  const partitionText = field(columns.partition);
  builder.add(
    parseTime(field(columns.eventTime), 'eventTime', path, lineNumber),
    parseTime(field(columns.ingestTime), 'ingestTime', path, lineNumber),
    builder.deviceId(device, tenant || undefined),
    parsePartition(partitionText === '' ? undefined : partitionText, path, lineNumber),
  );
}

function addJsonLine(builder: TraceBuilder, line: string, path: string, lineNumber: number): void {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new TraceError(`trace ${path} line ${lineNumber}: not JSON`, { file: path, line: lineNumber });
  }
  if (typeof value !== 'object' || value === null) throw new TraceError(`trace ${path} line ${lineNumber}: not an object`, { file: path, line: lineNumber });
  const object = value as Record<string, unknown>;
  const partition = parsePartition(object['partition'], path, lineNumber);
  if ('v' in object) {
    const decoded = decodeRecord(line);
    if (!decoded.ok) throw new TraceError(`trace ${path} line ${lineNumber}: not a readings-topic record (${decoded.reason})`, { file: path, line: lineNumber });
    for (const reading of decoded.readings) {
      builder.add(reading.eventTime, reading.ingestTime, builder.deviceId(reading.device, reading.tenant), partition);
    }
    return;
  }
  const device = object['device'];
  if (typeof device !== 'string' || device === '') throw new TraceError(`trace ${path} line ${lineNumber}: no device`, { file: path, line: lineNumber });
  const tenant = object['tenant'];
  builder.add(
    parseTime(object['eventTime'], 'eventTime', path, lineNumber),
    parseTime(object['ingestTime'], 'ingestTime', path, lineNumber),
    builder.deviceId(device, typeof tenant === 'string' && tenant !== '' ? tenant : undefined),
    partition,
  );
}

function parseTime(value: unknown, name: string, path: string, lineNumber: number): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value !== '') {
    const number = Number(value);
    if (Number.isFinite(number)) return number;
    const parsed = Date.parse(value);
    if (Number.isFinite(parsed)) return parsed;
  }
  throw new TraceError(`trace ${path} line ${lineNumber}: ${name} ${JSON.stringify(value)} is neither epoch milliseconds nor ISO-8601`, {
    file: path,
    line: lineNumber,
  });
}

function parsePartition(value: unknown, path: string, lineNumber: number): number {
  if (value === undefined || value === null) return -1;
  const number = typeof value === 'string' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 0) {
    throw new TraceError(`trace ${path} line ${lineNumber}: partition ${JSON.stringify(value)} is not a non-negative integer`, { file: path, line: lineNumber });
  }
  return number;
}

/** Writes the trace; returns the number of lines written (without the CSV header). */
export async function writeTraceFile(trace: Trace, path: string, format: TraceOutputFormat): Promise<number> {
  const out = createWriteStream(path, { encoding: 'utf8' });
  const failed = new Promise<never>((_, reject) => out.once('error', (error) => reject(new TraceError(`cannot write ${path}: ${error.message}`, { file: path }))));
  const write = async (chunk: string): Promise<void> => {
    if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
  };
  if (format === 'csv') await write('eventTime,ingestTime,device,partition\n');
  const sequence = new Uint32Array(trace.devices.length);
  let chunk = '';
  for (let i = 0; i < trace.length; i++) {
    const device = trace.device[i]!;
    const name = trace.devices[device]!;
    const partition = trace.partition[i]!;
    const eventTime = trace.eventTime[i]!;
    const ingestTime = trace.ingestTime[i]!;
    if (format === 'csv') {
      chunk += `${eventTime},${ingestTime},${name},${partition >= 0 ? partition : ''}\n`;
    } else if (format === 'ndjson') {
      chunk += `{"eventTime":${eventTime},"ingestTime":${ingestTime},"device":${JSON.stringify(name)}${partition >= 0 ? `,"partition":${partition}` : ''}}\n`;
    } else {
      const seq = sequence[device]!++;
      chunk += encodeReading({ tenant: trace.tenants[device]!, device: name, id: `${name}:${seq}`, eventTime, ingestTime, metrics: { value: 1 } }) + '\n';
    }
    if (chunk.length > 1 << 16) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  out.end();
  await Promise.race([once(out, 'finish'), failed]);
  return trace.length;
}
