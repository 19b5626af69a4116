/**
 * Token buckets for rate limits, pure: time comes in as a parameter (milliseconds), no clock is
 * read, so the HTTP intake and the MQTT endpoint share them and tests drive time by hand.
 *
 * A bucket holds up to `burst` tokens and gains `ratePerSecond` a second. A take of `cost` tokens
 * is admitted when the bucket holds min(cost, burst) of them, and then takes all `cost`: a cost
 * above the burst (a batch bigger than the bucket) is admitted from a full bucket and leaves it in
 * debt, which the refill pays off before the next take. Over any interval T the admitted cost is
 * at most burst + rate × T + one take's excess.
 */
export interface TokenBucketLimits {
  /** Tokens gained a second; 0 means no limit (every take is admitted). */
  readonly ratePerSecond: number;
  /** Tokens the bucket holds when full (≥ 1). */
  readonly burst: number;
}

/** 0: admitted. Above 0: refused, and how long until the same take would be admitted (ms). */
export type TakeResult = number;

const EPSILON = 1e-6;

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly limits: TokenBucketLimits,
    now: number,
  ) {
    if (!(limits.burst >= 1)) throw new RangeError(`a token bucket needs a burst of at least 1, got ${limits.burst}`);
    if (!(limits.ratePerSecond >= 0)) throw new RangeError(`a token bucket needs a rate ≥ 0, got ${limits.ratePerSecond}`);
    this.tokens = limits.burst;
    this.at = now;
  }

  /** Tokens held at `now` (negative while in debt). */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** How long until `cost` would be admitted (0: now); takes nothing. */
  waitFor(cost: number, now: number): number {
    if (this.limits.ratePerSecond === 0) return 0;
    this.refill(now);
    const needed = Math.min(cost, this.limits.burst);
    // Refills are fractional: a rounding error must not turn an exact wait into one more millisecond.
    if (this.tokens + EPSILON >= needed) return 0;
    return Math.ceil(((needed - this.tokens) / this.limits.ratePerSecond) * 1000 - EPSILON);
  }

  /** Takes `cost` tokens when admitted (see the class comment). */
  take(cost: number, now: number): TakeResult {
    const wait = this.waitFor(cost, now);
    if (wait === 0 && this.limits.ratePerSecond > 0) this.tokens -= cost;
    return wait;
  }

  /** True when the bucket is full at `now`: forgetting it changes nothing. */
  isFull(now: number): boolean {
    return this.available(now) + EPSILON >= this.limits.burst;
  }

  private refill(now: number): void {
    // A clock that steps back adds nothing (and takes nothing back).
    const elapsed = Math.max(0, now - this.at);
    this.at = Math.max(this.at, now);
    this.tokens = Math.min(this.limits.burst, this.tokens + (elapsed * this.limits.ratePerSecond) / 1000);
  }
}

/**
 * One bucket per key (a gateway, a device), with a bound on the keys kept: keys are chosen by
 * clients, so memory must not grow with them. Beyond `maxKeys` the least recently used buckets are
 * forgotten; a forgotten key starts again with a full bucket, which is exact when it was full and
 * otherwise gives that key at most one extra burst.
 */
export class KeyedTokenBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly limits: TokenBucketLimits,
    private readonly maxKeys: number,
  ) {
    if (!(maxKeys >= 1)) throw new RangeError(`maxKeys must be at least 1, got ${maxKeys}`);
  }

  get enabled(): boolean {
    return this.limits.ratePerSecond > 0;
  }

  get size(): number {
    return this.buckets.size;
  }

  take(key: string, cost: number, now: number): TakeResult {
    if (!this.enabled) return 0;
    return this.bucket(key, now).take(cost, now);
  }

  /**
   * All or nothing over several keys (the devices of one request): when every key admits its cost
   * all are taken and 0 is returned; otherwise nothing is taken and the longest wait is returned.
   */
  takeAll(costs: ReadonlyMap<string, number>, now: number): TakeResult {
    if (!this.enabled) return 0;
    let wait = 0;
    for (const [key, cost] of costs) wait = Math.max(wait, this.bucket(key, now).waitFor(cost, now));
    if (wait > 0) return wait;
    for (const [key, cost] of costs) this.bucket(key, now).take(cost, now);
    return 0;
  }

  private bucket(key: string, now: number): TokenBucket {
    let bucket = this.buckets.get(key);
    if (bucket !== undefined) {
      // Most recently used last: Map keeps insertion order, so the first entries are the idlest.
      this.buckets.delete(key);
      this.buckets.set(key, bucket);
      return bucket;
    }
    bucket = new TokenBucket(this.limits, now);
    this.buckets.set(key, bucket);
    if (this.buckets.size > this.maxKeys) this.evict();
    return bucket;
  }

  private evict(): void {
    const oldest = this.buckets.keys().next();
    if (!oldest.done) this.buckets.delete(oldest.value);
  }
}

/** Retry-After (whole seconds, at least 1) for a wait in milliseconds. */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}
