import type { AnyFuzzProperty } from './property.ts';

/** Properties of the edge validator, held against its documented rules. */
export const validatorProperties: readonly AnyFuzzProperty[] = [];
