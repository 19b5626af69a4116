import type { Config } from '../config/schema.ts';
import type { PartitionProcessor, ProcessorOutput } from '../core/processor.ts';
import { decodeRecord, type DecodeResult } from '../core/wire/decode.ts';

export type DecodedRecord = Extract<DecodeResult, { ok: true }>;

/**
 * A readings-topic record decoded as every pipeline reads it, live or replayed: with the broker's
 * ingest clock the record's Kafka timestamp (its append time, stored with the record: the same on
 * every replay; decision 0012) stands for the bridge's ingest time.
 */
export function decodeMessage(value: string | Buffer, timestamp: number | undefined, ingestClock: Config['kafka']['ingestClock']): DecodeResult {
  return decodeRecord(value, ingestClock === 'broker' ? timestamp : undefined);
}

/** A decoded record into its partition's processor: every reading of a record sits at the record's offset. */
export function feedRecord(processor: PartitionProcessor, decoded: DecodedRecord, offset: number, output: ProcessorOutput): void {
  if (decoded.tick !== null) processor.process(decoded.tick, offset, output);
  else processor.processReadings(decoded.readings, offset, output);
}
