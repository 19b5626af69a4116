import { readFileSync } from 'node:fs';

/**
 * CPU and memory of a process from /proc: CPU seconds (user + system) and peak resident memory.
 * Sampled at the start and the end of a run, the difference gives each process's share of a core.
 */
export interface ProcessSample {
  readonly cpuSeconds: number;
  readonly rssMb: number;
  readonly peakRssMb: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** User + system CPU seconds from the text of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file. */
export function cpuSecondsOfStat(stat: string): number {
  // Fields after the command name (which may hold spaces) start at ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

export function sampleProcess(pid: number): ProcessSample | null {
  try {
    const cpuSeconds = cpuSecondsOfStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
    return { cpuSeconds, rssMb: Math.round(kb('VmRSS') / 1024), peakRssMb: Math.round(kb('VmHWM') / 1024) };
  } catch {
    return null;
  }
}

export interface ProcessUsage {
  readonly name: string;
  readonly pid: number;
  /** Average share of one core over the run (1.0 = one core fully busy). */
  readonly cores: number;
  readonly peakRssMb: number;
}

export class ProcessMonitor {
  private readonly first = new Map<string, { pid: number; sample: ProcessSample; at: number }>();

  watch(name: string, pid: number): void {
    const sample = sampleProcess(pid);
    if (sample) this.first.set(name, { pid, sample, at: Date.now() });
  }

  usage(): ProcessUsage[] {
    const out: ProcessUsage[] = [];
    for (const [name, { pid, sample, at }] of this.first) {
      const now = sampleProcess(pid);
      if (!now) continue;
      const seconds = (Date.now() - at) / 1000;
      out.push({ name, pid, cores: Number(((now.cpuSeconds - sample.cpuSeconds) / seconds).toFixed(2)), peakRssMb: now.peakRssMb });
    }
    return out.sort((a, b) => b.cores - a.cores);
  }

  /** Cores used by every watched process together since it was watched, unrounded. */
  totalCores(): number {
    let cores = 0;
    for (const { pid, sample, at } of this.first.values()) {
      const now = sampleProcess(pid);
      const seconds = (Date.now() - at) / 1000;
      if (now && seconds > 0) cores += (now.cpuSeconds - sample.cpuSeconds) / seconds;
    }
    return cores;
  }
}
