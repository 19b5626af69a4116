import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseAggregatorArgs } from './args.ts';

/**
 * How many worker processes one aggregator service runs. `aggregator.instances` (or `--instances`)
 * wins when set; 0 means one per core the process may use. os.availableParallelism() counts the
 * CPUs the process may be scheduled on but not a container's CPU quota (a pod limited to 2 CPUs on a
 * 32-core node sees 32), so the cgroup limit caps it: more workers than the quota allows only
 * time-slice each other and add a consumer-group member, a Kafka transaction and a window state each.
 */
export function resolveInstances(configured: number, cores: number, cgroupCpuLimit: number | null): number {
  if (configured > 0) return configured;
  const limit = cgroupCpuLimit === null ? cores : Math.max(1, Math.ceil(cgroupCpuLimit));
  return Math.max(1, Math.min(cores, limit));
}

/**
 * The CPU quota of cgroup v2 `cpu.max` text ("200000 100000" is 2 CPUs; "max 100000" is none), or
 * null when there is no limit or the text is not understood.
 */
export function parseCgroupCpuMax(text: string): number | null {
  const match = /^\s*(\d+|max)\s+(\d+)\s*$/.exec(text);
  if (!match || match[1] === 'max' || Number(match[2]) === 0) return null;
  return Number(match[1]) / Number(match[2]);
}

/** This process's cgroup v2 CPU limit (null without one, or on a system without cgroup v2). */
export function cgroupCpuLimit(path = '/sys/fs/cgroup/cpu.max'): number | null {
  try {
    return parseCgroupCpuMax(readFileSync(path, 'utf8'));
  } catch {
    // No cgroup v2 here (macOS, cgroup v1): no limit we can read, so none is applied.
    return null;
  }
}

/** `--instances N` on the command line (process.argv), if given; the whole command line is checked (src/aggregator/args.ts). */
export function instancesFlag(argv: readonly string[]): number | null {
  return parseAggregatorArgs(argv.slice(2)).instances;
}

/** The number of workers for this service: the flag, else the configuration, else one per usable core. */
export function instancesFor(configured: number, flag: number | null): number {
  return resolveInstances(flag ?? configured, availableParallelism(), cgroupCpuLimit());
}
