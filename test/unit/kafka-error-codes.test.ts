import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import kafkaJs from '@confluentinc/kafka-javascript';
import { codeName, eventErrorCode } from '../../src/kafka/librdkafka-codes.ts';

const ERR = kafkaJs.CODES.ERRORS;
const require = createRequire(import.meta.url);
/** The native binding (librdkafka's own err2str) and the JS error wrapper, as the client uses them. */
const binding = require('@confluentinc/kafka-javascript/librdkafka.js') as { err2str(code: number): string };
const wrapper = require('@confluentinc/kafka-javascript/lib/error.js') as { create(error: Error): { code: number; message: string } };

/**
 * An error EVENT as the binding delivers it: src/callbacks.cc passes only
 * `Nan::Error(err2str(event.err()))` and lib/client.js wraps it with LibrdKafkaError.create, which
 * lower-cases the text after "Local: "/"Broker: " and sets code -1.
 */
function errorEvent(code: number): { code: number; message: string } {
  return wrapper.create(new Error(binding.err2str(code)));
}

test('an error event as the binding delivers it carries no numeric code (code -1): the premise of eventErrorCode', () => {
  const event = errorEvent(ERR.ERR__ALL_BROKERS_DOWN);
  assert.equal(event.code, -1);
  assert.equal(event.message, 'all broker connections are down');
});

test('every librdkafka error code is recovered from its error event (aliases give the code of the same text)', () => {
  const wrong: string[] = [];
  for (const [name, code] of Object.entries(ERR) as [string, number][]) {
    if (code === ERR.ERR_UNKNOWN || code === ERR.ERR_NO_ERROR) continue;
    const recovered = eventErrorCode(errorEvent(code));
    // Two names for one text (ERR_NOT_COORDINATOR_FOR_GROUP, ERR_NOT_COORDINATOR) are aliases of one code.
    if (binding.err2str(recovered) !== binding.err2str(code)) wrong.push(`${name} → ${codeName(recovered)}`);
  }
  assert.deepEqual(wrong, []);
});

test('the codes the producer acts on are recovered exactly', () => {
  for (const code of [ERR.ERR__ALL_BROKERS_DOWN, ERR.ERR__FATAL, ERR.ERR__TRANSPORT, ERR.ERR__SSL, ERR.ERR__TIMED_OUT, ERR.ERR__AUTHENTICATION]) {
    assert.equal(codeName(eventErrorCode(errorEvent(code))), codeName(code));
  }
});

test('a numeric code, when the binding gives one, wins over any text', () => {
  assert.equal(eventErrorCode({ code: ERR.ERR__TRANSPORT, message: 'all broker connections are down' }), ERR.ERR__TRANSPORT);
});

test('text that is not librdkafka\'s text for a code is ERR_UNKNOWN, not a guess by prefix', () => {
  assert.equal(eventErrorCode({ code: -1, message: 'fatal error in the application' }), ERR.ERR_UNKNOWN);
  assert.equal(eventErrorCode({ code: -1, message: 'ALL BROKER CONNECTIONS ARE DOWN (but translated)' }), ERR.ERR_UNKNOWN);
});
