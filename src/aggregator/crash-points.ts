import { ConfigError } from '../core/errors.ts';

/**
 * Fault injection for failure tests and chaos runs: `<point>:<n>` makes the process SIGKILL itself
 * the n-th time it reaches that point of the commit protocol, so that a test can prove recovery from
 * exactly there (not from wherever a timer happened to land). Not a configuration key: only the
 * test-only entry point loadtest/support/crashing-aggregator.ts (TEST_AGGREGATOR_CRASH_AT) installs
 * it, and the production image does not contain that entry.
 */
/** 'in-late-transaction': just before a Kafka transaction that holds late records is committed. */
export const CRASH_POINTS = ['before-flush', 'during-insert', 'after-insert-before-commit', 'in-late-transaction', 'after-commit'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

export class CrashPoints {
  private readonly point: CrashPoint | null;
  private readonly nth: number;
  private seen = 0;

  constructor(spec: string, private readonly kill: () => void = () => process.kill(process.pid, 'SIGKILL')) {
    if (spec === '') {
      this.point = null;
      this.nth = 0;
      return;
    }
    const match = /^([a-z-]+):(\d+)$/.exec(spec);
    if (!match || !(CRASH_POINTS as readonly string[]).includes(match[1]!) || Number(match[2]) < 1) {
      throw new ConfigError(`crash point '${spec}': expected '<point>:<n>' with point one of ${CRASH_POINTS.join(', ')} and n ≥ 1`, { spec });
    }
    this.point = match[1] as CrashPoint;
    this.nth = Number(match[2]);
  }

  reached(point: CrashPoint): void {
    if (point !== this.point) return;
    if (++this.seen === this.nth) this.kill();
  }
}
