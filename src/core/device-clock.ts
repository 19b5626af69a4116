import { ConfigError } from './errors.ts';

/**
 * Per-device clock offsets, learned only from the log, so that the windows of a device whose
 * clock runs behind close late enough to hold its readings (instead of every reading being late).
 *
 * A reading's apparent delay is ingestTime − eventTime: network delay plus the device's clock
 * offset. The partition watermark's delay already covers ordinary network delay (up to
 * `coveredDelayMs`, the watermark's ceiling). A device is SHIFTED when the minimum of its apparent
 * delays has stayed above that for `ENTER_AFTER_MS` of ingest time (at least `MIN_SAMPLES`
 * readings): a minimum, because network delay only ever adds to the offset, so delay spikes do
 * not count. Its shift is that minimum rounded up to `quantumMs`; its windows then close when the
 * watermark passes windowEnd + shift, and its readings are late only relative to that.
 *
 * Hysteresis: the shift follows a lower minimum at once (the clock was fixed: the safe direction,
 * windows close earlier) but a higher one only once a whole bucket of `ENTER_AFTER_MS` and the
 * current one agree; changes within half the covered delay are ignored; the device leaves the
 * shifted state when a reading's delay falls to half the covered delay.
 *
 * Devices ahead (negative delay) are never shifted: closing their windows early would save only
 * their own latency and would lose readings when their clock is corrected backwards (a window
 * already emitted would be asked to take readings again). A device whose offset exceeds
 * `maxOffsetMs` is treated as without the feature but counted as beyond the ceiling.
 *
 * State exists only for devices that are shifted or candidates (recent delay above the covered
 * one): ordinary devices cost one comparison per reading. Entries not seen for `EVICT_AFTER_MS`
 * of ingest time are evicted (checked every `EVICT_SWEEP_MS`), at most `MAX_TRACKED` entries
 * exist; all of it is a function of the log and travels in the processor's snapshot.
 */

/** Readings (within ENTER_AFTER_MS) a candidate needs before it is shifted. */
export const MIN_SAMPLES = 3;
/** How long a device's delays must stay above the covered delay before it is shifted. */
export const ENTER_AFTER_MS = 10_000;
/** Devices not seen for this long (ingest time) are forgotten: they would re-learn. */
export const EVICT_AFTER_MS = 600_000;
const EVICT_SWEEP_MS = 60_000;
export const MAX_TRACKED = 65_536;
/** Smallest delay ever considered a clock offset: below it the watermark delay decides alone. */
export const MIN_COVERED_DELAY_MS = 1000;
export const DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS = 300_000;

export interface DeviceClockOptions {
  /** Offsets above this are not followed (0 turns the feature off). */
  readonly maxOffsetMs: number;
  /** Delay the partition watermark already covers: offsets up to it are not followed. */
  readonly coveredDelayMs: number;
  /** Shifts are rounded up to a multiple of this (windows of different devices share deadlines). */
  readonly quantumMs: number;
}

export interface DeviceClockCounts {
  /** Devices with a state (shifted, candidates, beyond the ceiling). */
  readonly tracked: number;
  /** Devices whose windows currently close later than the partition's. */
  readonly shifted: number;
  /** Devices whose offset exceeds maxOffsetMs: treated as without the feature. */
  readonly beyondCeiling: number;
}

class DeviceClock {
  /** Applied shift; 0 while a candidate. */
  shiftMs = 0;
  samples = 1;
  /** Candidate: minimum delay since `since`. Shifted: minimum within the current bucket. */
  minMs: number;
  /** Shifted: minimum of the previous bucket (+Infinity when it saw no reading). */
  prevMinMs = Number.POSITIVE_INFINITY;
  bucket = 0;
  beyond = false;

  constructor(
    readonly since: number,
    public lastSeen: number,
    delayMs: number,
  ) {
    this.minMs = delayMs;
  }
}

/** [tenant, device, shiftMs, samples, minMs, prevMinMs | null, bucket, since, lastSeen, beyond]. */
type DeviceClockTuple = [string, string, number, number, number, number | null, number, number, number, 0 | 1];

export interface DeviceClocksSnapshot {
  readonly params: readonly number[];
  readonly nextSweep: number | null;
  readonly devices: DeviceClockTuple[];
}

export function validateDeviceClockOffset(maxOffsetMs: number): void {
  if (!Number.isSafeInteger(maxOffsetMs) || maxOffsetMs < 0) {
    throw new ConfigError(`maxDeviceClockOffsetMs is ${String(maxOffsetMs)} but must be a non-negative integer (0 turns it off)`, {
      key: 'maxDeviceClockOffsetMs',
    });
  }
}

export class DeviceClocks {
  readonly enabled: boolean;
  private readonly maxOffsetMs: number;
  private readonly coveredMs: number;
  private readonly toleranceMs: number;
  private readonly quantumMs: number;
  /** tenant → device → state (see WindowStore on nested maps). */
  private readonly tenants = new Map<string, Map<string, DeviceClock>>();
  private count = 0;
  private shifted = 0;
  private nextSweep = Number.NEGATIVE_INFINITY;

  constructor(options: DeviceClockOptions) {
    validateDeviceClockOffset(options.maxOffsetMs);
    this.maxOffsetMs = options.maxOffsetMs;
    this.enabled = options.maxOffsetMs > 0;
    this.coveredMs = Math.max(MIN_COVERED_DELAY_MS, options.coveredDelayMs);
    this.toleranceMs = this.coveredMs / 2;
    this.quantumMs = Math.max(1, options.quantumMs);
  }

  /**
   * Learns from one reading of (tenant, device) and returns the device's shift (0: none).
   * Hot path: an ordinary reading with no device state costs one comparison.
   */
  observe(tenant: string, device: string, eventTime: number, ingestTime: number): number {
    const delay = ingestTime - eventTime;
    if (this.count === 0 && delay <= this.coveredMs) return 0;
    if (!this.enabled) return 0;
    if (ingestTime >= this.nextSweep) this.sweep(ingestTime);
    const devices = this.tenants.get(tenant);
    const clock = devices?.get(device);
    if (clock === undefined) {
      if (delay <= this.coveredMs || this.count >= MAX_TRACKED) return 0;
      let map = devices;
      if (map === undefined) {
        map = new Map();
        this.tenants.set(tenant, map);
      }
      map.set(device, new DeviceClock(ingestTime, ingestTime, delay));
      this.count++;
      return 0;
    }
    if (ingestTime > clock.lastSeen) clock.lastSeen = ingestTime;
    return clock.shiftMs === 0 ? this.observeCandidate(clock, tenant, device, delay, ingestTime) : this.observeShifted(clock, tenant, device, delay, ingestTime);
  }

  counts(): DeviceClockCounts {
    let beyond = 0;
    for (const devices of this.tenants.values()) for (const clock of devices.values()) if (clock.beyond) beyond++;
    return { tracked: this.count, shifted: this.shifted, beyondCeiling: beyond };
  }

  /** The current shift of a device (0: none). */
  shiftOf(tenant: string, device: string): number {
    return this.tenants.get(tenant)?.get(device)?.shiftMs ?? 0;
  }

  snapshot(): DeviceClocksSnapshot {
    const devices: DeviceClockTuple[] = [];
    for (const [tenant, map] of this.tenants) {
      for (const [device, c] of map) {
        devices.push([tenant, device, c.shiftMs, c.samples, c.minMs, finiteOrNull(c.prevMinMs), c.bucket, c.since, c.lastSeen, c.beyond ? 1 : 0]);
      }
    }
    return { params: this.params(), nextSweep: finiteOrNull(this.nextSweep), devices };
  }

  /** Restores `snapshot()`'s output; state taken under other settings is dropped (devices re-learn). */
  restore(snapshot: unknown): void {
    const state = snapshot as Partial<DeviceClocksSnapshot> | null | undefined;
    if (typeof state !== 'object' || state === null || !Array.isArray(state.params) || !Array.isArray(state.devices)) return;
    if (state.params.join() !== this.params().join()) return;
    this.nextSweep = state.nextSweep ?? Number.NEGATIVE_INFINITY;
    for (const tuple of state.devices) {
      const [tenant, device, shiftMs, samples, minMs, prevMinMs, bucket, since, lastSeen, beyond] = tuple;
      const clock = new DeviceClock(since, lastSeen, minMs);
      clock.shiftMs = shiftMs;
      clock.samples = samples;
      clock.prevMinMs = prevMinMs ?? Number.POSITIVE_INFINITY;
      clock.bucket = bucket;
      clock.beyond = beyond === 1;
      let map = this.tenants.get(tenant);
      if (map === undefined) {
        map = new Map();
        this.tenants.set(tenant, map);
      }
      map.set(device, clock);
      this.count++;
      if (shiftMs > 0) this.shifted++;
    }
  }

  private observeCandidate(clock: DeviceClock, tenant: string, device: string, delay: number, ingestTime: number): number {
    if (delay <= this.coveredMs) {
      this.forget(tenant, device, clock);
      return 0;
    }
    clock.samples++;
    if (delay < clock.minMs) clock.minMs = delay;
    if (clock.samples < MIN_SAMPLES || ingestTime - clock.since < ENTER_AFTER_MS) return 0;
    clock.beyond = clock.minMs > this.maxOffsetMs;
    if (clock.beyond) return 0;
    clock.shiftMs = this.quantize(clock.minMs);
    clock.bucket = Math.floor(ingestTime / ENTER_AFTER_MS);
    clock.prevMinMs = Number.POSITIVE_INFINITY;
    this.shifted++;
    return clock.shiftMs;
  }

  private observeShifted(clock: DeviceClock, tenant: string, device: string, delay: number, ingestTime: number): number {
    if (delay <= this.toleranceMs) {
      this.forget(tenant, device, clock);
      return 0;
    }
    const bucket = Math.floor(ingestTime / ENTER_AFTER_MS);
    if (bucket > clock.bucket) {
      clock.prevMinMs = bucket === clock.bucket + 1 ? clock.minMs : Number.POSITIVE_INFINITY;
      clock.minMs = Number.POSITIVE_INFINITY;
      clock.bucket = bucket;
    }
    if (delay < clock.minMs) clock.minMs = delay;
    if (delay < clock.shiftMs - this.toleranceMs) {
      // A lower minimum: the clock was (partly) fixed. Followed at once.
      clock.shiftMs = this.quantize(delay);
    } else {
      // Raised only when the previous bucket and this one both stayed higher.
      const low = clock.prevMinMs < clock.minMs ? clock.prevMinMs : clock.minMs;
      if (Number.isFinite(clock.prevMinMs) && low > clock.shiftMs + this.toleranceMs) {
        if (low > this.maxOffsetMs) {
          this.forget(tenant, device, clock);
          return 0;
        }
        clock.shiftMs = this.quantize(low);
      }
    }
    return clock.shiftMs;
  }

  private quantize(delay: number): number {
    return Math.ceil(delay / this.quantumMs) * this.quantumMs;
  }

  private forget(tenant: string, device: string, clock: DeviceClock): void {
    const devices = this.tenants.get(tenant)!;
    devices.delete(device);
    if (devices.size === 0) this.tenants.delete(tenant);
    this.count--;
    if (clock.shiftMs > 0) this.shifted--;
  }

  private sweep(ingestTime: number): void {
    this.nextSweep = ingestTime + EVICT_SWEEP_MS;
    const before = ingestTime - EVICT_AFTER_MS;
    for (const [tenant, devices] of this.tenants) {
      for (const [device, clock] of devices) if (clock.lastSeen < before) this.forget(tenant, device, clock);
    }
  }

  private params(): number[] {
    return [this.maxOffsetMs, this.coveredMs, this.quantumMs];
  }
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
