import { createHash } from 'node:crypto';
import { extname } from 'node:path';
import { PipelineError } from '../core/errors.ts';
import type { RejectionReason } from '../core/readings.ts';

/**
 * A backfill file into the HTTP intake's input: one JSON reading per line, exactly what a gateway
 * may POST as NDJSON, so that the intake's own validator (validateGatewayBody) judges every line.
 * Pure: text in, lines out.
 *
 * NDJSON lines are gateway readings as they are. CSV has a header naming `device`, `ts`,
 * optionally `id` or `seq` and `tenant`, and then either `metric` and `value` (one metric per
 * row) or one column per metric (an empty cell: that metric absent in the row). A line with
 * neither `id` nor `seq` gets an id derived from its tenant, device, time and metrics, so that the
 * same file loaded twice gives the same ids and nothing is counted twice.
 */
export type BackfillFormat = 'ndjson' | 'csv';

export interface SourceLine {
  /** 1-based line number in the file. */
  readonly line: number;
  /** One JSON reading, for the validator. */
  readonly json: string;
}

export interface LineRefusal {
  readonly line: number;
  readonly reason: RejectionReason;
  readonly detail: string;
}

export interface ParsedFile {
  readonly lines: SourceLine[];
  readonly refusals: LineRefusal[];
}

export class BackfillError extends PipelineError {
  constructor(code: string, message: string, context: Record<string, string | number> = {}) {
    super(code, message, { retriable: false, context });
    this.name = 'BackfillError';
  }
}

export function formatOf(path: string): BackfillFormat {
  const extension = extname(path).toLowerCase();
  if (extension === '.ndjson' || extension === '.jsonl') return 'ndjson';
  if (extension === '.csv') return 'csv';
  throw new BackfillError('BACKFILL_FORMAT', `cannot tell the format of '${path}': name it .ndjson (or .jsonl) or .csv`, { path });
}

export function parseFile(text: string, format: BackfillFormat): ParsedFile {
  const body = text.startsWith('\ufeff') ? text.slice(1) : text;
  return format === 'csv' ? parseCsv(body) : parseNdjson(body);
}

const BLANK = /^[ \t\r]*$/;

function parseNdjson(text: string): ParsedFile {
  const lines: SourceLine[] = [];
  text.split('\n').forEach((raw, index) => {
    if (BLANK.test(raw)) return;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    lines.push({ line: index + 1, json: withDerivedId(line) });
  });
  return { lines, refusals: [] };
}

/**
 * Adds an `id` to a reading that has neither `id` nor `seq`. A line that is not a JSON object is
 * left as it is: the validator refuses it with its own reason.
 */
export function withDerivedId(line: string): string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return line;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return line;
  const reading = value as Record<string, unknown>;
  if (reading['id'] !== undefined || reading['seq'] !== undefined) return line;
  return JSON.stringify({ ...reading, id: derivedId(reading) });
}

/**
 * `bf-` and 24 hex digits of SHA-256 over tenant, device, ts and the metrics (names sorted): the
 * same reading written with other spacing, field order or metric order gets the same id.
 */
export function derivedId(reading: Readonly<Record<string, unknown>>): string {
  const metrics = reading['metrics'];
  const values: Record<string, unknown> =
    typeof metrics === 'object' && metrics !== null && !Array.isArray(metrics)
      ? (metrics as Record<string, unknown>)
      : { [String(reading['metric'])]: reading['value'] };
  const sorted = Object.keys(values).sort().map((name) => [name, values[name]]);
  const canonical = JSON.stringify([reading['tenant'] ?? null, reading['device'] ?? null, reading['ts'] ?? null, sorted]);
  return `bf-${createHash('sha256').update(canonical).digest('hex').slice(0, 24)}`;
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const RESERVED = new Set(['device', 'ts', 'id', 'seq', 'tenant', 'metric', 'value']);

function parseCsv(text: string): ParsedFile {
  const rows = text.split('\n');
  let headerIndex = rows.findIndex((row) => !BLANK.test(row));
  if (headerIndex < 0) throw new BackfillError('BACKFILL_CSV_HEADER', 'the CSV file is empty: it needs a header line (device,ts,…)');
  const header = splitCsvLine(stripCr(rows[headerIndex]!));
  if (typeof header === 'string') throw new BackfillError('BACKFILL_CSV_HEADER', `CSV header (line ${headerIndex + 1}): ${header}`);
  const columns = header.map((name) => name.trim());
  for (const required of ['device', 'ts']) {
    if (!columns.includes(required)) throw new BackfillError('BACKFILL_CSV_HEADER', `CSV header (line ${headerIndex + 1}) has no '${required}' column: ${columns.join(',')}`);
  }
  const long = columns.includes('metric') || columns.includes('value');
  if (long && !(columns.includes('metric') && columns.includes('value'))) {
    throw new BackfillError('BACKFILL_CSV_HEADER', `CSV header (line ${headerIndex + 1}) has one of 'metric' and 'value' without the other`);
  }
  const metricColumns = columns.filter((name) => !RESERVED.has(name));
  if (!long && metricColumns.length === 0) {
    throw new BackfillError('BACKFILL_CSV_HEADER', `CSV header (line ${headerIndex + 1}) names no metric: add 'metric' and 'value' columns, or one column per metric`);
  }
  if (long && metricColumns.length > 0) {
    throw new BackfillError('BACKFILL_CSV_HEADER', `CSV header (line ${headerIndex + 1}) has 'metric'/'value' and metric columns (${metricColumns.join(',')}): use one form`);
  }
  const lines: SourceLine[] = [];
  const refusals: LineRefusal[] = [];
  for (let index = headerIndex + 1; index < rows.length; index++) {
    const raw = stripCr(rows[index]!);
    if (BLANK.test(raw)) continue;
    const line = index + 1;
    const cells = splitCsvLine(raw);
    if (typeof cells === 'string') {
      refusals.push({ line, reason: 'schema', detail: cells });
      continue;
    }
    if (cells.length !== columns.length) {
      refusals.push({ line, reason: 'schema', detail: `${cells.length} fields, the header has ${columns.length}` });
      continue;
    }
    const cell = (name: string): string | undefined => {
      const at = columns.indexOf(name);
      return at < 0 ? undefined : cells[at];
    };
    const reading: Record<string, unknown> = { device: cell('device') };
    const tenant = cell('tenant');
    if (tenant !== undefined && tenant !== '') reading['tenant'] = tenant;
    const id = cell('id');
    const seq = cell('seq');
    if (id !== undefined && id !== '') reading['id'] = id;
    else if (seq !== undefined && seq !== '') reading['seq'] = NUMBER.test(seq) ? Number(seq) : seq;
    const ts = cell('ts')!;
    reading['ts'] = NUMBER.test(ts) ? Number(ts) : ts;
    if (long) {
      reading['metric'] = cell('metric');
      reading['value'] = numberCell(cell('value')!);
    } else {
      const metrics: Record<string, unknown> = {};
      for (const name of metricColumns) {
        const value = cell(name)!;
        if (value.trim() !== '') metrics[name] = numberCell(value);
      }
      reading['metrics'] = metrics;
    }
    if (reading['id'] === undefined && reading['seq'] === undefined) reading['id'] = derivedId(reading);
    lines.push({ line, json: JSON.stringify(reading) });
  }
  return { lines, refusals };
}

/** A number when the cell is one; otherwise the text, which the validator refuses with its reason. */
function numberCell(text: string): unknown {
  const trimmed = text.trim();
  return NUMBER.test(trimmed) ? Number(trimmed) : trimmed;
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

/**
 * One CSV record of one line (RFC 4180 quoting: `"a,b"`, `""` for a quote); a string describing
 * the problem when it is malformed. A quoted field spanning lines is refused, not joined.
 */
export function splitCsvLine(line: string): string[] | string {
  const fields: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  let atFieldStart = true;
  while (i < line.length) {
    const char = line[i]!;
    if (quoted) {
      if (char === '"') {
        if (line[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        if (i < line.length && line[i] !== ',') return `a character after a closing quote at column ${i + 1}`;
        continue;
      }
      field += char;
      i++;
      continue;
    }
    if (char === ',') {
      fields.push(field);
      field = '';
      atFieldStart = true;
      i++;
      continue;
    }
    if (char === '"' && atFieldStart) {
      quoted = true;
      atFieldStart = false;
      i++;
      continue;
    }
    if (char === '"') return `a quote inside an unquoted field at column ${i + 1}`;
    field += char;
    atFieldStart = false;
    i++;
  }
  if (quoted) return 'an unterminated quoted field (a field spanning lines is not supported)';
  fields.push(field);
  return fields;
}
