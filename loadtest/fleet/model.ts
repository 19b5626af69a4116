import { mulberry32 } from '../../src/util/random.ts';

export { mulberry32 };

/**
 * The simulated fleet as a pure model: which device sends what, when, and with which event time.
 * No I/O and no clock: `step(now, dtMs)` returns the messages due in the next slice of time.
 *
 * Arrival patterns (each configurable, all seeded):
 * - network jitter: every reading's event time lies a normally distributed delay before its send;
 * - long tail: a fraction of readings are delayed log-normally (seconds);
 * - bursts: now and then the whole fleet sends at a multiple of its rate for a few seconds;
 * - offline gateways: a gateway's devices stop sending for a while, then flush their backlog
 *   (old event times) in one go;
 * - skewed clocks: a few devices stamp times off by a fixed amount (minutes ahead or behind).
 */
export interface FleetPatterns {
  readonly jitterMeanMs: number;
  readonly jitterStdMs: number;
  /** Fraction of readings with a log-normal extra delay. */
  readonly tailFraction: number;
  /** Median of the log-normal tail delay. */
  readonly tailMedianMs: number;
  readonly burstEverySeconds: number;
  readonly burstSeconds: number;
  readonly burstFactor: number;
  readonly offlineEverySeconds: number;
  readonly offlineSeconds: number;
  /** Fraction of devices whose clock is skewed, and by how much (± this, fixed per device). */
  readonly skewedFraction: number;
  readonly skewMs: number;
}

export const DEFAULT_PATTERNS: FleetPatterns = {
  jitterMeanMs: 150,
  jitterStdMs: 80,
  tailFraction: 0.02,
  tailMedianMs: 1500,
  burstEverySeconds: 20,
  burstSeconds: 2,
  burstFactor: 2,
  offlineEverySeconds: 30,
  offlineSeconds: 8,
  skewedFraction: 0.002,
  skewMs: 120_000,
};

export const STEADY_PATTERNS: FleetPatterns = {
  ...DEFAULT_PATTERNS,
  tailFraction: 0,
  burstEverySeconds: 0,
  offlineEverySeconds: 0,
  skewedFraction: 0,
};

export interface FleetSpec {
  readonly tenant: string;
  readonly devices: number;
  /** Gateways group devices; a gateway goes offline as a whole. */
  readonly gateways: number;
  /** Readings per second over the whole fleet (before bursts). */
  readonly ratePerSecond: number;
  /** Readings per MQTT message (a device batches its backlog). */
  readonly batchSize: number;
  readonly patterns: FleetPatterns;
  readonly seed: number;
}

export interface FleetMessage {
  readonly topic: string;
  /** The model writes JSON; loadtest/fleet/formats.ts re-encodes it as Sparkplug B or Protobuf bytes. */
  readonly payload: string | Uint8Array;
  readonly device: string;
  /** Ids of the readings in the payload. */
  readonly ids: readonly string[];
}

interface DeviceState {
  readonly name: string;
  readonly gateway: number;
  readonly skewMs: number;
  seq: number;
  /** Readings waiting to be sent: [eventTime, value]. */
  backlog: number[];
}

export class FleetModel {
  private readonly random: () => number;
  private readonly devices: DeviceState[] = [];
  private cursor = 0;
  private carry = 0;
  private offlineGateway = -1;
  private offlineUntil = 0;
  private startedAt: number | null = null;

  constructor(readonly spec: FleetSpec) {
    this.random = mulberry32(spec.seed);
    for (let index = 0; index < spec.devices; index++) {
      const skewed = this.random() < spec.patterns.skewedFraction;
      this.devices.push({
        name: `dev-${String(index).padStart(6, '0')}`,
        gateway: index % Math.max(1, spec.gateways),
        skewMs: skewed ? (this.random() < 0.5 ? -1 : 1) * spec.patterns.skewMs : 0,
        seq: 0,
        backlog: [],
      });
    }
  }

  deviceNames(): string[] {
    return this.devices.map((device) => device.name);
  }

  /** Messages due in the slice (now − dtMs, now]. */
  step(now: number, dtMs: number): FleetMessage[] {
    this.startedAt ??= now;
    const elapsedS = (now - this.startedAt) / 1000;
    const patterns = this.spec.patterns;
    const bursting = patterns.burstEverySeconds > 0 && elapsedS % patterns.burstEverySeconds < patterns.burstSeconds && elapsedS > patterns.burstSeconds;
    const rate = this.spec.ratePerSecond * (bursting ? patterns.burstFactor : 1);
    this.carry += (rate * dtMs) / 1000;
    let due = Math.floor(this.carry);
    this.carry -= due;

    if (patterns.offlineEverySeconds > 0 && this.spec.gateways > 1) {
      const cycle = Math.floor(elapsedS / patterns.offlineEverySeconds);
      const inCycle = elapsedS - cycle * patterns.offlineEverySeconds;
      if (cycle > 0 && inCycle < patterns.offlineSeconds && this.offlineGateway === -1) {
        this.offlineGateway = cycle % this.spec.gateways;
        this.offlineUntil = now + patterns.offlineSeconds * 1000;
      }
    }
    const flushing = this.offlineGateway !== -1 && now >= this.offlineUntil ? this.offlineGateway : -1;
    if (flushing !== -1) this.offlineGateway = -1;

    const messages: FleetMessage[] = [];
    while (due > 0) {
      const device = this.devices[this.cursor]!;
      this.cursor = (this.cursor + 1) % this.devices.length;
      due--;
      device.backlog.push(now - this.delayMs() + device.skewMs, Math.round(this.random() * 4000) / 100);
      if (device.gateway === this.offlineGateway) continue;
      if (device.backlog.length / 2 >= this.spec.batchSize) messages.push(...this.drain(device));
    }
    // Devices with a partial batch send it at the end of the slice, so nothing waits more than dtMs.
    for (const device of this.devices) {
      if (device.backlog.length > 0 && device.gateway !== this.offlineGateway && (this.spec.batchSize === 1 || device.gateway === flushing || this.random() < 0.2)) {
        messages.push(...this.drain(device));
      }
    }
    return messages;
  }

  /** Everything still in backlogs (offline gateways included), for the end of a run. */
  drainAll(): FleetMessage[] {
    const messages: FleetMessage[] = [];
    for (const device of this.devices) if (device.backlog.length > 0) messages.push(...this.drain(device));
    return messages;
  }

  private drain(device: DeviceState): FleetMessage[] {
    const messages: FleetMessage[] = [];
    while (device.backlog.length > 0) {
      const take = Math.min(this.spec.batchSize, device.backlog.length / 2);
      const readings: string[] = [];
      const ids: string[] = [];
      for (let i = 0; i < take; i++) {
        device.seq++;
        const ts = device.backlog[2 * i]!;
        const value = device.backlog[2 * i + 1]!;
        readings.push(`{"seq":${device.seq},"ts":${Math.round(ts)},"metrics":{"temperature":${value}}}`);
        ids.push(String(device.seq));
      }
      device.backlog = device.backlog.slice(2 * take);
      const payload = take === 1 ? readings[0]! : `{"readings":[${readings.join(',')}]}`;
      messages.push({ topic: `telemetry/${this.spec.tenant}/${device.name}`, payload, device: device.name, ids });
    }
    return messages;
  }

  private delayMs(): number {
    const patterns = this.spec.patterns;
    const gaussian = Math.sqrt(-2 * Math.log(this.random() || 1e-12)) * Math.cos(2 * Math.PI * this.random());
    let delay = Math.max(0, patterns.jitterMeanMs + patterns.jitterStdMs * gaussian);
    if (patterns.tailFraction > 0 && this.random() < patterns.tailFraction) {
      const g2 = Math.sqrt(-2 * Math.log(this.random() || 1e-12)) * Math.cos(2 * Math.PI * this.random());
      delay += patterns.tailMedianMs * Math.exp(0.7 * g2);
    }
    return delay;
  }
}
