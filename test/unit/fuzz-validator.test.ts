import { test } from 'node:test';
import { validatorProperties } from '../fuzz/validator-properties.ts';
import { assertProperty } from '../fuzz/property.ts';

/**
 * The edge validator's fuzz properties, briefly and with a fixed seed (the same cases every run);
 * `npm run fuzz -- --only validator --cases 100000` runs them for longer with any seed.
 */
const SEED = 16_005;
const RUNS = 1500;

for (const property of validatorProperties) {
  test(`${property.name}: ${property.description}`, () => {
    assertProperty(property, { numRuns: RUNS, seed: SEED });
  });
}
