import { ConfigError } from './errors.ts';

/**
 * Event-time windows as pure functions of the event time, aligned to epoch 0 (in the manner of
 * Beam's `transforms/windowings.ts`). A window is the half-open interval [start, end).
 *
 * These types mirror the `window` section of a pipeline's configuration structurally; the core
 * does not depend on the configuration module.
 */
export type WindowSpec =
  | { readonly kind: 'tumbling'; readonly sizeMs: number }
  | { readonly kind: 'sliding'; readonly sizeMs: number; readonly slideMs: number }
  | { readonly kind: 'session'; readonly gapMs: number };

export interface TimeWindow {
  readonly start: number;
  readonly end: number;
}

/** Largest window parameter accepted: keeps every start/end an exact integer below 2^53. */
const MAX_WINDOW_MS = 2 ** 40;

export function validateWindowSpec(spec: WindowSpec): void {
  const positive = (key: string, value: number): void => {
    if (!Number.isSafeInteger(value) || value < 1 || value > MAX_WINDOW_MS) {
      throw new ConfigError(`window.${key} is ${String(value)} but must be an integer in [1, ${MAX_WINDOW_MS}]`, {
        key: `window.${key}`,
      });
    }
  };
  switch (spec.kind) {
    case 'tumbling':
      positive('sizeMs', spec.sizeMs);
      return;
    case 'sliding':
      positive('sizeMs', spec.sizeMs);
      positive('slideMs', spec.slideMs);
      if (spec.sizeMs % spec.slideMs !== 0) {
        throw new ConfigError(`window.slideMs is ${spec.slideMs} but must divide window.sizeMs (${spec.sizeMs}) evenly`, {
          key: 'window.slideMs',
        });
      }
      return;
    case 'session':
      positive('gapMs', spec.gapMs);
      return;
    default:
      throw new ConfigError(`window.kind '${(spec as { kind: unknown }).kind as string}' is unknown`, { key: 'window.kind' });
  }
}

/**
 * The start of the aligned window of length `periodMs` that contains `eventTime`.
 * `%` is exact on doubles, so this stays exact for any integer time (negative, or near 2^53),
 * where `Math.floor(t / size) * size` can round the quotient up across a boundary.
 */
export function alignedStart(eventTime: number, periodMs: number): number {
  let offset = eventTime % periodMs;
  if (offset < 0) offset += periodMs;
  // `+ 0` turns a -0 (from t = -0) into 0, so that equal windows compare and serialise equally.
  return eventTime - offset + 0;
}

export function tumblingWindow(eventTime: number, sizeMs: number): TimeWindow {
  const start = alignedStart(eventTime, sizeMs);
  return { start, end: start + sizeMs };
}

/** All sliding windows that contain `eventTime`, in ascending start order (sizeMs / slideMs of them). */
export function slidingWindows(eventTime: number, sizeMs: number, slideMs: number): TimeWindow[] {
  const count = sizeMs / slideMs;
  const out: TimeWindow[] = new Array<TimeWindow>(count);
  let start = alignedStart(eventTime, slideMs) - (count - 1) * slideMs;
  for (let i = 0; i < count; i++, start += slideMs) out[i] = { start, end: start + sizeMs };
  return out;
}

/** The proto-session of one reading: [t, t + gap). Sessions of a key are merged proto-sessions. */
export function sessionProtoWindow(eventTime: number, gapMs: number): TimeWindow {
  const start = eventTime + 0;
  return { start, end: start + gapMs };
}

/** The windows a reading at `eventTime` belongs to before any merging. */
export function assignWindows(spec: WindowSpec, eventTime: number): TimeWindow[] {
  switch (spec.kind) {
    case 'tumbling':
      return [tumblingWindow(eventTime, spec.sizeMs)];
    case 'sliding':
      return slidingWindows(eventTime, spec.sizeMs, spec.slideMs);
    case 'session':
      return [sessionProtoWindow(eventTime, spec.gapMs)];
  }
}

/** How many windows one reading of one metric lands in (before session merging). */
export function windowsPerReading(spec: WindowSpec): number {
  return spec.kind === 'sliding' ? spec.sizeMs / spec.slideMs : 1;
}

/** Whether two half-open windows share at least one instant (touching windows do not). */
export function intersects(a: TimeWindow, b: TimeWindow): boolean {
  return a.start < b.end && b.start < a.end;
}

/**
 * Merges overlapping windows into their connected spans (the session semantics), in ascending
 * start order. The result depends only on the set of windows, never on their order.
 */
export function mergeWindows(windows: readonly TimeWindow[]): TimeWindow[] {
  const sorted = [...windows].sort((a, b) => a.start - b.start || a.end - b.end);
  const out: TimeWindow[] = [];
  let current: { start: number; end: number } | undefined;
  for (const window of sorted) {
    if (current && window.start < current.end) {
      if (window.end > current.end) current.end = window.end;
      continue;
    }
    if (current) out.push(current);
    current = { start: window.start, end: window.end };
  }
  if (current) out.push(current);
  return out;
}
