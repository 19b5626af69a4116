import fc from 'fast-check';

/**
 * One property of the fuzz harness: a generator of inputs, a predicate that must hold for every
 * input, and a renderer that turns a (shrunk) failing input into a unit test ready to paste into
 * test/unit/. The same properties run briefly in `npm test` (test/unit/fuzz-*.test.ts) and for as
 * long as asked in `npm run fuzz`.
 */
export interface FuzzProperty<T> {
  readonly name: string;
  /** What the property proves, in one sentence (printed by `npm run fuzz`). */
  readonly description: string;
  readonly arbitrary: fc.Arbitrary<T>;
  /** Throws (an assertion error) or returns false when the property does not hold for `input`. */
  readonly predicate: (input: T) => boolean | void;
  /** A node:test unit test reproducing the failure for `input`, as TypeScript source. */
  readonly toUnitTest: (input: T) => string;
}

export interface PropertyRun {
  readonly numRuns: number;
  readonly seed: number;
}

export interface PropertyResult {
  readonly name: string;
  readonly runs: number;
  readonly failed: boolean;
  readonly durationMs: number;
  /** On failure: fast-check's seed and path (to replay exactly), the error, and the pasteable test. */
  readonly seed?: number;
  readonly path?: string;
  readonly error?: string;
  readonly unitTest?: string;
}

// fast-check's arbitraries are typed by their value; the registry holds properties of many types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyFuzzProperty = FuzzProperty<any>;

export function checkProperty<T>(property: FuzzProperty<T>, run: PropertyRun): PropertyResult {
  const started = performance.now();
  const details = fc.check(fc.property(property.arbitrary, property.predicate), { numRuns: run.numRuns, seed: run.seed });
  const durationMs = performance.now() - started;
  if (!details.failed) return { name: property.name, runs: details.numRuns, failed: false, durationMs };
  const counterexample = details.counterexample?.[0] as T | undefined;
  return {
    name: property.name,
    runs: details.numRuns,
    failed: true,
    durationMs,
    seed: details.seed,
    path: details.counterexamplePath ?? undefined,
    error: details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance ?? 'predicate returned false'),
    unitTest: counterexample === undefined ? undefined : property.toUnitTest(counterexample),
  };
}

/** For unit tests: runs the property and throws with the minimal failing input as a pasteable test. */
export function assertProperty<T>(property: FuzzProperty<T>, run: PropertyRun): void {
  const result = checkProperty(property, run);
  if (!result.failed) return;
  throw new Error(
    `property '${result.name}' failed (seed ${String(result.seed)}, path ${String(result.path)}): ${String(result.error)}\n` +
      `minimal failing case as a unit test:\n${String(result.unitTest)}`,
  );
}
