import type { LatePolicyConfig, WatermarkConfig, WindowConfig } from '../config/schema.ts';
import { DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS } from '../core/device-clock.ts';
import { ConfigError } from '../core/errors.ts';
import { formatDuration, parseDuration } from './units.ts';

/**
 * A candidate configuration of the what-if replay: the parts of a pipeline entry that decide
 * when windows close and what happens to readings that arrive after that.
 */
export interface Candidate {
  readonly window: WindowConfig;
  readonly watermark: WatermarkConfig;
  readonly latePolicy: LatePolicyConfig;
  readonly idleTimeoutMs: number;
  /**
   * The pipeline's maxDeviceClockOffsetMs: devices whose clock is off by up to this much get
   * their own, learned, window deadlines (src/core/device-clock.ts); 0: none. It changes what a
   * watermark delay does (a device behind the delay waits for its own readings), so it is part
   * of the configuration and of its label.
   */
  readonly maxDeviceClockOffsetMs: number;
}

/** Adaptive settings the grid does not vary: the schema's defaults. */
export const ADAPTIVE_DEFAULTS = { floorMs: 200, ceilingMs: 30_000, horizonMs: 60_000 } as const;
export const DEFAULT_IDLE_TIMEOUT_MS = 5000;

export interface GridSpec {
  readonly windows: readonly WindowConfig[];
  readonly fixedDelaysMs: readonly number[];
  readonly quantiles: readonly number[];
  readonly marginsMs: readonly number[];
  readonly latePolicy: LatePolicyConfig;
  readonly idleTimeoutMs?: number;
  /** maxDeviceClockOffsetMs values to try (default: the aggregator's default only). */
  readonly deviceClockOffsetsMs?: readonly number[];
  /** Adaptive ceiling, floor and horizon (defaults: the schema's). */
  readonly adaptive?: Partial<typeof ADAPTIVE_DEFAULTS>;
}

export const DEFAULT_FIXED_DELAYS_MS = [0, 500, 1000, 2000, 3000, 5000, 8000, 12_000, 20_000] as const;
export const DEFAULT_QUANTILES = [0.9, 0.99, 0.999] as const;
export const DEFAULT_MARGINS_MS = [0, 500, 1000] as const;

/** Every device-clock offset × window × (every fixed delay + every adaptive quantile × margin). */
export function candidateGrid(spec: GridSpec): Candidate[] {
  const idleTimeoutMs = spec.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const adaptive = { ...ADAPTIVE_DEFAULTS, ...spec.adaptive };
  const out: Candidate[] = [];
  for (const maxDeviceClockOffsetMs of spec.deviceClockOffsetsMs ?? [DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS]) {
    const common = { latePolicy: spec.latePolicy, idleTimeoutMs, maxDeviceClockOffsetMs };
    for (const window of spec.windows) {
      for (const delayMs of spec.fixedDelaysMs) out.push({ window, watermark: { kind: 'fixed', delayMs }, ...common });
      for (const quantile of spec.quantiles) {
        for (const marginMs of spec.marginsMs) out.push({ window, watermark: { kind: 'adaptive', quantile, marginMs, ...adaptive }, ...common });
      }
    }
  }
  return out;
}

export function describeWindow(window: WindowConfig): string {
  switch (window.kind) {
    case 'tumbling':
      return `tumbling ${formatDuration(window.sizeMs)}`;
    case 'sliding':
      return `sliding ${formatDuration(window.sizeMs)}/${formatDuration(window.slideMs)}`;
    case 'session':
      return `session gap ${formatDuration(window.gapMs)}`;
  }
}

export function describeWatermark(watermark: WatermarkConfig): string {
  return watermark.kind === 'fixed'
    ? `fixed ${formatDuration(watermark.delayMs)}`
    : `adaptive P${trimQuantile(watermark.quantile)}+${formatDuration(watermark.marginMs)}`;
}

/**
 * What the device clocks add to a watermark: nothing when off; else the learned per-device
 * shift, which makes "fixed 3s" close a behind device's windows later than 3 s (by its offset).
 */
export function describeDeviceClocks(maxDeviceClockOffsetMs: number): string {
  return maxDeviceClockOffsetMs === 0 ? '' : ` + device-clock shift (max ${formatDuration(maxDeviceClockOffsetMs)})`;
}

/** The watermark and the device clocks together: what decides when a window closes. */
export function describeClosing(candidate: Pick<Candidate, 'watermark' | 'maxDeviceClockOffsetMs'>): string {
  return `${describeWatermark(candidate.watermark)}${describeDeviceClocks(candidate.maxDeviceClockOffsetMs)}`;
}

export function describeLatePolicy(policy: LatePolicyConfig): string {
  return policy.kind === 'reemit' ? `reemit ${formatDuration(policy.allowedLatenessMs)}` : policy.kind;
}

export function describeCandidate(candidate: Candidate): string {
  return `${describeWindow(candidate.window)} · ${describeClosing(candidate)} · ${describeLatePolicy(candidate.latePolicy)}`;
}

function trimQuantile(q: number): string {
  return String(Math.round(q * 1e6) / 1e4);
}

/**
 * Parses a window: `tumbling:5s`, `sliding:10s/5s` (size/slide), `session:30s` (gap).
 */
export function parseWindow(text: string): WindowConfig {
  const [kind, rest] = text.trim().split(':', 2);
  const fail = (): never => {
    throw new ConfigError(`window '${text}' is not understood; write tumbling:5s, sliding:10s/5s or session:30s`, { key: 'window' });
  };
  if (rest === undefined) return fail();
  if (kind === 'tumbling') return { kind, sizeMs: parseDuration(rest) };
  if (kind === 'session') return { kind, gapMs: parseDuration(rest) };
  if (kind === 'sliding') {
    const [size, slide] = rest.split('/', 2);
    if (size === undefined || slide === undefined) return fail();
    const sizeMs = parseDuration(size);
    const slideMs = parseDuration(slide);
    if (slideMs > sizeMs || sizeMs % slideMs !== 0) {
      throw new ConfigError(`window '${text}': the slide must divide the size evenly`, { key: 'window' });
    }
    return { kind, sizeMs, slideMs };
  }
  return fail();
}

/** Parses a late policy: `drop`, `late-topic`, `reemit:60s`. */
export function parseLatePolicy(text: string): LatePolicyConfig {
  const [kind, rest] = text.trim().split(':', 2);
  if (kind === 'drop' && rest === undefined) return { kind: 'drop' };
  if (kind === 'late-topic' && rest === undefined) return { kind: 'late-topic' };
  if (kind === 'reemit' && rest !== undefined) return { kind: 'reemit', allowedLatenessMs: parseDuration(rest) };
  throw new ConfigError(`late policy '${text}' is not understood; write drop, late-topic or reemit:60s`, { key: 'latePolicy' });
}
