import { ConfigError } from './errors.ts';

/**
 * Per-device clock offsets, learned only from the log, so that a device whose clock is off has its
 * windows closed on its own clock: late enough to hold its readings when the clock runs behind,
 * early enough not to add the offset to its latency when it runs ahead.
 *
 * A reading's apparent delay is ingestTime − eventTime: network delay plus the device's clock
 * offset (positive behind, negative ahead). Network delay only ever adds to it, so:
 *
 * - BEHIND: the partition watermark's delay already covers ordinary network delay (up to
 *   `coveredDelayMs`, the watermark's ceiling). A device is shifted behind when the MINIMUM of its
 *   apparent delays has stayed above that for `ENTER_AFTER_MS` of ingest time (at least
 *   `MIN_SAMPLES` readings): delay spikes do not count. Its shift is that minimum rounded up to
 *   `quantumMs`.
 * - AHEAD: a device is shifted ahead when the MAXIMUM (least negative) of its apparent delays has
 *   stayed below −`AHEAD_THRESHOLD_MS` for as long: the maximum, because it never overstates how
 *   far ahead the clock is (network delay only makes it less negative), so the windows do not
 *   close before the device's readings are in. Its shift is that (negative) maximum rounded up
 *   (towards zero) to `quantumMs`.
 *
 * Either way its windows close when the watermark passes windowEnd + shift, and its readings are
 * late only relative to that. When a device becomes shifted ahead, the windows it opened while
 * learning are moved to the new deadline too (see `takeEnteredAhead`).
 *
 * Hysteresis: a change that closes windows LATER is risky for nothing but latency, a change that
 * closes them EARLIER may make readings late. So the shift follows the first at once (behind: a
 * lower minimum, the clock was fixed; ahead: a higher maximum, the clock was fixed or a delay
 * spike) and the second only once a whole bucket of `ENTER_AFTER_MS` and the current one agree;
 * changes within half the covered delay are ignored (the watermark's delay absorbs them). A
 * device leaves the shifted state when a reading's delay returns to half the threshold it
 * entered by (behind: half the covered delay; ahead: −half of `AHEAD_THRESHOLD_MS`). Offsets
 * above `maxOffsetMs` (absolute) are not followed; such a device is counted as beyond the ceiling.
 *
 * A clock set back (ahead → fixed, or a lower shift behind) makes the device stamp event times
 * whose windows may have been emitted and purged already: the window store's `purgedThrough`
 * refuses to open those again (they are late, per the late policy).
 *
 * State exists only for devices that are shifted or candidates (recent delay outside
 * [−AHEAD_THRESHOLD_MS, covered]): ordinary devices cost two comparisons per reading. Entries not
 * seen for `EVICT_AFTER_MS` of ingest time are evicted (checked every `EVICT_SWEEP_MS`), at most
 * `MAX_TRACKED` entries exist; all of it is a function of the log and travels in the processor's
 * snapshot.
 */

/** Readings (within ENTER_AFTER_MS) a candidate needs before it is shifted. */
export const MIN_SAMPLES = 3;
/** How long a device's delays must stay beyond the threshold before it is shifted. */
export const ENTER_AFTER_MS = 10_000;
/** Devices not seen for this long (ingest time) are forgotten: they would re-learn. */
export const EVICT_AFTER_MS = 600_000;
const EVICT_SWEEP_MS = 60_000;
export const MAX_TRACKED = 65_536;
/** Smallest delay ever considered a clock offset behind: below it the watermark delay decides alone. */
export const MIN_COVERED_DELAY_MS = 1000;
/**
 * A clock ahead by less than this (plus network delay) is not followed: it costs the device at
 * most that much latency. At least the largest quantum (1 s), so an ahead shift is never 0.
 */
export const AHEAD_THRESHOLD_MS = 1000;
export const DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS = 300_000;

export interface DeviceClockOptions {
  /** Offsets (absolute) above this are not followed (0 turns the feature off). */
  readonly maxOffsetMs: number;
  /** Delay the partition watermark already covers: offsets behind up to it are not followed. */
  readonly coveredDelayMs: number;
  /** Shifts are rounded up to a multiple of this (windows of different devices share deadlines); at most AHEAD_THRESHOLD_MS. */
  readonly quantumMs: number;
}

export interface DeviceClockCounts {
  /** Devices with a state (shifted, candidates, beyond the ceiling). */
  readonly tracked: number;
  /** Devices whose windows currently close off the partition's deadline: behind + ahead. */
  readonly shifted: number;
  /** Devices whose windows close later than the partition's (clock behind). */
  readonly behind: number;
  /** Devices whose windows close earlier than the partition's (clock ahead). */
  readonly ahead: number;
  /** Devices whose offset exceeds maxOffsetMs: treated as without the feature. */
  readonly beyondCeiling: number;
}

/** One device's state; in the DeviceClocks' map while `tracked`. Reusable: see `start`. */
class DeviceClock {
  /** Applied shift: > 0 behind, < 0 ahead, 0 while a candidate. */
  shiftMs = 0;
  /** Still in the map (false once forgotten): a cache holding it may trust it. */
  tracked = false;
  samples = 1;
  /** Which side of the partition's deadline this device is on (fixed until the state starts anew). */
  ahead = false;
  /**
   * The delay closest to the partition (behind: minimum; ahead: maximum). Candidate: since
   * `since`. Shifted: within the current bucket.
   */
  extremeMs = Number.NaN;
  /** Shifted: the previous bucket's extreme (±Infinity when it saw no reading). */
  prevExtremeMs = Number.NaN;
  bucket = 0;
  beyond = false;
  since = Number.NaN;
  lastSeen = Number.NaN;

  /** (Re)starts the state from one reading's delay, as tracked; returns it. */
  start(since: number, lastSeen: number, delayMs: number): this {
    this.shiftMs = 0;
    this.tracked = true;
    this.samples = 1;
    this.ahead = delayMs < 0;
    this.extremeMs = delayMs;
    this.prevExtremeMs = this.noReading();
    this.bucket = 0;
    this.beyond = false;
    this.since = since;
    this.lastSeen = lastSeen;
    return this;
  }

  /** The extreme of a bucket without readings: never the closest to the partition. */
  noReading(): number {
    return this.ahead ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  }

  /** Whether `delay` lies closer to the partition's deadline than `than` (later for ahead, earlier for behind). */
  closer(delay: number, than: number): boolean {
    return this.ahead ? delay > than : delay < than;
  }
}

/**
 * A caller's cache of one device's state lookup in observe(), kept with the caller's other data
 * of that device (one object, one cache miss): the state found (trusted while tracked), or none
 * as of `clockCreated` (-1: look up). A new cache, or one reset, looks up. The cache is itself a
 * state: when its device gets one and the cache is not in use as a state (of the device it stood
 * for before), the cache becomes the device's state, so that reading it costs no further miss.
 */
export class DeviceClockCache extends DeviceClock {
  clock: DeviceClock | undefined = undefined;
  clockCreated = -1;

  resetClockCache(): void {
    this.clock = undefined;
    this.clockCreated = -1;
  }
}

/**
 * [tenant, device, shiftMs, samples, extremeMs, prevExtremeMs | null, bucket, since, lastSeen, beyond].
 * The side is implied: ahead when shiftMs < 0, or a candidate (shiftMs 0) with extremeMs < 0 — so
 * snapshots taken before devices ahead were followed restore unchanged.
 */
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
  /** Delays below this make a device an ahead candidate. */
  private readonly aheadBelowMs = -AHEAD_THRESHOLD_MS;
  /** tenant → device → state (see WindowStore on nested maps). */
  private readonly tenants = new Map<string, Map<string, DeviceClock>>();
  private count = 0;
  private behind = 0;
  private ahead = 0;
  private nextSweep = Number.NEGATIVE_INFINITY;
  /** The last observe() made its device shifted ahead (see takeEnteredAhead). */
  private enteredAhead = false;
  /**
   * Bumped when a state is made that a caller's cache (DeviceClockCache) cannot have seen: made
   * without a cache (by name) or restored. A state made through a cache goes into that cache, so
   * the other caches' "none" entries still hold (a cache stands for one (tenant, device), and a
   * device has one cache at a time).
   */
  private created = 0;

  constructor(options: DeviceClockOptions) {
    validateDeviceClockOffset(options.maxOffsetMs);
    this.maxOffsetMs = options.maxOffsetMs;
    this.enabled = options.maxOffsetMs > 0;
    this.coveredMs = Math.max(MIN_COVERED_DELAY_MS, options.coveredDelayMs);
    this.toleranceMs = this.coveredMs / 2;
    this.quantumMs = Math.min(AHEAD_THRESHOLD_MS, Math.max(1, options.quantumMs));
  }

  /**
   * Learns from one reading of (tenant, device) and returns the device's shift (0: none).
   * Hot path: an ordinary reading with no device state costs two comparisons. `cache` (the
   * caller's for this (tenant, device), or null) spares the lookup of the device's state while it holds.
   */
  observe(tenant: string, device: string, eventTime: number, ingestTime: number, cache: DeviceClockCache | null = null): number {
    const delay = ingestTime - eventTime;
    if (this.count === 0 && delay <= this.coveredMs && delay >= this.aheadBelowMs) return 0;
    if (!this.enabled) return 0;
    if (ingestTime >= this.nextSweep) this.sweep(ingestTime);
    let clock: DeviceClock | undefined;
    if (cache === null) clock = this.tenants.get(tenant)?.get(device);
    else {
      clock = cache.clock;
      if (clock === undefined ? cache.clockCreated !== this.created : !clock.tracked) {
        clock = this.tenants.get(tenant)?.get(device);
        cache.clock = clock;
        cache.clockCreated = this.created;
      }
    }
    if (clock === undefined) {
      if ((delay <= this.coveredMs && delay >= this.aheadBelowMs) || this.count >= MAX_TRACKED) return 0;
      let map = this.tenants.get(tenant);
      if (map === undefined) {
        map = new Map();
        this.tenants.set(tenant, map);
      }
      const made = (cache !== null && !cache.tracked ? cache : new DeviceClock()).start(ingestTime, ingestTime, delay);
      map.set(device, made);
      this.count++;
      if (cache !== null) {
        cache.clock = made;
        cache.clockCreated = this.created;
      } else {
        this.created++;
      }
      return 0;
    }
    if (ingestTime > clock.lastSeen) clock.lastSeen = ingestTime;
    return clock.shiftMs === 0 ? this.observeCandidate(clock, tenant, device, delay, ingestTime) : this.observeShifted(clock, tenant, device, delay, ingestTime);
  }

  /**
   * Whether the last observe() made its device shifted ahead; clears the flag. The caller then
   * moves the windows the device opened while learning (due at end + 0, its offset later than
   * its clock) to the new deadline, so that they too close on the device's clock.
   */
  takeEnteredAhead(): boolean {
    const entered = this.enteredAhead;
    this.enteredAhead = false;
    return entered;
  }

  counts(): DeviceClockCounts {
    let beyond = 0;
    for (const devices of this.tenants.values()) for (const clock of devices.values()) if (clock.beyond) beyond++;
    return { tracked: this.count, shifted: this.behind + this.ahead, behind: this.behind, ahead: this.ahead, beyondCeiling: beyond };
  }

  /** The current shift of a device (0: none). */
  shiftOf(tenant: string, device: string): number {
    return this.tenants.get(tenant)?.get(device)?.shiftMs ?? 0;
  }

  snapshot(): DeviceClocksSnapshot {
    const devices: DeviceClockTuple[] = [];
    for (const [tenant, map] of this.tenants) {
      for (const [device, c] of map) {
        devices.push([tenant, device, c.shiftMs, c.samples, c.extremeMs, finiteOrNull(c.prevExtremeMs), c.bucket, c.since, c.lastSeen, c.beyond ? 1 : 0]);
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
      const [tenant, device, shiftMs, samples, extremeMs, prevExtremeMs, bucket, since, lastSeen, beyond] = tuple;
      // The constructor reads the side from its delay argument: give it one with the right sign.
      const clock = new DeviceClock().start(since, lastSeen, shiftMs !== 0 ? shiftMs : extremeMs);
      clock.extremeMs = extremeMs;
      clock.shiftMs = shiftMs;
      clock.samples = samples;
      clock.prevExtremeMs = prevExtremeMs ?? clock.noReading();
      clock.bucket = bucket;
      clock.beyond = beyond === 1;
      let map = this.tenants.get(tenant);
      if (map === undefined) {
        map = new Map();
        this.tenants.set(tenant, map);
      }
      map.set(device, clock);
      this.count++;
      this.created++;
      if (shiftMs > 0) this.behind++;
      else if (shiftMs < 0) this.ahead++;
    }
  }

  private observeCandidate(clock: DeviceClock, tenant: string, device: string, delay: number, ingestTime: number): number {
    if (clock.ahead ? delay >= this.aheadBelowMs : delay <= this.coveredMs) {
      this.forget(tenant, device, clock);
      return 0;
    }
    clock.samples++;
    if (clock.closer(delay, clock.extremeMs)) clock.extremeMs = delay;
    if (clock.samples < MIN_SAMPLES || ingestTime - clock.since < ENTER_AFTER_MS) return 0;
    clock.beyond = Math.abs(clock.extremeMs) > this.maxOffsetMs;
    if (clock.beyond) return 0;
    clock.shiftMs = this.quantize(clock.extremeMs);
    clock.bucket = Math.floor(ingestTime / ENTER_AFTER_MS);
    clock.prevExtremeMs = clock.noReading();
    if (clock.ahead) {
      this.ahead++;
      this.enteredAhead = true;
    } else {
      this.behind++;
    }
    return clock.shiftMs;
  }

  private observeShifted(clock: DeviceClock, tenant: string, device: string, delay: number, ingestTime: number): number {
    if (clock.ahead ? delay >= this.aheadBelowMs / 2 : delay <= this.toleranceMs) {
      this.forget(tenant, device, clock);
      return 0;
    }
    const bucket = Math.floor(ingestTime / ENTER_AFTER_MS);
    if (bucket > clock.bucket) {
      clock.prevExtremeMs = bucket === clock.bucket + 1 ? clock.extremeMs : clock.noReading();
      clock.extremeMs = clock.noReading();
      clock.bucket = bucket;
    }
    if (clock.closer(delay, clock.extremeMs)) clock.extremeMs = delay;
    const tolerance = clock.ahead ? -this.toleranceMs : this.toleranceMs;
    if (clock.closer(delay, clock.shiftMs - tolerance)) {
      // Closer to the partition: the clock was (partly) fixed, or (ahead) a delay spike. Followed at once.
      const shiftMs = this.quantize(delay);
      if (clock.ahead && shiftMs >= 0) {
        this.forget(tenant, device, clock);
        return 0;
      }
      clock.shiftMs = shiftMs;
    } else {
      // Moved away from the partition only when the previous bucket and this one both agree.
      const near = clock.closer(clock.prevExtremeMs, clock.extremeMs) ? clock.prevExtremeMs : clock.extremeMs;
      if (Number.isFinite(clock.prevExtremeMs) && clock.closer(clock.shiftMs + tolerance, near)) {
        if (Math.abs(near) > this.maxOffsetMs) {
          this.forget(tenant, device, clock);
          return 0;
        }
        clock.shiftMs = this.quantize(near);
      }
    }
    return clock.shiftMs;
  }

  /** Rounds up (towards later deadlines): behind away from zero, ahead towards it. */
  private quantize(delay: number): number {
    return Math.ceil(delay / this.quantumMs) * this.quantumMs + 0;
  }

  private forget(tenant: string, device: string, clock: DeviceClock): void {
    clock.tracked = false;
    const devices = this.tenants.get(tenant)!;
    devices.delete(device);
    if (devices.size === 0) this.tenants.delete(tenant);
    this.count--;
    if (clock.shiftMs > 0) this.behind--;
    else if (clock.shiftMs < 0) this.ahead--;
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
