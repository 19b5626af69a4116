import { test } from 'node:test';
import { advisorProperties } from '../fuzz/advisor-properties.ts';
import { assertProperty } from '../fuzz/property.ts';

/**
 * The advisor's fuzz properties, briefly and with a fixed seed (the same cases every run);
 * `npm run fuzz -- --only advisor --cases 2000` runs them for longer with any seed.
 */
const SEED = 16_003;
const RUNS = 60;

for (const property of advisorProperties) {
  test(`${property.name}: ${property.description}`, () => {
    assertProperty(property, { numRuns: RUNS, seed: SEED });
  });
}
