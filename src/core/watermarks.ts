import { ConfigError, PipelineError } from './errors.ts';
import {
  DelayHistogram,
  MAX_TRACKABLE_DELAY_MS,
  type DelayHistogramSnapshot,
  type DelayQuantiles,
} from './delay-histogram.ts';

/**
 * A partition's progress clock and watermark, read only from the records of its log.
 *
 *   progress clock P = max over readings of min(eventTime, ingestTime)
 *   watermark     WM = max(previous WM, P − D)      (monotonic)
 *
 * where D comes from a `WatermarkStrategy`: a fixed delay, or an adaptive one that follows a
 * quantile of the observed arrival delays. Taking min(eventTime, ingestTime) means a reading
 * stamped in the future (a device clock a year ahead) moves P at most to its ingest time, so it
 * never pushes the watermark past the ingest clock.
 *
 * The spec types mirror the `watermark` section of a pipeline's configuration structurally.
 */
export type WatermarkSpec =
  | { readonly kind: 'fixed'; readonly delayMs: number }
  | {
      readonly kind: 'adaptive';
      readonly quantile: number;
      readonly marginMs: number;
      readonly floorMs: number;
      readonly ceilingMs: number;
      readonly horizonMs: number;
    };

export type { DelayQuantiles } from './delay-histogram.ts';

export interface WatermarkStrategy {
  readonly kind: WatermarkSpec['kind'];
  /** A reading arrived. */
  observe(eventTime: number, ingestTime: number): void;
  /** Ingest time advanced without a reading (a tick). */
  advance(ingestTime: number): void;
  /** D: how far the watermark stays behind the progress clock. Cheap: called per reading. */
  currentDelayMs(): number;
  /** Arrival-delay quantiles within the horizon, or null when the strategy keeps none. */
  delayQuantiles(): DelayQuantiles | null;
  /** JSON-serialisable state; `createWatermarkStrategy(spec, snapshot)` restores it. */
  snapshot(): unknown;
}

/**
 * An adaptive delay needs this many samples within the horizon before it trusts them; until then
 * (and before any data) D is the ceiling, the safe choice.
 */
export const ADAPTIVE_MIN_SAMPLES = 16;
/** The adaptive delay is recomputed at most this many times per horizon (in ingest time). */
const ADAPTIVE_REFRESHES_PER_HORIZON = 100;

export function validateWatermarkSpec(spec: WatermarkSpec): void {
  const integer = (key: string, value: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (!Number.isSafeInteger(value) || value < 0 || value > max) {
      throw new ConfigError(`watermark.${key} is ${String(value)} but must be an integer in [0, ${max}]`, {
        key: `watermark.${key}`,
      });
    }
  };
  if (spec.kind === 'fixed') {
    integer('delayMs', spec.delayMs);
    return;
  }
  if (spec.kind !== 'adaptive') {
    throw new ConfigError(`watermark.kind '${(spec as { kind: unknown }).kind as string}' is unknown`, { key: 'watermark.kind' });
  }
  if (!(spec.quantile > 0 && spec.quantile < 1)) {
    throw new ConfigError(`watermark.quantile is ${spec.quantile} but must lie strictly between 0 and 1`, {
      key: 'watermark.quantile',
    });
  }
  integer('marginMs', spec.marginMs);
  integer('floorMs', spec.floorMs);
  integer('ceilingMs', spec.ceilingMs, MAX_TRACKABLE_DELAY_MS);
  integer('horizonMs', spec.horizonMs);
  if (spec.floorMs > spec.ceilingMs) {
    throw new ConfigError(`watermark.floorMs is ${spec.floorMs} but must not exceed watermark.ceilingMs (${spec.ceilingMs})`, {
      key: 'watermark.floorMs',
    });
  }
  if (spec.horizonMs < 10) {
    throw new ConfigError(`watermark.horizonMs is ${spec.horizonMs} but must be at least 10`, { key: 'watermark.horizonMs' });
  }
}

export class FixedDelay implements WatermarkStrategy {
  readonly kind = 'fixed';
  constructor(private readonly delayMs: number) {}
  observe(): void {}
  advance(): void {}
  currentDelayMs(): number {
    return this.delayMs;
  }
  delayQuantiles(): null {
    return null;
  }
  snapshot(): unknown {
    return { kind: 'fixed', delayMs: this.delayMs };
  }
}

type AdaptiveSpec = Extract<WatermarkSpec, { kind: 'adaptive' }>;

interface AdaptiveSnapshot {
  readonly kind: 'adaptive';
  readonly params: readonly number[];
  readonly delay: number;
  readonly refreshSlot: number | null;
  readonly histogram: DelayHistogramSnapshot;
}

/**
 * D = quantile(q) of the arrival delays of the last horizonMs of ingest time, + marginMs,
 * clamped to [floorMs, ceilingMs]. Recomputed when ingest time enters a new refresh slot
 * (horizonMs / 100), so that the cost per reading stays constant and the result stays a pure
 * function of the log.
 */
export class AdaptiveDelay implements WatermarkStrategy {
  readonly kind = 'adaptive';
  private readonly histogram: DelayHistogram;
  private readonly refreshMs: number;
  private delay: number;
  private refreshSlot: number | null = null;

  constructor(
    private readonly spec: AdaptiveSpec,
    restored?: AdaptiveSnapshot,
  ) {
    const options = { horizonMs: spec.horizonMs, maxDelayMs: spec.ceilingMs };
    this.histogram = restored ? DelayHistogram.restore(options, restored.histogram) : new DelayHistogram(options);
    this.refreshMs = Math.max(1, Math.floor(spec.horizonMs / ADAPTIVE_REFRESHES_PER_HORIZON));
    this.delay = restored ? restored.delay : spec.ceilingMs;
    this.refreshSlot = restored ? restored.refreshSlot : null;
  }

  observe(eventTime: number, ingestTime: number): void {
    this.histogram.record(ingestTime - eventTime, ingestTime);
    this.maybeRefresh(ingestTime);
  }

  advance(ingestTime: number): void {
    this.histogram.advance(ingestTime);
    this.maybeRefresh(ingestTime);
  }

  currentDelayMs(): number {
    return this.delay;
  }

  delayQuantiles(): DelayQuantiles {
    return this.histogram.quantiles();
  }

  snapshot(): AdaptiveSnapshot {
    return {
      kind: 'adaptive',
      params: adaptiveParams(this.spec),
      delay: this.delay,
      refreshSlot: this.refreshSlot,
      histogram: this.histogram.snapshot(),
    };
  }

  private maybeRefresh(ingestTime: number): void {
    const slot = Math.floor(ingestTime / this.refreshMs);
    if (this.refreshSlot !== null && slot <= this.refreshSlot) return;
    this.refreshSlot = slot;
    const spec = this.spec;
    if (this.histogram.sampleCount() < ADAPTIVE_MIN_SAMPLES) {
      this.delay = spec.ceilingMs;
      return;
    }
    const delay = this.histogram.quantile(spec.quantile) + spec.marginMs;
    this.delay = Math.min(spec.ceilingMs, Math.max(spec.floorMs, delay));
  }
}

function adaptiveParams(spec: AdaptiveSpec): number[] {
  return [spec.quantile, spec.marginMs, spec.floorMs, spec.ceilingMs, spec.horizonMs];
}

/**
 * Builds the strategy for `spec`, restoring `snapshot` when it was taken under the same spec.
 * A snapshot from a different spec (the operator changed the delay settings) is ignored: the
 * estimate starts afresh, which is safe because D then starts at the ceiling.
 */
export function createWatermarkStrategy(spec: WatermarkSpec, snapshot?: unknown): WatermarkStrategy {
  validateWatermarkSpec(spec);
  if (spec.kind === 'fixed') return new FixedDelay(spec.delayMs);
  const restored = snapshot as Partial<AdaptiveSnapshot> | undefined;
  const sameSpec =
    restored?.kind === 'adaptive' &&
    Array.isArray(restored.params) &&
    restored.params.join() === adaptiveParams(spec).join();
  return new AdaptiveDelay(spec, sameSpec ? (restored as AdaptiveSnapshot) : undefined);
}

export interface PartitionClockSnapshot {
  readonly progress: number | null;
  readonly watermark: number | null;
  readonly lastReadingIngest: number | null;
  readonly idle: boolean;
  readonly strategy: unknown;
}

/**
 * Progress clock, monotonic watermark and idleness of one partition.
 *
 * Idleness: a tick at ingest time T with T − (ingest time of the partition's last reading) ≥
 * idleTimeoutMs marks the partition idle and moves P to T, so that its windows still close;
 * ticks are records in the log, so this replays identically. The service leaves idle partitions
 * out of the instance watermark.
 */
export class PartitionClock {
  private progress = Number.NEGATIVE_INFINITY;
  private mark = Number.NEGATIVE_INFINITY;
  private lastReadingIngest = Number.NEGATIVE_INFINITY;
  private idle = false;

  constructor(
    private readonly strategy: WatermarkStrategy,
    private readonly idleTimeoutMs: number,
  ) {
    if (!Number.isSafeInteger(idleTimeoutMs) || idleTimeoutMs < 0) {
      throw new ConfigError(`idleTimeoutMs is ${idleTimeoutMs} but must be a non-negative integer`, { key: 'idleTimeoutMs' });
    }
  }

  observeReading(eventTime: number, ingestTime: number): void {
    this.strategy.observe(eventTime, ingestTime);
    const candidate = eventTime < ingestTime ? eventTime : ingestTime;
    if (candidate > this.progress) this.progress = candidate;
    this.lastReadingIngest = ingestTime;
    this.idle = false;
    const next = this.progress - this.strategy.currentDelayMs();
    if (next > this.mark) this.mark = next;
  }

  observeTick(ingestTime: number): void {
    this.strategy.advance(ingestTime);
    if (ingestTime - this.lastReadingIngest >= this.idleTimeoutMs) {
      this.idle = true;
      if (ingestTime > this.progress) this.progress = ingestTime;
    }
    const next = this.progress - this.strategy.currentDelayMs();
    if (next > this.mark) this.mark = next;
  }

  watermark(): number {
    return this.mark;
  }

  progressClock(): number {
    return this.progress;
  }

  currentDelayMs(): number {
    return this.strategy.currentDelayMs();
  }

  delayQuantiles(): DelayQuantiles | null {
    return this.strategy.delayQuantiles();
  }

  isIdle(): boolean {
    return this.idle;
  }

  snapshot(): PartitionClockSnapshot {
    return {
      progress: finiteOrNull(this.progress),
      watermark: finiteOrNull(this.mark),
      lastReadingIngest: finiteOrNull(this.lastReadingIngest),
      idle: this.idle,
      strategy: this.strategy.snapshot(),
    };
  }

  static restore(spec: WatermarkSpec, idleTimeoutMs: number, snapshot: PartitionClockSnapshot): PartitionClock {
    if (typeof snapshot !== 'object' || snapshot === null || typeof snapshot.idle !== 'boolean') {
      throw new PipelineError('CORE_SNAPSHOT_INVALID', 'partition clock snapshot is malformed');
    }
    const clock = new PartitionClock(createWatermarkStrategy(spec, snapshot.strategy), idleTimeoutMs);
    clock.progress = snapshot.progress ?? Number.NEGATIVE_INFINITY;
    clock.mark = snapshot.watermark ?? Number.NEGATIVE_INFINITY;
    clock.lastReadingIngest = snapshot.lastReadingIngest ?? Number.NEGATIVE_INFINITY;
    clock.idle = snapshot.idle;
    return clock;
  }
}

export function createPartitionClock(spec: WatermarkSpec, idleTimeoutMs: number): PartitionClock {
  return new PartitionClock(createWatermarkStrategy(spec), idleTimeoutMs);
}

function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}
