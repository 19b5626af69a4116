import { advisorProperties } from './advisor-properties.ts';
import { codecProperties } from './codec-properties.ts';
import { coreProperties } from './core-properties.ts';
import { limitsProperties } from './limits-properties.ts';
import type { AnyFuzzProperty } from './property.ts';
import { validatorProperties } from './validator-properties.ts';
import { wireProperties } from './wire-properties.ts';

/** Every property of the fuzz harness, in the order `npm run fuzz` runs them. */
export const fuzzProperties: readonly AnyFuzzProperty[] = [...coreProperties, ...advisorProperties, ...limitsProperties, ...validatorProperties, ...codecProperties, ...wireProperties];
