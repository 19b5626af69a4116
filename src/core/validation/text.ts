/**
 * The text checks of validation (names, control characters, well-formed Unicode) written out by
 * hand for the hot path, each equal to its regular expression or rule (a unit test holds them
 * equal), and the descriptions of values that refusals carry.
 */

/** Metric names: safe in tables and logs (tenant and device names: NAME_PATTERN, core/names.ts). */
export const METRIC_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/** METRIC_NAME_PATTERN.test(name), without the regular expression's call (twice per reading on the hot path). */
export function isMetricName(name: string): boolean {
  const length = name.length;
  if (length === 0 || length > 64) return false;
  for (let i = 0; i < length; i++) {
    const code = name.charCodeAt(i);
    const letter = (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || code === 0x5f; /* A-Z a-z _ */
    if (letter) continue;
    if (i > 0 && ((code >= 0x30 && code <= 0x39) || code === 0x2e || code === 0x2d)) continue; /* 0-9 . - */
    return false;
  }
  return true;
}

/** CONTROL_CHARACTERS.test(text), without the regular expression's call. */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x1f || code === 0x7f) return true;
  }
  return false;
}

/**
 * True when `text` is not well-formed UTF-16 (String.prototype.isWellFormed, which the ES2022
 * library types lack): a high surrogate not followed by a low one, or a low one not preceded by one.
 */
export function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800 || code > 0xdfff) continue;
    if (code > 0xdbff || !isLowSurrogate(text.charCodeAt(i + 1))) return true;
    i++;
  }
  return false;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isSequenceNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function describeValue(value: unknown): string {
  return typeof value === 'number' || typeof value === 'string' ? quote(value) : describeType(value);
}

/** JSON-quoted and cut short: details end up in logs, metrics never carry them. */
export function quote(value: unknown): string {
  const text = safeStringify(value) ?? String(value);
  if (text.length <= 80) return text;
  // Not between the two halves of a surrogate pair: the detail goes to Kafka as UTF-8.
  const cut = isHighSurrogate(text.charCodeAt(76)) ? 76 : 77;
  return `${text.slice(0, cut)}...`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

export function safeStringify(value: unknown): string | null {
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null;
  }
}
