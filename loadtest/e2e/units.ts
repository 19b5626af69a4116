/** '10s', '1500ms', '5m', '300' (seconds) → milliseconds. */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match) throw new Error(`'${text}' is not a duration; use for example 10s, 1500ms or 5m`);
  const value = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000);
}

/** '99.9%' or '0.999' → 0.999. */
export function parsePercent(text: string): number {
  const trimmed = text.trim();
  const value = trimmed.endsWith('%') ? Number(trimmed.slice(0, -1)) / 100 : Number(trimmed);
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new Error(`'${text}' is not a fraction or percentage between 0 and 100 %`);
  return value;
}
