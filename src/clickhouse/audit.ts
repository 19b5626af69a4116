import { randomUUID } from 'node:crypto';
import type { ClickHouseConnection } from './client.ts';
import {
  EXPECTED_IDS_COLUMNS,
  EXPECTED_IDS_TABLE,
  countOf,
  createExpectedIdsSql,
  distinctExpectedIdsSql,
  dropExpectedIdsSql,
  duplicateAggregateKeysSql,
  duplicateRawReadingsSql,
  firstOf,
  miscountedSeriesSql,
  missingReadingIdsSql,
  readingsBalanceSql,
  type AuditScope,
} from './audit-sql.ts';
import { integerField, stringField } from './result.ts';
import { sqlIdentifier } from './sql.ts';

export * from './audit-sql.ts';

/**
 * Runs the audit queries of audit-sql.ts and returns typed results: a total plus the first rows
 * as a sample, so that a large discrepancy stays cheap to report.
 */
export interface Finding<Sample> {
  readonly total: number;
  readonly sample: readonly Sample[];
}

export interface AggregateKey {
  readonly tenant: string;
  readonly device: string;
  readonly metric: string;
  readonly windowStart: number;
  readonly copies: number;
}

export interface RawReadingKey {
  readonly tenant: string;
  readonly device: string;
  readonly readingId: string;
  readonly metric: string;
  readonly copies: number;
}

export interface ReadingsBalance {
  /** (reading, metric) values in readings_raw FINAL. */
  readonly acceptedValues: number;
  readonly acceptedReadings: number;
  /** sum(count) over the aggregates FINAL. */
  readonly countedValues: number;
  /** acceptedValues × window multiplicity: what countedValues should be. */
  readonly expectedCountedValues: number;
  /** countedValues − expectedCountedValues: > 0 counted twice, < 0 lost or dropped as late. */
  readonly difference: number;
}

export interface MiscountedSeries {
  readonly tenant: string;
  readonly device: string;
  readonly metric: string;
  readonly countedValues: number;
  readonly acceptedValues: number;
}

export interface ExpectedReading {
  readonly tenant: string;
  readonly device: string;
  readonly readingId: string;
}

export interface MissingReadings extends Finding<ExpectedReading> {
  /** Distinct expected readings that were checked. */
  readonly expected: number;
}

const DEFAULT_SAMPLE = 20;
const EXPECTED_IDS_PER_INSERT = 100_000;

export class Auditor {
  constructor(
    private readonly connection: ClickHouseConnection,
    private readonly database: string,
  ) {}

  async duplicateAggregateKeys(table: string, scope: AuditScope = {}, sampleSize = DEFAULT_SAMPLE): Promise<Finding<AggregateKey>> {
    return this.finding(duplicateAggregateKeysSql(this.database, table, scope), sampleSize, (row) => ({
      tenant: stringField(row, 'tenant'),
      device: stringField(row, 'device'),
      metric: stringField(row, 'metric'),
      windowStart: integerField(row, 'window_start_ms'),
      copies: integerField(row, 'copies'),
    }));
  }

  async duplicateRawReadings(scope: AuditScope = {}, sampleSize = DEFAULT_SAMPLE): Promise<Finding<RawReadingKey>> {
    return this.finding(duplicateRawReadingsSql(this.database, scope), sampleSize, (row) => ({
      tenant: stringField(row, 'tenant'),
      device: stringField(row, 'device'),
      readingId: stringField(row, 'reading_id'),
      metric: stringField(row, 'metric'),
      copies: integerField(row, 'copies'),
    }));
  }

  async readingsBalance(table: string, scope: AuditScope = {}, multiplicity = 1): Promise<ReadingsBalance> {
    const [row] = await this.connection.query<Record<string, unknown>>(readingsBalanceSql(this.database, table, scope));
    const acceptedValues = integerField(row ?? {}, 'accepted_values');
    const countedValues = integerField(row ?? {}, 'counted_values');
    const expectedCountedValues = acceptedValues * multiplicity;
    return {
      acceptedValues,
      acceptedReadings: integerField(row ?? {}, 'accepted_readings'),
      countedValues,
      expectedCountedValues,
      difference: countedValues - expectedCountedValues,
    };
  }

  async miscountedSeries(table: string, scope: AuditScope = {}, multiplicity = 1, sampleSize = DEFAULT_SAMPLE): Promise<Finding<MiscountedSeries>> {
    return this.finding(miscountedSeriesSql(this.database, table, scope, multiplicity), sampleSize, (row) => ({
      tenant: stringField(row, 'tenant'),
      device: stringField(row, 'device'),
      metric: stringField(row, 'metric'),
      countedValues: integerField(row, 'counted_values'),
      acceptedValues: integerField(row, 'accepted_values'),
    }));
  }

  /**
   * Which acknowledged readings never reached readings_raw. The ids go into a temporary table of
   * a private HTTP session (18.16 has them; requests of one session run one at a time).
   */
  async missingReadings(expected: readonly ExpectedReading[], sampleSize = DEFAULT_SAMPLE): Promise<MissingReadings> {
    const session = { sessionId: `audit-${randomUUID()}` };
    await this.connection.command(createExpectedIdsSql(), session);
    // On failure the table is left to the session, which the server drops when the session expires.
    for (let from = 0; from < expected.length; from += EXPECTED_IDS_PER_INSERT) {
      let body = '';
      for (const reading of expected.slice(from, from + EXPECTED_IDS_PER_INSERT)) {
        body +=
          `{"tenant":${JSON.stringify(reading.tenant)},"device":${JSON.stringify(reading.device)},` +
          `"reading_id":${JSON.stringify(reading.readingId)}}\n`;
      }
      await this.connection.insert(sqlIdentifier(EXPECTED_IDS_TABLE), EXPECTED_IDS_COLUMNS, body, session);
    }
    const [distinct] = await this.connection.query<Record<string, unknown>>(distinctExpectedIdsSql(), session);
    const finding = await this.finding(
      missingReadingIdsSql(this.database),
      sampleSize,
      (row) => ({
        tenant: stringField(row, 'tenant'),
        device: stringField(row, 'device'),
        readingId: stringField(row, 'reading_id'),
      }),
      session,
    );
    await this.connection.command(dropExpectedIdsSql(), session);
    return { ...finding, expected: integerField(distinct ?? {}, 'total') };
  }

  private async finding<Sample>(
    listingSql: string,
    sampleSize: number,
    toSample: (row: Record<string, unknown>) => Sample,
    options: { sessionId?: string } = {},
  ): Promise<Finding<Sample>> {
    const [count] = await this.connection.query<Record<string, unknown>>(countOf(listingSql), options);
    const total = integerField(count ?? {}, 'total');
    if (total === 0 || sampleSize === 0) return { total, sample: [] };
    const rows = await this.connection.query<Record<string, unknown>>(firstOf(listingSql, sampleSize), options);
    return { total, sample: rows.map(toSample) };
  }
}
