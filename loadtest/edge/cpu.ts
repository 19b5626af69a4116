import { readFileSync } from 'node:fs';
import { cpuSecondsOfStat } from '../e2e/process-stats.ts';

/**
 * CPU time of a path's processes from /proc (utime + stime of all threads): what a phase cost the
 * machine per reading, robust to a busy machine in a way a rate is not.
 */
export function cpuSecondsOf(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += cpuSecondsOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      // the process ended meanwhile: it spends nothing more
    }
  }
  return total;
}

/** Runs `work` and returns its result with the CPU the processes spent meanwhile, in µs per reading. */
export async function withCpu<T>(pids: readonly number[], readings: number, work: () => Promise<T>): Promise<{ result: T; cpuMicros: number }> {
  const before = cpuSecondsOf(pids);
  const result = await work();
  return { result, cpuMicros: ((cpuSecondsOf(pids) - before) * 1e6) / readings };
}
