import { ConfigError } from '../core/errors.ts';

/**
 * Durations and shares as people type them on a command line: `250ms`, `2.5s`, `10m`, `1h`,
 * `1d` (`1min` too; a bare number is milliseconds); `99.9%` or `0.999`.
 */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const match = /^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|min|m|h|d)?\s*$/.exec(text);
  const unit = match?.[2] ?? 'ms';
  if (!match || match[1] === undefined || UNIT_MS[unit] === undefined) {
    throw new ConfigError(`duration '${text}' is not understood; write for example 500ms, 2.5s, 10m or 1h`, { value: text });
  }
  const ms = Math.round(Number(match[1]) * UNIT_MS[unit]);
  if (ms < 0) throw new ConfigError(`duration '${text}' must not be negative`, { value: text });
  return ms;
}

export function parseDurationList(text: string): number[] {
  return text.split(',').filter((part) => part.trim() !== '').map(parseDuration);
}

/** A share in [0, 1]: `99.9%` → 0.999; `0.999` → 0.999. */
export function parseShare(text: string): number {
  const trimmed = text.trim();
  const percent = trimmed.endsWith('%');
  const value = Number(percent ? trimmed.slice(0, -1) : trimmed);
  // toPrecision: 99.9 / 100 is 0.9990000000000001 in binary; configurations should read 0.999.
  const share = percent ? Number((value / 100).toPrecision(12)) : value;
  if (!Number.isFinite(share) || share < 0 || share > 1) {
    throw new ConfigError(`share '${text}' is not understood; write for example 99.9% or 0.999`, { value: text });
  }
  return share;
}

/** A quantile strictly between 0 and 1 (`0.99`, `99%`, `p99`). */
export function parseQuantile(text: string): number {
  const trimmed = text.trim().toLowerCase();
  const q = trimmed.startsWith('p') ? Number(trimmed.slice(1)) / 100 : parseShare(trimmed);
  if (!(q > 0 && q < 1)) throw new ConfigError(`quantile '${text}' must lie strictly between 0 and 1`, { value: text });
  return q;
}

/** `1.5s`, `250ms`, `12min`, `3.2h`, `365d`: three significant digits at most (parseDuration reads them back). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${round(abs)}ms`;
  if (abs < 60_000) return `${sign}${round(abs / 1000)}s`;
  if (abs < 3_600_000) return `${sign}${round(abs / 60_000)}min`;
  if (abs < 86_400_000) return `${sign}${round(abs / 3_600_000)}h`;
  return `${sign}${round(abs / 86_400_000)}d`;
}

export function formatPercent(share: number, digits = 3): string {
  if (!Number.isFinite(share)) return String(share);
  return `${(share * 100).toFixed(digits).replace(/\.?0+$/, '')}%`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 ** 2) return `${round(bytes / 1024)} KiB`;
  if (bytes < 1024 ** 3) return `${round(bytes / 1024 ** 2)} MiB`;
  return `${round(bytes / 1024 ** 3)} GiB`;
}

function round(value: number): string {
  if (value >= 100) return String(Math.round(value));
  if (value >= 10) return String(Math.round(value * 10) / 10);
  return String(Math.round(value * 100) / 100);
}
