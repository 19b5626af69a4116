import { READING_SCHEMA_VERSION, type Reading } from '../readings.ts';

/**
 * A validated reading's record (reading.ts) written as bytes, for the bridge's hot path: the same
 * bytes as encodeReading and encodeValidatedReading, without building the string first. Pure:
 * writes only into the array it is given. test/unit/wire-fast-paths.test.ts holds it equal to
 * encodeReading.
 */

/**
 * encodeValidatedReading's UTF-8 bytes written straight into `target` (from offset 0), without
 * building the string: the bridge's hot path. Returns the number of bytes, or -1 when this reading
 * needs encodeValidatedReading instead (an id, tenant or device outside printable ASCII or needing
 * an escape, or a record longer than `target`). Integers are written digit by digit (String() of a
 * 13-digit time costs more than the rest of the record); any other number as String() gives it,
 * which is its JSON form.
 */
export function writeValidatedReading(reading: Reading, target: Uint8Array): number {
  let at = writeAscii(target, 0, READING_HEAD);
  at = writeJsonStringBody(target, at, reading.tenant);
  if (at < 0) return -1;
  at = writeAscii(target, at, '","device":"');
  at = writeJsonStringBody(target, at, reading.device);
  if (at < 0) return -1;
  at = writeAscii(target, at, '","id":"');
  at = writeJsonStringBody(target, at, reading.id);
  if (at < 0) return -1;
  at = writeAscii(target, at, '","eventTime":');
  at = writeNumber(target, at, reading.eventTime);
  at = writeAscii(target, at, ',"ingestTime":');
  at = writeNumber(target, at, reading.ingestTime);
  at = writeAscii(target, at, ',"metrics":');
  const { metrics } = reading;
  let first = true;
  for (const name in metrics) {
    at = writeAscii(target, at, first ? '{"' : ',"');
    first = false;
    at = writeJsonStringBody(target, at, name);
    if (at < 0) return -1;
    at = writeAscii(target, at, '":');
    at = writeNumber(target, at, metrics[name]!);
  }
  at = writeAscii(target, at, first ? '{}}' : '}}');
  // Stores past the end of a typed array are dropped: the record did not fit.
  return at > target.length ? -1 : at;
}

const READING_HEAD = '{"v":' + READING_SCHEMA_VERSION + ',"tenant":"';

/** Text known to be ASCII (the record's own punctuation, String() of a number). */
function writeAscii(target: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) target[at++] = text.charCodeAt(i);
  return at;
}

/**
 * The inside of a JSON string when it is printable ASCII needing no escape (then JSON.stringify
 * adds only the quotes); -1 otherwise.
 */
function writeJsonStringBody(target: Uint8Array, at: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code > 0x7e || code === 0x22 /* " */ || code === 0x5c /* \ */) return -1;
    target[at++] = code;
  }
  return at;
}

/**
 * A finite number as String() (= JSON) writes it: safe integers and short decimals digit by digit
 * (String() of a 13-digit time or of 21.5 costs more than the rest of the record), anything else
 * through String().
 */
function writeNumber(target: Uint8Array, at: number, value: number): number {
  if (!Number.isSafeInteger(value)) {
    const end = writeShortDecimal(target, at, value);
    return end >= 0 ? end : writeAscii(target, at, String(value));
  }
  // -0 is written "0", as String(-0) does.
  let rest = value;
  if (rest < 0) {
    target[at++] = 0x2d; /* - */
    rest = -rest;
  }
  if (rest < EIGHT_DIGITS) return writeDigits(target, at, rest, digitCount(rest));
  // In two parts below 2^31, so that the digits come from integer arithmetic (a double's % is slow).
  let high = Math.floor(rest / EIGHT_DIGITS);
  let low = rest - high * EIGHT_DIGITS;
  if (low < 0) {
    high--;
    low += EIGHT_DIGITS;
  }
  at = writeDigits(target, at, high, digitCount(high));
  return writeDigits(target, at, low, 8);
}

const EIGHT_DIGITS = 100_000_000;
const DECIMAL_SCALES = [1, 10, 100, 1000];

/**
 * A non-integer 0.001 <= |value| < 10^9 with at most three decimals, as String() writes it; -1
 * for any other number. The decimal with the fewest places (1 to 3) that parses back to `value`
 * has at most 12 significant digits, so it is the only one that short (doubles keep 15), and it is
 * String()'s shortest round-trip form, written in fixed notation in this range.
 */
function writeShortDecimal(target: Uint8Array, at: number, value: number): number {
  const magnitude = value < 0 ? -value : value;
  if (!(magnitude >= 0.001 && magnitude < 1e9)) return -1;
  for (let places = 1; places <= 3; places++) {
    const scale = DECIMAL_SCALES[places]!;
    const scaled = Math.round(magnitude * scale);
    if (scaled / scale !== magnitude) continue;
    const whole = Math.floor(magnitude);
    const fraction = scaled - whole * scale;
    // A fraction ending in 0 would have matched with fewer places; anything else is left to String().
    if (fraction <= 0 || fraction >= scale || fraction % 10 === 0) return -1;
    if (value < 0) target[at++] = 0x2d; /* - */
    at = writeDigits(target, at, whole, digitCount(whole));
    target[at++] = 0x2e; /* . */
    return writeDigits(target, at, fraction, places);
  }
  return -1;
}

/** Digits of 0 <= value < 10^8. */
function digitCount(value: number): number {
  let digits = 1;
  for (let bound = 10; bound <= value; bound *= 10) digits++;
  return digits;
}

/** `value` (0 <= value < 2^31) as exactly `digits` digits, zero-padded on the left. */
function writeDigits(target: Uint8Array, at: number, value: number, digits: number): number {
  let rest = value | 0;
  const end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    const next = (rest / 10) | 0;
    target[i] = 0x30 + rest - next * 10;
    rest = next;
  }
  return end;
}
