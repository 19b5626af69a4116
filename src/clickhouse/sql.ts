import { PipelineError } from '../core/errors.ts';

/**
 * SQL literal and identifier formatting. ClickHouse 18.16 has no query parameters (`{p:Type}`
 * arrived in 19.x), so every value is inlined; these helpers are the only place that does it, and
 * they refuse anything they cannot format exactly instead of guessing.
 */

export class SqlFormatError extends PipelineError {
  constructor(message: string, context: Record<string, string | number>) {
    super('CLICKHOUSE_SQL_VALUE', message, { retriable: false, context });
    this.name = 'SqlFormatError';
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A database, table or column name, back-quoted. Only plain identifiers are accepted. */
export function sqlIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new SqlFormatError(`'${name}' is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*)`, { identifier: name });
  }
  return `\`${name}\``;
}

/** `db`.`table`, both validated. */
export function sqlTable(database: string, table: string): string {
  return `${sqlIdentifier(database)}.${sqlIdentifier(table)}`;
}

// Escapes understood by ClickHouse string literals in every version (18.16 included).
const NAMED_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  "'": "\\'",
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\0': '\\0',
  '\b': '\\b',
  '\f': '\\f',
};

// Backslash, quote and every control character; other characters (UTF-8 included) pass as is.
const NEEDS_ESCAPE = /[\\'\u0000-\u001f\u007f]/g;

/** A String literal: 'it\'s'. Control characters become escapes, so a literal is always one line. */
export function sqlString(value: string): string {
  if (typeof value !== 'string') {
    throw new SqlFormatError(`expected a string, got ${typeof value}`, { type: typeof value });
  }
  return `'${value.replace(NEEDS_ESCAPE, escapeChar)}'`;
}

function escapeChar(char: string): string {
  return NAMED_ESCAPES[char] ?? `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/** A numeric literal for a Float64 or signed column: finite numbers only (no NaN/Infinity). */
export function sqlNumber(value: number): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new SqlFormatError(`expected a finite number, got ${String(value)}`, { value: String(value) });
  }
  // String(-0) is '0'; exponent forms like 1e-7 and 1e+21 are valid ClickHouse literals.
  return String(value);
}

/** A non-negative integer literal (UInt32/UInt64 columns: offsets, partitions, milliseconds). */
export function sqlUnsigned(value: number | bigint): string {
  if (typeof value === 'bigint') {
    if (value < 0n || value > 18446744073709551615n) {
      throw new SqlFormatError(`expected an unsigned 64-bit integer, got ${value}`, { value: value.toString() });
    }
    return value.toString();
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new SqlFormatError(`expected a non-negative safe integer, got ${String(value)}`, { value: String(value) });
  }
  return String(value);
}

/** A parenthesised list of already formatted literals, for `IN (...)`; refuses an empty list. */
export function sqlList(literals: readonly string[]): string {
  if (literals.length === 0) throw new SqlFormatError('an IN list needs at least one value', { length: 0 });
  return `(${literals.join(', ')})`;
}
