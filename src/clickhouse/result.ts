import { PipelineError } from '../core/errors.ts';

/**
 * Reading JSONEachRow result values. ClickHouse quotes 64-bit integers in JSON by default
 * (output_format_json_quote_64bit_integers, 18.16 included), so UInt64 columns arrive as strings;
 * these accessors accept both forms and refuse values a JavaScript number cannot hold exactly.
 */
export class ResultShapeError extends PipelineError {
  constructor(message: string, field: string) {
    super('CLICKHOUSE_RESULT_SHAPE', message, { retriable: false, context: { field } });
    this.name = 'ResultShapeError';
  }
}

export function integerField(row: Readonly<Record<string, unknown>>, field: string): number {
  const raw = row[field];
  const value = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new ResultShapeError(`result column '${field}' is not a safe integer: ${JSON.stringify(raw)}`, field);
  }
  return value;
}

export function numberField(row: Readonly<Record<string, unknown>>, field: string): number {
  const raw = row[field];
  const value = typeof raw === 'string' ? Number(raw) : raw;
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new ResultShapeError(`result column '${field}' is not a number: ${JSON.stringify(raw)}`, field);
  }
  return value;
}

export function stringField(row: Readonly<Record<string, unknown>>, field: string): string {
  const value = row[field];
  if (typeof value !== 'string') {
    throw new ResultShapeError(`result column '${field}' is not a string: ${JSON.stringify(value)}`, field);
  }
  return value;
}
