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

/** CPU seconds of a process's main thread (the event loop of a Node process; all of Mosquitto). */
function mainThreadSecondsOf(pid: number): number {
  try {
    return cpuSecondsOfStat(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8'));
  } catch {
    return 0; // the process ended meanwhile
  }
}

/** Busy and total CPU ticks of the whole machine (/proc/stat's first line; idle and iowait are not busy). */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = fields.reduce((sum, ticks) => sum + ticks, 0);
  return { busy: total - fields[3]! - fields[4]!, total };
}

/**
 * Whose CPU a phase reads: the path's own processes (its cost), and, to show where a phase's limit
 * lies, the Kafka brokers behind it and the publisher (this process: the publisher runs in it).
 */
export interface CpuWatch {
  readonly path: readonly number[];
  readonly kafka: readonly number[];
}

export interface PhaseCpu {
  /** The path's processes, µs per reading (all threads); the publisher and Kafka excluded. */
  readonly cpuMicros: number;
  /** The Kafka brokers, µs per reading (zero for the relay, which does not use Kafka, but others' work on the shared broker shows). */
  readonly kafkaMicros: number;
  /** The publisher (this process), µs per reading. */
  readonly publisherMicros: number;
  /** The publisher's share of one core over the phase (1 = a core fully busy: the publisher is the limit). */
  readonly publisherCores: number;
  /** Each path process's share of one core over the phase (all threads), in `watch.path`'s order. */
  readonly pathCores: readonly number[];
  /** The same for each one's main thread: a single-threaded event loop at 1 is that process's limit. */
  readonly pathMainCores: readonly number[];
  /** The Kafka brokers' share of one core over the phase. */
  readonly kafkaCores: number;
  /** The whole machine's busy share over the phase, every process counted (others' work included): near 1, the cores themselves are the limit. */
  readonly machineBusy: number;
}

/** Runs `work` and returns its result with the CPU spent meanwhile by each party of the phase. */
export async function withCpu<T>(watch: CpuWatch, readings: number, work: () => Promise<T>): Promise<{ result: T } & PhaseCpu> {
  const each = watch.path.map((pid) => cpuSecondsOf([pid]));
  const main = watch.path.map(mainThreadSecondsOf);
  const kafka = cpuSecondsOf(watch.kafka);
  const machine = machineTicks();
  const own = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const used = process.cpuUsage(own);
  const wall = (performance.now() - started) / 1000;
  const eachSpent = watch.path.map((pid, index) => cpuSecondsOf([pid]) - each[index]!);
  const kafkaSpent = cpuSecondsOf(watch.kafka) - kafka;
  const machineAfter = machineTicks();
  const publisherSeconds = (used.user + used.system) / 1e6;
  const perReading = (seconds: number): number => (seconds * 1e6) / readings;
  return {
    result,
    cpuMicros: perReading(eachSpent.reduce((sum, seconds) => sum + seconds, 0)),
    kafkaMicros: perReading(kafkaSpent),
    publisherMicros: perReading(publisherSeconds),
    publisherCores: publisherSeconds / wall,
    pathCores: eachSpent.map((seconds) => seconds / wall),
    pathMainCores: watch.path.map((pid, index) => (mainThreadSecondsOf(pid) - main[index]!) / wall),
    kafkaCores: kafkaSpent / wall,
    machineBusy: (machineAfter.busy - machine.busy) / Math.max(1, machineAfter.total - machine.total),
  };
}
