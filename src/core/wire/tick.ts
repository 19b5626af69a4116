import { READING_SCHEMA_VERSION, type TickRecord } from '../readings.ts';

/**
 * The idle-partition tick of the readings topic (key null, explicit partition):
 *   {"v":1,"tick":true,"ingestTime":…,"source":…}
 * Its encoder and its decoder.
 */

export function encodeTick(ingestTime: number, source: string): string {
  return JSON.stringify({ v: READING_SCHEMA_VERSION, tick: true, ingestTime, source });
}

/**
 * A parsed tick record (version and `tick: true` checked by the caller) as a TickRecord, or
 * undefined when its ingest time is not a number. `logTime`, when given, replaces that ingest time
 * in place.
 */
export function decodeTickRecord(record: Record<string, unknown>, logTime: number | undefined): TickRecord | undefined {
  if (typeof record['ingestTime'] !== 'number') return undefined;
  if (logTime !== undefined) record['ingestTime'] = logTime;
  return record as unknown as TickRecord;
}
