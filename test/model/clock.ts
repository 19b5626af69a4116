import { DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS, DeviceClocks } from '../../src/core/device-clock.ts';
import type { ProcessorSpec } from '../../src/core/processor-spec.ts';
import { createWatermarkStrategy, type WatermarkStrategy } from '../../src/core/watermarks.ts';

/**
 * The partition's clock as documented in watermarks.ts, in plain code:
 *
 *   P  = max over readings of min(eventTime, ingestTime); a tick at T with
 *        T − (ingest time of the last reading) ≥ idleTimeoutMs marks the partition idle and
 *        raises P to T
 *   WM = max(previous WM, P − D), re-evaluated after every reading and every tick
 *
 * D is the fixed delay, or the adaptive strategy's current delay. The adaptive delay (a quantile
 * of a decaying delay histogram) is taken from the production's strategy object, fed the same
 * observations: it is a function of the (eventTime, ingestTime) sequence alone, and re-deriving a
 * histogram's bucket boundaries here would test nothing but a copy of them.
 */
export class ModelClock {
  private progress = Number.NEGATIVE_INFINITY;
  private mark = Number.NEGATIVE_INFINITY;
  private lastReadingIngest = Number.NEGATIVE_INFINITY;
  private readonly adaptive: WatermarkStrategy | null;
  private readonly fixedDelayMs: number;

  constructor(private readonly spec: ProcessorSpec) {
    this.adaptive = spec.watermark.kind === 'adaptive' ? createWatermarkStrategy(spec.watermark) : null;
    this.fixedDelayMs = spec.watermark.kind === 'fixed' ? spec.watermark.delayMs : 0;
  }

  reading(eventTime: number, ingestTime: number): void {
    this.adaptive?.observe(eventTime, ingestTime);
    this.progress = Math.max(this.progress, Math.min(eventTime, ingestTime));
    this.lastReadingIngest = ingestTime;
    this.raise();
  }

  tick(ingestTime: number): void {
    this.adaptive?.advance(ingestTime);
    if (ingestTime - this.lastReadingIngest >= this.spec.idleTimeoutMs) this.progress = Math.max(this.progress, ingestTime);
    this.raise();
  }

  watermark(): number {
    return this.mark;
  }

  private raise(): void {
    const delay = this.adaptive === null ? this.fixedDelayMs : this.adaptive.currentDelayMs();
    this.mark = Math.max(this.mark, this.progress - delay);
  }
}

/**
 * Per-device clock shifts. The learner (device-clock.ts: when a device counts as behind or ahead,
 * and by how much) is the production's DeviceClocks, built with the parameters the processor
 * documents (offset ceiling, the watermark's covered delay, shifts rounded to the slide, at most
 * 1 s) and fed the same readings: it is a function of each device's delay sequence. What a shift
 * DOES to windows (later or earlier deadlines, late decisions relative to them, moving a device's
 * windows earlier when it enters ahead, refusing to reopen purged windows) is modelled
 * independently in reference-core.ts.
 */
export function modelDeviceClocks(spec: ProcessorSpec): DeviceClocks {
  const window = spec.window;
  const quantumMs = window.kind === 'session' ? 1000 : Math.min(window.kind === 'sliding' ? window.slideMs : window.sizeMs, 1000);
  return new DeviceClocks({
    maxOffsetMs: spec.maxDeviceClockOffsetMs ?? DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS,
    coveredDelayMs: spec.watermark.kind === 'fixed' ? spec.watermark.delayMs : spec.watermark.ceilingMs,
    quantumMs,
  });
}
