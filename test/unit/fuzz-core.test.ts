import { test } from 'node:test';
import { coreProperties } from '../fuzz/core-properties.ts';
import { assertProperty } from '../fuzz/property.ts';

/**
 * The core's differential properties (test/fuzz/core-properties.ts), briefly and with a fixed seed
 * so that `npm test` stays deterministic; `npm run fuzz -- --cases N --seed S` runs them longer.
 * A failure prints the shrunk trace as a unit test to paste.
 */
const SEED = 16;
const RUNS = 100;

for (const property of coreProperties) {
  test(`${property.name}: ${property.description}`, () => {
    assertProperty(property, { numRuns: RUNS, seed: SEED });
  });
}
