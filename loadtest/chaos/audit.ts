import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { guaranteeSettings } from '../../src/config/guarantees.ts';
import type { Config } from '../../src/config/schema.ts';
import { Auditor } from '../../src/clickhouse/audit.ts';
import { connectClickHouse } from '../../src/clickhouse/client.ts';
import { asRole } from '../../src/clickhouse/roles.ts';
import { errorMessage } from '../../src/core/errors.ts';
import { failureAnalysis, observationMatches, type Outcome, type ScenarioOutcome } from '../../src/core/failure-analysis.ts';
import { eventually } from '../../src/stack/services.ts';
import type { FleetResult } from '../fleet/publisher.ts';
import { acknowledgedMissingFromTopic, type KafkaAudit } from './kafka-audit.ts';
import { FAULT_SCENARIOS, type FaultKind } from './schedule.ts';

/**
 * The chaos run's audits after the fleet: the MQTT leg against the readings topic, then, once the
 * tiers have settled (or the bounded wait is over), each tier in ClickHouse against the ids the
 * fleet had acknowledged, checked against the failure table of `guarantees explain`. An audit that
 * fails leaves its figure unknown (null) and a reason; it does not end the run.
 */
export interface TierVerdict {
  readonly tier: string;
  readonly pipeline: string;
  readonly acknowledged: number;
  readonly stored: number;
  readonly lost: number;
  readonly duplicated: number;
  readonly predicted: Outcome;
  readonly matchesTable: boolean;
}

/**
 * Broker mode, Mosquitto killed while the bridges were held back: acknowledged readings missing
 * from the readings topic against what the table's broker-crash row allows for each kill
 * (observationMatches, for the declared mqtt.brokerPersistence).
 */
export interface BrokerCrashCheck {
  readonly kills: number;
  readonly missing: number;
  /** The most the table allows over all the kills. */
  readonly allowed: number;
  readonly predicted: Outcome;
  readonly matches: boolean;
}

export interface TierAudit {
  readonly kafkaLost: number | null;
  readonly brokerCrash: BrokerCrashCheck | null;
  readonly edgeLost: number | null;
  readonly settle: 'settled' | 'timed-out';
  readonly tiers: TierVerdict[];
}

export interface TierAuditInput {
  readonly config: Config;
  readonly tenant: string;
  readonly fleet: FleetResult;
  /** Faults as applied; `startedMs` counts from the fleet's start, as `fleet.ackedPerSecond` does. */
  readonly applied: ReadonlyArray<{ readonly kind: FaultKind; readonly heldMs?: number; readonly startedMs?: number }>;
  /** The fleet's readings per second (the broker-crash observation's rate). */
  readonly ratePerSecond: number;
  readonly runDir: string;
  readonly log: (line: string) => void;
  /** Runs a step; on failure records it as a reason and gives undefined. */
  readonly attempt: <T extends {} | null>(what: string, work: () => Promise<T>) => Promise<T | undefined>;
  /** Waits until every bridge and aggregator is ready again (throws when one is not). */
  readonly ensureAllRunning: () => Promise<void>;
}

export async function auditTiers(input: TierAuditInput): Promise<TierAudit> {
  const { config, tenant, fleet, log, attempt } = input;
  // The MQTT leg's audit needs only the bridges (and runs even when an aggregator cannot start).
  const kafkaAudit = await attempt('auditing the readings topic', () => auditTopic(config, tenant, fleet.ackedIds, log));
  const brokerCrash = kafkaAudit ? checkBrokerCrashes(config, input.applied, { ratePerSecond: input.ratePerSecond, ackedPerSecond: fleet.ackedPerSecond }, kafkaAudit.missing.length) : null;
  if (brokerCrash) log(`broker crash: ${brokerCrash.missing} acknowledged readings missing from the readings topic after ${brokerCrash.kills} kill(s); the table predicts ${brokerCrash.predicted}, at most ${brokerCrash.allowed}: ${brokerCrash.matches ? 'matches' : 'CONTRADICTS'}`);
  // Readings the broker lost never reach a tier: the tiers are audited on the rest.
  const explained = brokerCrash?.matches ? brokerCrash.missing : 0;
  await attempt('waiting for every service to run again', () => input.ensureAllRunning().then(() => 'running'));
  const connection = await attempt('connecting to ClickHouse for the audit', () => connectClickHouse(asRole(config.clickhouse, 'admin')));
  if (!connection) return { kafkaLost: kafkaAudit?.missing.length ?? null, brokerCrash, edgeLost: null, settle: 'timed-out', tiers: [] };
  try {
    const auditor = new Auditor(connection, config.clickhouse.database);
    const settle = await settleTiers(auditor, config, tenant, fleet.acked - explained, log);
    const expected = [...fleet.ackedIds].flatMap(([device, ids]) => ids.map((readingId) => ({ tenant, device, readingId })));
    const missing = await attempt('finding acknowledged ids missing from readings_raw', () => auditor.missingReadings(expected, 100_000));
    if (missing && missing.total > 0) {
      writeFileSync(join(input.runDir, 'missing.json'), JSON.stringify(missing.sample));
      log(`  ! ${missing.total} acknowledged readings missing from readings_raw; listed in ${join(input.runDir, 'missing.json')}`);
    }
    const scenarios = new Set(input.applied.flatMap((fault) => FAULT_SCENARIOS[fault.kind]));
    // The broker crash's loss is judged above, at the edge, against its bound.
    if (brokerCrash) scenarios.delete('mqtt-broker-crash');
    const tiers: TierVerdict[] = [];
    for (const pipeline of config.aggregator.pipelines) {
      const tier = await attempt(`auditing the ${pipeline.guarantee} tier (${pipeline.table})`, async () => {
        const balance = await auditor.readingsBalance(pipeline.table, { tenant });
        const duplicateKeys = await auditor.duplicateAggregateKeys(pipeline.table, { tenant }, 5);
        const miscounted = await auditor.miscountedSeries(pipeline.table, { tenant }, 1, 10_000);
        const overcounted = miscounted.sample.reduce((sum, series) => sum + Math.max(0, series.countedValues - series.acceptedValues), 0);
        const duplicated = duplicateKeys.total + overcounted;
        const lost = Math.max(0, fleet.acked - explained - (balance.countedValues - overcounted));
        const predictedRows = failureAnalysis(guaranteeSettings(config, pipeline)).filter((row) => scenarios.has(row.id));
        const predicted: Outcome = predictedRows.some((row) => row.outcome === 'lost') ? 'lost' : predictedRows.some((row) => row.outcome === 'duplicated') ? 'duplicated' : 'exact';
        const matchesTable = predicted === 'lost' ? duplicated === 0 : predicted === 'duplicated' ? lost === 0 : lost === 0 && duplicated === 0;
        return { tier: pipeline.guarantee, pipeline: pipeline.name, acknowledged: fleet.acked, stored: balance.countedValues, lost, duplicated, predicted, matchesTable };
      });
      if (tier) tiers.push(tier);
    }
    return { kafkaLost: kafkaAudit?.missing.length ?? null, brokerCrash, edgeLost: missing?.total ?? null, settle, tiers };
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** The devices' traffic: the fleet's nominal rate, and what it had acknowledged in each second since its start. */
export interface FleetTraffic {
  readonly ratePerSecond: number;
  readonly ackedPerSecond?: readonly number[];
}

/**
 * Each kill of Mosquitto is one observation: the backlog is what the devices were acknowledged while
 * the bridges were held back (plus a second either side), the allowance the largest loss
 * observationMatches accepts for it; the kills' allowances add up. Null when no kill was applied.
 */
export function checkBrokerCrashes(config: Config, applied: TierAuditInput['applied'], traffic: FleetTraffic, missing: number): BrokerCrashCheck | null {
  const kills = applied.filter((fault) => fault.kind === 'kill-mosquitto-bridge-held' && fault.heldMs !== undefined);
  if (kills.length === 0) return null;
  const row = failureAnalysis(guaranteeSettings(config, config.aggregator.pipelines[0]!)).find((candidate) => candidate.id === 'mqtt-broker-crash');
  if (!row) throw new Error("the failure table has no 'mqtt-broker-crash' row");
  const allowed = kills.reduce((sum, kill) => {
    // The rate over the span the row's bound names (its seconds plus the one observationMatches adds).
    const spanSeconds = row.bound?.kind === 'seconds' ? row.bound.seconds + 1 : 1;
    const observed = trafficAround(kill.heldMs!, kill.startedMs, traffic, spanSeconds);
    return sum + largestMatchingLoss(row, observed.ratePerSecond, observed.backlog);
  }, 0);
  return { kills: kills.length, missing, allowed, predicted: row.outcome, matches: missing <= allowed };
}

/**
 * The traffic a kill could lose, as the devices really sent it: a fleet catching up after an
 * earlier fault publishes above its nominal rate (seen: 6,009 lost against 6,000 allowed at a
 * nominal 1,000/s), so the rate is the highest mean rate over any `spanSeconds` while the bridges
 * were held, and the backlog what was acknowledged meanwhile; never below the nominal figures.
 */
function trafficAround(heldMs: number, startedMs: number | undefined, traffic: FleetTraffic, spanSeconds: number): { ratePerSecond: number; backlog: number } {
  const nominalBacklog = Math.ceil(traffic.ratePerSecond * (heldMs / 1000 + 1));
  const perSecond = traffic.ackedPerSecond ?? [];
  if (startedMs === undefined || perSecond.length === 0) return { ratePerSecond: traffic.ratePerSecond, backlog: nominalBacklog };
  const held = perSecond.slice(Math.max(0, Math.floor(startedMs / 1000) - 1), Math.ceil((startedMs + heldMs) / 1000) + 1);
  const span = Math.min(spanSeconds, held.length);
  let busiest = 0;
  for (let start = 0; start + span <= held.length; start++) busiest = Math.max(busiest, held.slice(start, start + span).reduce((sum, count) => sum + count, 0));
  return {
    ratePerSecond: Math.max(traffic.ratePerSecond, busiest / Math.max(1, span)),
    backlog: Math.max(nominalBacklog, held.reduce((sum, count) => sum + count, 0)),
  };
}

/** The largest loss the row accepts for one observation (observationMatches is monotone in it). */
function largestMatchingLoss(row: ScenarioOutcome, ratePerSecond: number, backlog: number): number {
  let low = 0;
  let high = backlog;
  if (!observationMatches(row, { missing: 0, ratePerSecond, backlog })) return 0;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (observationMatches(row, { missing: middle, ratePerSecond, backlog })) low = middle;
    else high = middle - 1;
  }
  return low;
}

/** Waits (bounded) until the bridges have written every acknowledged reading, or the count stops falling. */
async function auditTopic(config: Config, tenant: string, acked: ReadonlyMap<string, readonly string[]>, log: (line: string) => void): Promise<KafkaAudit> {
  let audit = await acknowledgedMissingFromTopic(config.kafka, config.kafka.readingsTopic, tenant, acked);
  for (let round = 0; round < 6 && audit.missing.length > 0; round++) {
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    const next = await acknowledgedMissingFromTopic(config.kafka, config.kafka.readingsTopic, tenant, acked);
    const falling = next.missing.length < audit.missing.length;
    audit = next;
    if (!falling) break;
  }
  log(`kafka audit: ${audit.recordsRead} records read; ${audit.missing.length} acknowledged readings missing from ${config.kafka.readingsTopic}${audit.missing.length > 0 ? ` (first: ${audit.missing.slice(0, 5).join(', ')})` : ''}`);
  return audit;
}

/**
 * Waits until every tier whose table promises no loss has counted every acknowledged reading (and
 * readings_raw holds them all), and the others have stopped changing for 20 s. Not settled in time
 * is an outcome: the tiers are audited as they are and the verdict says so.
 */
async function settleTiers(auditor: Auditor, config: Config, tenant: string, acked: number, log: (line: string) => void): Promise<'settled' | 'timed-out'> {
  log('waiting for every tier to settle');
  const last = new Map<string, number>();
  let stableSince = Date.now();
  return eventually('tiers settled', async () => {
    let changed = false;
    let complete = true;
    for (const pipeline of config.aggregator.pipelines) {
      const balance = await auditor.readingsBalance(pipeline.table, { tenant });
      if (last.get(pipeline.name) !== balance.countedValues) changed = true;
      last.set(pipeline.name, balance.countedValues);
      const mayLose = guaranteeSettings(config, pipeline).consumer.autoCommit;
      if (!mayLose && (balance.countedValues < acked || balance.acceptedReadings < acked)) complete = false;
    }
    if (changed) stableSince = Date.now();
    return complete && Date.now() - stableSince > 20_000 ? ('settled' as const) : undefined;
  }, 300_000, 2000).catch((error: unknown) => {
    log(`  ! ${errorMessage(error)}`);
    return 'timed-out' as const;
  });
}
