import { DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS, type DeviceClockOptions } from './device-clock.ts';
import type { ProcessorSpec } from './processor-spec.ts';
import type { WindowStoreOptions } from './window-store.ts';
import { windowsPerReading } from './windows.ts';

// Small integer codes: the hot path compares these instead of strings.
export const Kind = { Tumbling: 0, Sliding: 1, Session: 2 } as const;
export type Kind = (typeof Kind)[keyof typeof Kind];
export const Late = { Drop: 0, Topic: 1, Reemit: 2 } as const;
export type Late = (typeof Late)[keyof typeof Late];

/** What a PartitionProcessor works from: its (validated) spec, resolved once into the numbers and options its parts need. */
export interface ProcessorPlan {
  readonly kind: Kind;
  /** Aligned windows: size and slide (slide = size when tumbling). Sessions: the gap. */
  readonly sizeMs: number;
  readonly slideMs: number;
  readonly windowsPerValue: number;
  readonly late: Late;
  readonly allowedLatenessMs: number;
  /** ProcessorSpec `aggregates: 'count'`: windows count readings and nothing else. */
  readonly countOnly: boolean;
  readonly deviceClocks: DeviceClockOptions;
  readonly store: WindowStoreOptions;
}

export function planProcessor(spec: ProcessorSpec): ProcessorPlan {
  const window = spec.window;
  const kind = window.kind === 'tumbling' ? Kind.Tumbling : window.kind === 'sliding' ? Kind.Sliding : Kind.Session;
  const sizeMs = window.kind === 'session' ? window.gapMs : window.sizeMs;
  const slideMs = window.kind === 'sliding' ? window.slideMs : sizeMs;
  const policy = spec.latePolicy;
  const late = policy.kind === 'drop' ? Late.Drop : policy.kind === 'late-topic' ? Late.Topic : Late.Reemit;
  const allowedLatenessMs = policy.kind === 'reemit' ? policy.allowedLatenessMs : 0;
  const maxOffsetMs = spec.maxDeviceClockOffsetMs ?? DEFAULT_MAX_DEVICE_CLOCK_OFFSET_MS;
  // Shifts are rounded to the slide (at most 1 s) so that shifted windows share deadlines.
  const quantumMs = kind === Kind.Session ? 1000 : Math.min(slideMs, 1000);
  // How long after it left the store a series' purgedThrough can still refuse a reading. Aligned:
  // a window ending there reopens only under a grown shift (+ the allowed lateness). Sessions: a
  // proto-session [t, t + gap) before it may still end past the watermark, shifted or not.
  const shiftSpanMs = maxOffsetMs > 0 ? maxOffsetMs + quantumMs : 0;
  const guardSpanMs = kind === Kind.Session ? shiftSpanMs + sizeMs : shiftSpanMs > 0 ? shiftSpanMs + allowedLatenessMs : 0;
  const countOnly = spec.aggregates === 'count';
  // Count-only aligned windows without 'reemit' are counted in their series (see AlignedAssigner).
  const countedInSeries = countOnly && late !== Late.Reemit;
  return {
    kind,
    sizeMs,
    slideMs,
    windowsPerValue: windowsPerReading(window),
    late,
    allowedLatenessMs,
    countOnly,
    deviceClocks: {
      maxOffsetMs,
      coveredDelayMs: spec.watermark.kind === 'fixed' ? spec.watermark.delayMs : spec.watermark.ceilingMs,
      quantumMs,
    },
    store: {
      pooling: kind !== Kind.Session,
      guardSpanMs,
      countOnly,
      countsInSeries: countedInSeries && kind === Kind.Sliding,
      countsInRecent: countedInSeries && kind === Kind.Tumbling,
      // An open session may reach back to a purged one at any distance from the watermark.
      guardFilledSeries: kind === Kind.Session,
    },
  };
}
