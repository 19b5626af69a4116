import { isUtf8 } from 'node:buffer';
import type { Reading } from '../../src/core/readings.ts';
import { readCompactReading } from '../../src/core/validation/compact-reading.ts';
import { validateDeviceMessageInFull, type ValidationResult } from '../../src/core/validation.ts';
import type { PublishListener } from '../publisher.ts';
import type { EndpointContext } from './context.ts';
import type { DeviceIdentity } from './credentials.ts';
import { REASON, type TopicCheck } from './limits.ts';

/**
 * The one way a message of a device becomes records, whether the device sent it as a PUBLISH
 * (publish.ts) or the endpoint publishes it for the device as its will (wills.ts): the topic's
 * check, its codec (JSON's compact fast path first), then the publisher — readings to the
 * readings topic, refusals to the dead-letter topic.
 */

/** What a message is: one valid reading (the JSON fast path, no result object), or readings and refusals. */
export type Message = Reading | ValidationResult;

export function isResult(message: Message): message is ValidationResult {
  return (message as ValidationResult).rejections !== undefined;
}

const NOT_UTF8_DETAIL = 'payload marked UTF-8 (MQTT 5 Payload Format Indicator 1) is not valid UTF-8';

/**
 * `declaredUtf8`: the sender marked the payload UTF-8 (MQTT 5 Payload Format Indicator 1). One that
 * is not is refused whole (0x99, §3.3.2.3.2) before any codec reads it: a binary codec would take it.
 */
export function readMessage(context: EndpointContext, check: TopicCheck, topic: string, payload: Buffer, receivedAt: number, declaredUtf8 = false): Message {
  if (!check.ok) return { readings: [], rejections: [{ index: null, reason: check.reason, detail: check.detail, item: null }] };
  if (declaredUtf8 && !isUtf8(payload)) return { readings: [], rejections: [{ index: null, reason: 'not-utf8', detail: NOT_UTF8_DETAIL, item: null }] };
  if (check.codec !== undefined && check.codec.name !== 'json') {
    return check.codec.decode(topic, payload, { scope: check.origin, ingestTime: receivedAt, validation: context.validation });
  }
  // JSON (every JSON rule reads `<prefix>/<tenant>/<device>`): the compact fast path first.
  return readCompactReading(payload, check.origin, receivedAt, context.validation) ?? validateDeviceMessageInFull(payload, check.origin, receivedAt, context.validation);
}

/** The reason code of a message: its topic's refusal, 0x99 when nothing in it was a valid reading, else success. */
export function messageCode(check: TopicCheck, message: Message): number {
  if (!check.ok) return check.code;
  if (isResult(message) && message.readings.length === 0 && message.rejections.length > 0) return REASON.payloadFormatInvalid;
  return REASON.success;
}

/** Hands a message's records to Kafka; `listener` hears once they all settled. */
export function sendMessage(context: EndpointContext, identity: DeviceIdentity, check: TopicCheck, topic: string, payload: Buffer, receivedAt: number, message: Message, listener: PublishListener): void {
  if (!isResult(message)) {
    context.publisher.publishReading(message, 'mqtt', receivedAt, listener);
    return;
  }
  // A refused topic names no device of its own: the account's, or the topic for a gateway.
  const deadLetterKey = check.ok ? check.origin.device : identity.device === '*' ? topic : identity.device;
  context.publisher.publish(message, { source: 'mqtt', origin: topic, deadLetterKey, payload, receivedAt }, listener);
}
