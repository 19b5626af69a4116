import assert from 'node:assert/strict';
import type { ValidationConfig } from '../../src/config/schema.ts';
import { readCompactReading } from '../../src/core/validation/compact-reading.ts';
import { encodeReading } from '../../src/core/wire/reading.ts';
import {
  validateDeviceMessage,
  validateDeviceMessageInFull,
  validateGatewayBody,
  type ValidationResult,
} from '../../src/core/validation.ts';
import { DEFAULTS, DEVICE, NOW, TENANT, compactCase, deviceCase, gatewayCase, type DeviceCase, type GatewayCase } from './validator-inputs.ts';
import { referenceDeviceMessage, referenceGatewayBody, type ReferenceOutcome } from '../model/reference-validator.ts';
import type { AnyFuzzProperty, FuzzProperty } from './property.ts';

/**
 * Hostile payloads for the edge validator, held against the documented rules
 * (test/model/reference-validator.ts): every payload is accepted exactly as the rules say or
 * refused with the documented reason and index; the compact fast path, when it answers, answers
 * the same; nothing throws; every string that leaves the validator is well-formed Unicode.
 */

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

const LONE_SURROGATE = /[\ud800-\udfff]/u;

function outcomeOf(result: ValidationResult): ReferenceOutcome {
  return { readings: result.readings, rejections: result.rejections.map(({ index, reason }) => ({ index, reason })) };
}

/** Equal to the reference, readings encoded byte for byte alike, every string well-formed (the fast encoders: test/fuzz/wire-properties.ts). */
function assertAgrees(result: ValidationResult, expected: ReferenceOutcome): void {
  assert.deepStrictEqual(outcomeOf(result), expected);
  result.readings.forEach((reading, i) => {
    assert.equal(encodeReading(reading), encodeReading(expected.readings[i]!), 'metric order');
    assert.ok(!LONE_SURROGATE.test(reading.id), `id ${JSON.stringify(reading.id)} is not well-formed`);
  });
  for (const rejection of result.rejections) {
    assert.ok(rejection.detail.length > 0, 'a refusal explains itself');
    assert.ok(!LONE_SURROGATE.test(rejection.detail), `detail ${JSON.stringify(rejection.detail)} is not well-formed`);
    if (rejection.item !== null) assert.ok(!LONE_SURROGATE.test(rejection.item), `item ${JSON.stringify(rejection.item)} is not well-formed`);
  }
}

function checkDevice({ payload, limits: chosen }: DeviceCase): void {
  const origin = { tenant: TENANT, device: DEVICE };
  const expected = referenceDeviceMessage(payload, TENANT, DEVICE, NOW, chosen);
  const full = validateDeviceMessageInFull(payload, origin, NOW, chosen);
  assertAgrees(full, expected);
  assert.deepStrictEqual(validateDeviceMessage(payload, origin, NOW, chosen), full, 'with and without the fast path');
  const fast = readCompactReading(payload, origin, NOW, chosen);
  if (fast !== undefined) {
    assertAgrees({ readings: [fast], rejections: [] }, expected);
    assert.ok(Object.is(fast.eventTime, expected.readings[0]!.eventTime), 'eventTime, -0 included');
    for (const name in fast.metrics) assert.ok(Object.is(fast.metrics[name], expected.readings[0]!.metrics[name]), `metric ${name}, -0 included`);
  }
}

function checkGateway({ payload, format, limits: chosen, maxBodyBytes }: GatewayCase): void {
  const expected = referenceGatewayBody(payload, format, TENANT, NOW, chosen, maxBodyBytes);
  assertAgrees(validateGatewayBody(payload, format, TENANT, NOW, chosen, maxBodyBytes), expected);
}

const base64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const changedLimits = (chosen: ValidationConfig): string =>
  JSON.stringify(Object.fromEntries(Object.entries(chosen).filter(([key, value]) => DEFAULTS[key as keyof ValidationConfig] !== value)));

function deviceUnitTest(name: string, input: DeviceCase): string {
  return [
    `// ${name}: ${JSON.stringify(Buffer.from(input.payload).toString('latin1'))}`,
    `test('the device validator agrees with the documented rules (fuzz: ${name})', () => {`,
    `  const payload = Buffer.from('${base64(input.payload)}', 'base64');`,
    `  const limits = { ...parseConfig({}).edge.validation, ...${changedLimits(input.limits)} };`,
    `  const result = validateDeviceMessage(payload, { tenant: '${TENANT}', device: '${DEVICE}' }, ${NOW}, limits);`,
    `  const outcome = { readings: result.readings, rejections: result.rejections.map(({ index, reason }) => ({ index, reason })) };`,
    `  assert.deepStrictEqual(outcome, referenceDeviceMessage(payload, '${TENANT}', '${DEVICE}', ${NOW}, limits));`,
    `});`,
  ].join('\n');
}

function gatewayUnitTest(input: GatewayCase): string {
  return [
    `// ${JSON.stringify(Buffer.from(input.payload).toString('latin1'))}`,
    `test('the gateway validator agrees with the documented rules (fuzz: ${input.format})', () => {`,
    `  const body = Buffer.from('${base64(input.payload)}', 'base64');`,
    `  const limits = { ...parseConfig({}).edge.validation, ...${changedLimits(input.limits)} };`,
    `  const result = validateGatewayBody(body, '${input.format}', '${TENANT}', ${NOW}, limits, ${input.maxBodyBytes});`,
    `  const outcome = { readings: result.readings, rejections: result.rejections.map(({ index, reason }) => ({ index, reason })) };`,
    `  assert.deepStrictEqual(outcome, referenceGatewayBody(body, '${input.format}', '${TENANT}', ${NOW}, limits, ${input.maxBodyBytes}));`,
    `});`,
  ].join('\n');
}

const deviceProperty: FuzzProperty<DeviceCase> = {
  name: 'validator/device-messages',
  description: 'hostile MQTT payloads: full path, fast path and the documented rules give the same readings and refusal reasons',
  arbitrary: deviceCase,
  predicate: checkDevice,
  toUnitTest: (input) => deviceUnitTest('device message', input),
};

const compactProperty: FuzzProperty<DeviceCase> = {
  name: 'validator/compact-payloads',
  description: 'compact single readings, some bent: whatever the fast path accepts, the documented rules accept as the same reading',
  arbitrary: compactCase,
  predicate: checkDevice,
  toUnitTest: (input) => deviceUnitTest('compact payload', input),
};

const gatewayProperty: FuzzProperty<GatewayCase> = {
  name: 'validator/gateway-bodies',
  description: 'hostile HTTP bodies (JSON and NDJSON with bad lines): the same readings and refusals (index, reason) as the documented rules',
  arbitrary: gatewayCase,
  predicate: checkGateway,
  toUnitTest: gatewayUnitTest,
};

/** Properties of the edge validator, held against its documented rules. */
export const validatorProperties: readonly AnyFuzzProperty[] = [deviceProperty, compactProperty, gatewayProperty];
