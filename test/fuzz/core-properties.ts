import type { AnyFuzzProperty } from './property.ts';

/** Properties of the aggregation core, held against the reference model (test/model/). */
export const coreProperties: readonly AnyFuzzProperty[] = [];
