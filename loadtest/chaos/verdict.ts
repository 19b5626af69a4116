/**
 * The chaos run's verdict as a pure function: from the audits' figures (and what went wrong on the
 * way) to pass or fail, the reasons and the exit code. A figure the run could not measure is null
 * and fails the run with its reason; it is never read as zero.
 */
export interface ChaosTierFigures {
  readonly tier: string;
  readonly lost: number;
  readonly duplicated: number;
  readonly matchesTable: boolean;
}

export interface ChaosFigures {
  readonly tiers: readonly ChaosTierFigures[];
  /** Tiers the run configured: one missing from `tiers` was not audited. */
  readonly tiersConfigured: readonly string[];
  /** Acknowledged readings absent from the readings topic; null when that audit did not run. */
  readonly kafkaLost: number | null;
  /** Acknowledged readings absent from readings_raw; null when that audit did not run. */
  readonly edgeLost: number | null;
  /**
   * Of those, how many the failure table predicts lost, within its bound (broker mode: Mosquitto
   * killed; see brokerCrash): not a finding. 0 when no such fault ran or the bound was exceeded.
   */
  readonly explainedLoss: number;
  /** Broker mode, Mosquitto killed: the loss against the table's bound; null when not injected. */
  readonly brokerCrash: { readonly missing: number; readonly allowed: number; readonly matches: boolean } | null;
  readonly settle: 'settled' | 'timed-out' | 'not-reached';
  /** What went wrong on the way to the audit, one line each. */
  readonly failures: readonly string[];
}

export interface ChaosVerdict {
  readonly passed: boolean;
  readonly exitCode: 0 | 1;
  readonly reasons: readonly string[];
}

export function chaosVerdict(figures: ChaosFigures): ChaosVerdict {
  const reasons = [...figures.failures];
  if (figures.settle === 'timed-out') reasons.push('the tiers did not settle in time (audited as they were)');
  if (figures.settle === 'not-reached') reasons.push('the run ended before the audit');
  if (figures.kafkaLost === null) reasons.push('acknowledged readings missing from the readings topic: unknown (that audit did not run)');
  else if (figures.kafkaLost > figures.explainedLoss) reasons.push(`${figures.kafkaLost - figures.explainedLoss} acknowledged readings missing from the readings topic${figures.explainedLoss > 0 ? ` beyond the ${figures.explainedLoss} the broker crash lost` : ''}`);
  if (figures.edgeLost === null) reasons.push('acknowledged readings missing from readings_raw: unknown (that audit did not run)');
  else if (figures.edgeLost > figures.explainedLoss) reasons.push(`${figures.edgeLost - figures.explainedLoss} acknowledged readings missing from readings_raw${figures.explainedLoss > 0 ? ` beyond the ${figures.explainedLoss} the broker crash lost` : ''}`);
  const crash = figures.brokerCrash;
  if (crash && !crash.matches) reasons.push(`the broker crash lost ${crash.missing} acknowledged readings; the failure table allows at most ${crash.allowed}`);
  const audited = new Set(figures.tiers.map((tier) => tier.tier));
  for (const tier of figures.tiersConfigured) if (!audited.has(tier)) reasons.push(`${tier}: not audited`);
  for (const tier of figures.tiers) {
    if (!tier.matchesTable) reasons.push(`${tier.tier}: lost ${tier.lost}, duplicated ${tier.duplicated} contradicts the failure table`);
    if (tier.tier === 'exactly-once' && (tier.lost > 0 || tier.duplicated > 0)) reasons.push(`exactly-once: lost ${tier.lost}, duplicated ${tier.duplicated}`);
    if (tier.tier === 'at-least-once' && tier.lost > 0) reasons.push(`at-least-once: lost ${tier.lost}`);
  }
  const passed = reasons.length === 0;
  return { passed, exitCode: passed ? 0 : 1, reasons };
}
