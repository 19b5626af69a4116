/**
 * Event times written as text: ISO-8601 in the RFC 3339 profile, always with a zone. Pure.
 */

/**
 * `YYYY-MM-DDTHH:MM[:SS[.fraction]]` and `Z` or `±HH:MM`. Without a zone Date.parse would read the
 * bridge's local time.
 */
const ISO_TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Epoch milliseconds of an ISO-8601 time with a zone (a fraction beyond milliseconds is cut off),
 * or NaN when `text` is not one. The fields are range-checked first: Date.parse rolls an
 * impossible date over (`2025-02-30` is read as March 2) and reads `24:00` as the next midnight.
 */
export function parseIsoTime(text: string): number {
  const match = ISO_TIME_PATTERN.exec(text);
  if (match === null) return Number.NaN;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return Number.NaN;
  if (Number(match[4]) > 23 || Number(match[5]) > 59 || Number(match[6] ?? 0) > 59) return Number.NaN;
  if (Number(match[7] ?? 0) > 23 || Number(match[8] ?? 0) > 59) return Number.NaN;
  return Date.parse(text);
}

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!;
}
