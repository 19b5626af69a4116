import type { ValidationLimits as ValidationConfig } from '../validation-limits.ts';
import type { RejectionReason } from '../readings.ts';

/**
 * Whole-message guards of validation: size, emptiness, UTF-8, JSON and nesting, cheapest first,
 * before any reading is looked at. Pure: no I/O, no clock.
 */

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false } & Failure;

export interface Failure {
  readonly reason: RejectionReason;
  readonly detail: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Whole-message limits checked before anything is decoded, cheapest first; each either passes (undefined) or names the failure. */
const MESSAGE_LIMITS: ReadonlyArray<(bytes: Uint8Array, maxBytes: number) => Failure | undefined> = [
  (bytes, maxBytes) =>
    bytes.length > maxBytes
      ? { reason: 'payload-too-large', detail: `${bytes.length} bytes exceed the limit of ${maxBytes}` }
      : undefined,
  (bytes) => (bytes.length === 0 ? { reason: 'malformed-json', detail: 'empty payload' } : undefined),
];

function checkMessageLimits(bytes: Uint8Array, maxBytes: number): Failure | undefined {
  for (let i = 0; i < MESSAGE_LIMITS.length; i++) {
    const failure = MESSAGE_LIMITS[i]!(bytes, maxBytes);
    if (failure) return failure;
  }
  return undefined;
}

function tooDeep(config: ValidationConfig): Failure {
  return { reason: 'too-deeply-nested', detail: `JSON nesting deeper than ${config.maxNestingDepth}` };
}

export const JSON_BLANK_LINE = /^[ \t\r]*$/;

/**
 * The whole text at once (NDJSON): size, emptiness, then UTF-8. Nesting is a line's own matter: a
 * scan over the whole body would carry an unclosed string or stray brackets of a malformed line
 * into the next one, and miss (or invent) its depth.
 */
export function decodeChecked(bytes: Uint8Array, maxBytes: number): Parsed<string> {
  const failure = checkMessageLimits(bytes, maxBytes);
  if (failure) return { ok: false, ...failure };
  try {
    return { ok: true, value: utf8.decode(bytes) };
  } catch {
    return { ok: false, reason: 'not-utf8', detail: 'payload is not valid UTF-8' };
  }
}

/**
 * One JSON document: the parsed value, or the failure (a `Refusal`, so that the common case
 * allocates no result object). Size, emptiness, nesting, UTF-8, JSON, in that precedence; the
 * nesting limit is checked on the parsed value (a walk that stops at the limit) instead of a byte
 * scan before parsing: V8's JSON.parse is iterative, so a hostile deep payload still costs linear
 * time, and a valid payload skips the scan (measured: the scan costs 4-5 times the walk).
 * A payload that fails to decode or parse is scanned, so that a too-deep one keeps its reason.
 */
export function parsePayload(bytes: Uint8Array, config: ValidationConfig, maxBytes: number): unknown {
  const failure = checkMessageLimits(bytes, maxBytes);
  if (failure) return Refusal.of(failure);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return nestingDepthExceeds(bytes, config.maxNestingDepth) ? Refusal.of(tooDeep(config)) : new Refusal('not-utf8', 'payload is not valid UTF-8');
  }
  return parseDocument(text, config, bytes);
}

/**
 * JSON.parse and the nesting limit of one JSON text (`bytes`: its UTF-8, when at hand). The depth
 * is that of the parsed value (with a duplicate key, of the value JSON.parse keeps); a text that
 * does not parse is scanned, so that a too-deep one is refused as such.
 */
export function parseDocument(text: string, config: ValidationConfig, bytes: Uint8Array | undefined): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    if (nestingDepthExceeds(bytes ?? utf8Encoder.encode(text), config.maxNestingDepth)) return Refusal.of(tooDeep(config));
    return new Refusal('malformed-json', parseErrorDetail(error));
  }
  return valueDepthExceeds(value, config.maxNestingDepth) ? Refusal.of(tooDeep(config)) : value;
}

const utf8Encoder = new TextEncoder();

/**
 * A failure where a value is expected (a parsed payload, a metrics object): a class of its own, so
 * that `instanceof` tells it apart from any JSON value (a metric may well be named "reason").
 */
export class Refusal implements Failure {
  constructor(
    readonly reason: RejectionReason,
    readonly detail: string,
  ) {}

  static of(failure: Failure): Refusal {
    return new Refusal(failure.reason, failure.detail);
  }
}

/**
 * True when a parsed JSON value nests deeper than `remaining` levels: the same answer as
 * nestingDepthExceeds on its text (every object or array is one level), visiting no deeper.
 */
function valueDepthExceeds(value: unknown, remaining: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (remaining === 0) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (valueDepthExceeds(value[i], remaining - 1)) return true;
    return false;
  }
  for (const key in value) if (valueDepthExceeds((value as Record<string, unknown>)[key], remaining - 1)) return true;
  return false;
}

/**
 * JSON.parse's message, made well-formed: V8 names the offending token by one UTF-16 code unit,
 * half of a surrogate pair for an emoji, and the detail goes to Kafka and HTTP answers as UTF-8.
 */
function parseErrorDetail(error: unknown): string {
  return error instanceof Error ? error.message.replace(LONE_SURROGATE, '\ufffd') : 'not JSON';
}

/** In u-mode a surrogate pair is one code point: this matches lone surrogates only. */
const LONE_SURROGATE = /[\ud800-\udfff]/gu;

export function checkReadingCount(count: number, config: ValidationConfig): Failure | undefined {
  if (count === 0) return { reason: 'schema', detail: 'no readings' };
  if (count > config.maxReadingsPerMessage) {
    return { reason: 'too-many-readings', detail: `${count} readings exceed the limit of ${config.maxReadingsPerMessage}` };
  }
  return undefined;
}

/**
 * True when the JSON text nests deeper than `maxDepth`. A byte scan (strings skipped) that runs
 * before JSON.parse, so that a hostile payload costs one linear pass and nothing more.
 */
export function nestingDepthExceeds(bytes: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (inString) {
      if (byte === 0x5c /* \ */) i++;
      else if (byte === 0x22 /* " */) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x7b /* { */ || byte === 0x5b /* [ */) {
      if (++depth > maxDepth) return true;
    } else if (byte === 0x7d /* } */ || byte === 0x5d /* ] */) {
      depth--;
    }
  }
  return false;
}
