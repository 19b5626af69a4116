import { createRequire } from 'node:module';
import KafkaLib from '@confluentinc/kafka-javascript';
import type { LibrdKafkaError } from '@confluentinc/kafka-javascript';

/** librdkafka's error codes, as the library exposes them (`CODES.ERRORS`). */
export const ERR = KafkaLib.CODES.ERRORS;

const CODE_NAMES = new Map<number, string>(Object.entries(ERR).map(([name, code]) => [code as number, name]));

export function codeName(code: number | undefined): string {
  return (code !== undefined && CODE_NAMES.get(code)) || `CODE_${code}`;
}

/** The native binding's own `err2str` (the module the client itself loads; untyped by the package). */
const binding = createRequire(import.meta.url)('@confluentinc/kafka-javascript/librdkafka.js') as { err2str(code: number): string };

/**
 * The binding hands error EVENTS over without their code: src/callbacks.cc passes only
 * `Error(err2str(event.err()))`, and lib/client.js wraps that in a LibrdKafkaError with code -1 and
 * the text after "Local: " or "Broker: ", lower-cased. That text is a function of the code, computed
 * by the same librdkafka build, so the code is recovered by inverting it over every code the
 * library exposes: no English is written here, and a librdkafka upgrade rewording a message changes
 * both sides at once. Aliases (two names, one text) share the text of one code and give that code.
 */
const CODE_OF_EVENT_TEXT: ReadonlyMap<string, number> = (() => {
  const codes = new Map<string, number>();
  for (const code of Object.values(ERR) as number[]) {
    if (code === ERR.ERR_UNKNOWN) continue;
    const text = eventText(binding.err2str(code));
    if (!codes.has(text)) codes.set(text, code);
  }
  return codes;
})();

/** The message of an error event for librdkafka text `text`, normalised as lib/error.js does it. */
function eventText(text: string): string {
  const parts = text.split(': ');
  return (parts.length > 1 ? parts[1]! : text).toLowerCase();
}

/** The librdkafka code of an error event: its own code when the binding gave one, else from its text. */
export function eventErrorCode(error: Pick<LibrdKafkaError, 'code' | 'message'>): number {
  if (typeof error.code === 'number' && error.code !== ERR.ERR_UNKNOWN && CODE_NAMES.has(error.code)) return error.code;
  return CODE_OF_EVENT_TEXT.get(error.message ?? '') ?? ERR.ERR_UNKNOWN;
}
