/**
 * How far this bridge's clock is from the broker's, measured from delivery reports (decision
 * 0012). A sampled record is sent at local time `sentAt` and reported at `deliveredAt`; the broker
 * stamped it `brokerTime` (LogAppendTime) somewhere in between, so the offset (local − broker)
 * lies in [sentAt − brokerTime, deliveredAt − brokerTime]. The midpoint of the sample with the
 * shortest round trip among the recent ones is the estimate (NTP's clock filter, in small): its
 * error is at most half that round trip, a few milliseconds to a linger's worth. Pure: the
 * producer takes the samples, this only reckons.
 */
export interface ClockSample {
  readonly sentAt: number;
  readonly deliveredAt: number;
  readonly brokerTime: number;
}

export class ClockOffsetEstimator {
  private readonly samples: ClockSample[] = [];
  private next = 0;

  /** `window`: how many recent samples the estimate is chosen from (a stepped clock shows after that many). */
  constructor(private readonly window = 5) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`the window is a positive integer, not ${window}`);
  }

  /** Takes a sample; one without a broker time (librdkafka's -1) or running backwards is ignored. */
  add(sample: ClockSample): boolean {
    if (!(sample.brokerTime >= 0) || !(sample.deliveredAt >= sample.sentAt)) return false;
    if (this.samples.length < this.window) this.samples.push(sample);
    else this.samples[this.next] = sample;
    this.next = (this.next + 1) % this.window;
    return true;
  }

  /** Local clock minus broker clock in milliseconds (negative: this host is behind); null before a sample. */
  offsetMs(): number | null {
    let best: ClockSample | undefined;
    for (const sample of this.samples) {
      if (best === undefined || sample.deliveredAt - sample.sentAt < best.deliveredAt - best.sentAt) best = sample;
    }
    return best === undefined ? null : (best.sentAt + best.deliveredAt) / 2 - best.brokerTime;
  }
}

export type OffsetTransition = 'crossed' | 'recovered' | null;

/**
 * Says once when the offset's size goes above the bound and once when it is back: back means
 * within 80 % of the bound, so that an offset hovering at the bound does not warn every sample.
 */
export class OffsetAlarm {
  private above = false;

  constructor(readonly boundMs: number) {
    if (!(boundMs > 0)) throw new RangeError(`the bound is positive, not ${boundMs}`);
  }

  get raised(): boolean {
    return this.above;
  }

  update(offsetMs: number): OffsetTransition {
    const size = Math.abs(offsetMs);
    if (!this.above && size > this.boundMs) {
      this.above = true;
      return 'crossed';
    }
    if (this.above && size <= this.boundMs * 0.8) {
      this.above = false;
      return 'recovered';
    }
    return null;
  }
}
