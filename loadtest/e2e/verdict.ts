/**
 * The release check's decisions as pure functions (no I/O, no clock: the runner passes the time
 * in): when the wait after the fleet ends, and how the audit's figures become the verdict, its
 * reasons and the exit code. A release check must end with a report whatever happened on the way,
 * so every way a run can go wrong is an input here, not an exception.
 */
import { seconds } from '../support/format.ts';

export interface Balance {
  readonly acceptedValues: number;
  readonly countedValues: number;
}

export interface ServiceExit {
  readonly name: string;
  /** Exit code or signal name. */
  readonly exit: string;
}

/** How the wait for the aggregates to settle ended. */
export type SettleOutcome =
  | { readonly kind: 'settled'; readonly waitedMs: number }
  | { readonly kind: 'timed-out'; readonly waitedMs: number; readonly lastError: string | null }
  /** Every aggregator, or the bridge whose ticks close idle windows, is gone: waiting longer cannot help. */
  | { readonly kind: 'service-exited'; readonly waitedMs: number; readonly exited: readonly ServiceExit[] }
  /** The run ended before the wait (the stack, a service or the fleet failed first). */
  | { readonly kind: 'not-reached' };

export interface SettleWait {
  readonly startedMs: number;
  readonly lastCounted: number;
  readonly stableSinceMs: number;
  readonly lastError: string | null;
  readonly balance: Balance | null;
}

export interface SettleLimits {
  /** Readings the bridge acknowledged: what readings_raw must hold. */
  readonly acked: number;
  readonly timeoutMs: number;
  /** Counted values unchanged this long (with every reading accepted): the rest was dropped as late. */
  readonly quietMs: number;
}

export interface SettleObservation {
  readonly nowMs: number;
  /** This round's balance, or the message of the query's error. */
  readonly balance: Balance | { readonly error: string };
  /** Services of the run that have exited so far. */
  readonly exited: readonly ServiceExit[];
  /** Aggregators the run started. */
  readonly aggregators: number;
}

export function startSettleWait(nowMs: number): SettleWait {
  return { startedMs: nowMs, lastCounted: -1, stableSinceMs: nowMs, lastError: null, balance: null };
}

/** One round of the wait: the next state, and the outcome once the wait is over. */
export function settleStep(wait: SettleWait, observation: SettleObservation, limits: SettleLimits): { wait: SettleWait; outcome: SettleOutcome | null } {
  const now = observation.nowMs;
  const waitedMs = now - wait.startedMs;
  let next = wait;
  if ('error' in observation.balance) {
    next = { ...wait, lastError: observation.balance.error };
  } else {
    const balance = observation.balance;
    const changed = balance.countedValues !== wait.lastCounted;
    next = { ...wait, balance, lastCounted: balance.countedValues, stableSinceMs: changed ? now : wait.stableSinceMs };
    const allAccepted = balance.acceptedValues >= limits.acked;
    if (allAccepted && (balance.countedValues >= balance.acceptedValues || now - next.stableSinceMs > limits.quietMs)) {
      return { wait: next, outcome: { kind: 'settled', waitedMs } };
    }
  }
  const aggregatorsGone = observation.aggregators > 0 && observation.exited.filter((service) => service.name.startsWith('aggregator')).length >= observation.aggregators;
  const bridgeGone = observation.exited.some((service) => service.name === 'bridge');
  if (aggregatorsGone || bridgeGone) return { wait: next, outcome: { kind: 'service-exited', waitedMs, exited: observation.exited } };
  if (waitedMs >= limits.timeoutMs) return { wait: next, outcome: { kind: 'timed-out', waitedMs, lastError: next.lastError } };
  return { wait: next, outcome: null };
}

/** Something that went wrong on the way to the report, and in which phase of the run. */
export interface RunFailure {
  readonly phase: 'stack' | 'setup' | 'services' | 'fleet' | 'audit' | 'latency';
  readonly message: string;
}

export interface RunFigures {
  readonly acked: number;
  /** Acknowledged readings missing from readings_raw; null when the audit could not tell. */
  readonly lost: number | null;
  /** Some of them, as device/readingId. */
  readonly lostSample: readonly string[];
  readonly duplicated: number | null;
  readonly completeness: number;
  readonly p95Ms: number;
  readonly settle: SettleOutcome;
  /** Services that exited before the run stopped them. */
  readonly exited: readonly ServiceExit[];
  readonly failures: readonly RunFailure[];
}

export interface Targets {
  readonly slaP95Ms: number;
  readonly minCompleteness: number;
}

export interface Verdict {
  /** Latency and completeness targets met with nothing lost (the report's SLA line). */
  readonly slaMet: boolean;
  /** The release check passes: SLA met, nothing duplicated, and nothing went wrong on the way. */
  readonly passed: boolean;
  readonly exitCode: 0 | 1;
  /** Why it did not pass, one line each; empty when it passed. */
  readonly reasons: readonly string[];
}

export function verdictOf(figures: RunFigures, targets: Targets): Verdict {
  const reasons: string[] = figures.failures.map((failure) => `${failure.phase}: ${failure.message}`);
  reasons.push(...figures.exited.map((service) => `${service.name} exited (${service.exit}) during the run`));
  const settle = figures.settle;
  if (settle.kind === 'timed-out') {
    reasons.push(`the aggregates did not settle within ${seconds(settle.waitedMs)}${settle.lastError ? ` (last error: ${settle.lastError})` : ''}`);
  } else if (settle.kind === 'service-exited') {
    reasons.push(`stopped waiting for the aggregates after ${seconds(settle.waitedMs)}: ${settle.exited.map((service) => service.name).join(', ')} exited`);
  } else if (settle.kind === 'not-reached') {
    reasons.push('the run ended before the wait for the aggregates: nothing was checked end to end');
  }
  const reached = settle.kind !== 'not-reached';
  if (reached && figures.acked === 0) reasons.push('the bridge acknowledged no reading: nothing was checked');
  if (figures.lost === null) {
    reasons.push('lost readings unknown: the audit of acknowledged ids did not run');
  } else if (figures.lost > 0) {
    const sample = figures.lostSample.length > 0 ? ` (for example ${figures.lostSample.slice(0, 5).join(', ')})` : '';
    reasons.push(`${figures.lost} acknowledged reading${figures.lost === 1 ? '' : 's'} missing from readings_raw${sample}`);
  }
  if (figures.duplicated === null) reasons.push('duplicates unknown: the audit of the aggregates did not run');
  else if (figures.duplicated > 0) reasons.push(`${figures.duplicated} values counted more than once`);
  const latencyMet = figures.p95Ms <= targets.slaP95Ms;
  const completenessMet = figures.completeness >= targets.minCompleteness;
  if (reached && figures.acked > 0) {
    if (!latencyMet) reasons.push(`p95 ${seconds(figures.p95Ms)} above the SLA's ${seconds(targets.slaP95Ms)}`);
    if (!completenessMet) reasons.push(`completeness ${(figures.completeness * 100).toFixed(3)} % below ${(targets.minCompleteness * 100).toFixed(3)} %`);
  }
  const slaMet = reached && figures.acked > 0 && latencyMet && completenessMet && figures.lost === 0;
  const passed = slaMet && reasons.length === 0;
  return { slaMet, passed, exitCode: passed ? 0 : 1, reasons };
}
