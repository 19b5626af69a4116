import type { ValidationLimits as ValidationConfig } from '../validation-limits.ts';
import type { Reading } from '../readings.ts';
import type { DeviceOrigin } from '../validation.ts';
import { isMetricName } from './text.ts';

/**
 * The validation fast path for the payload most devices send (see readCompactReading); the full
 * rules live in validation.ts, which asks this module first. Pure: no I/O, no clock.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The payload most devices send — one reading, `{"id":"…","ts":…,"metrics":{"name":number,…}}`
 * (those three keys in any order, compact, printable ASCII, no escapes, plain numbers) — read
 * straight from its text without JSON.parse, the depth walk and the general checks: about half of
 * the bridge's validation cost. It answers only for a payload the full path would accept as this
 * very reading (same id, times and metrics, metrics in the same order); for anything else —
 * whitespace, another key, an escape, an exponent, a duplicate, any failed check — it returns
 * undefined and the full path decides. test/unit/validation-compact.test.ts holds it equal to the full path.
 */
export function readCompactReading(payload: Uint8Array, origin: DeviceOrigin, ingestTime: number, config: ValidationConfig): Reading | undefined {
  const size = payload.length;
  if (size < 2 || size > config.maxPayloadBytes || payload[0] !== 0x7b /* { */ || config.maxNestingDepth < 2) return undefined;
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return undefined;
  }
  const end = text.length;
  let at = 1;
  let id: string | undefined;
  let ts: number | undefined;
  let metrics: Record<string, number> | undefined;
  for (;;) {
    // A key of the reading: "id", "ts" or "metrics", each once.
    if (id === undefined && text.startsWith('"id":"', at)) {
      at += 6;
      const idEnd = plainStringEnd(text, at);
      if (idEnd < 0 || idEnd === at || idEnd - at > config.maxIdLength) return undefined;
      id = text.slice(at, idEnd);
      at = idEnd + 1;
    } else if (ts === undefined && text.startsWith('"ts":', at)) {
      at = scanPlainNumber(text, at + 5);
      if (at < 0) return undefined;
      ts = scannedNumber;
    } else if (metrics === undefined && text.startsWith('"metrics":{', at)) {
      metrics = {};
      let count = 0;
      at += 11;
      for (;;) {
        if (text.charCodeAt(at) !== 0x22) return undefined;
        const nameEnd = text.indexOf('"', at + 1);
        if (nameEnd < 0 || text.charCodeAt(nameEnd + 1) !== 0x3a) return undefined;
        const name = text.slice(at + 1, nameEnd);
        // A duplicate (JSON.parse keeps the last value), __proto__ or a name Object.prototype has: the full path.
        if (!isMetricName(name) || name === '__proto__' || metrics[name] !== undefined || ++count > config.maxMetricsPerReading) return undefined;
        at = scanPlainNumber(text, nameEnd + 2);
        if (at < 0) return undefined;
        metrics[name] = scannedNumber;
        const next = text.charCodeAt(at++);
        if (next === 0x7d /* } */) break;
        if (next !== 0x2c /* , */) return undefined;
      }
    } else {
      return undefined;
    }
    const next = text.charCodeAt(at++);
    if (next === 0x7d) break;
    if (next !== 0x2c) return undefined;
  }
  if (at !== end || id === undefined || ts === undefined || metrics === undefined) return undefined;
  const eventTime = Math.floor(ts);
  if (eventTime > ingestTime + config.maxFutureSkewMs || eventTime < ingestTime - config.maxPastAgeMs) return undefined;
  return { tenant: origin.tenant, device: origin.device, id, eventTime, ingestTime, metrics };
}

/** The index of the closing quote of a string of printable ASCII without escapes that starts at `from`; -1 otherwise. */
function plainStringEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x22) return i;
    if (code < 0x20 || code > 0x7e || code === 0x5c) return -1;
  }
  return -1;
}

/** The value of the last scanPlainNumber (a module variable, so that scanning allocates nothing). */
let scannedNumber = 0;
const POWERS_OF_TEN = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15];

/**
 * A JSON number without exponent and with at most 15 digits, from `from`: its end (the value in
 * scannedNumber), or -1. Such a number is m / 10^k with m < 2^53 and k <= 15, both exact, so the
 * one division rounds it exactly as JSON.parse does.
 */
function scanPlainNumber(text: string, from: number): number {
  let at = from;
  const negative = text.charCodeAt(at) === 0x2d; /* - */
  if (negative) at++;
  const first = text.charCodeAt(at);
  if (first < 0x30 || first > 0x39) return -1;
  let mantissa = 0;
  let digits = 0;
  let places = 0;
  // No leading zeros: "0" stands alone before the point.
  if (first === 0x30) {
    at++;
    digits = 1;
  } else {
    for (let code = text.charCodeAt(at); code >= 0x30 && code <= 0x39; code = text.charCodeAt(++at)) {
      mantissa = mantissa * 10 + (code - 0x30);
      digits++;
    }
  }
  if (text.charCodeAt(at) === 0x2e /* . */) {
    at++;
    for (let code = text.charCodeAt(at); code >= 0x30 && code <= 0x39; code = text.charCodeAt(++at)) {
      mantissa = mantissa * 10 + (code - 0x30);
      digits++;
      places++;
    }
    if (places === 0) return -1;
  }
  const after = text.charCodeAt(at);
  if (digits > 15 || after === 0x65 || after === 0x45 /* e E */) return -1;
  const magnitude = places === 0 ? mantissa : mantissa / POWERS_OF_TEN[places]!;
  scannedNumber = negative ? -magnitude : magnitude;
  return at;
}
