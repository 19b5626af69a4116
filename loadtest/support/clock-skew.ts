/**
 * A preload (`node --import ./loadtest/support/clock-skew.ts`) that shifts this process's JavaScript
 * clock by TEST_CLOCK_SKEW_MS (negative: behind), as on a host whose time synchronisation is
 * broken: Date.now(), `new Date()` and performance.timeOrigin (so performance.timeOrigin +
 * performance.now() agrees). Test and load-test trees only (test/support/clock-skew.ts loads this):
 * production code has no switch for this, and the image does not contain it. librdkafka's
 * own (C) clock is not shifted; the pipeline reads no time from it but the broker's timestamps.
 */
const skewMs = Number(process.env['TEST_CLOCK_SKEW_MS'] ?? '0');
if (!Number.isFinite(skewMs)) throw new RangeError(`TEST_CLOCK_SKEW_MS is not a number: ${process.env['TEST_CLOCK_SKEW_MS']}`);

if (skewMs !== 0) {
  const RealDate = Date;
  const realNow = RealDate.now.bind(RealDate);
  const now = (): number => realNow() + skewMs;
  class SkewedDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(now());
      else super(...(args as [string | number | Date]));
    }
    static override now(): number {
      return now();
    }
  }
  // Called without `new`, Date returns the current time as a string.
  const SkewedDateFunction = new Proxy(SkewedDate, {
    apply: () => new RealDate(now()).toString(),
  });
  globalThis.Date = SkewedDateFunction as DateConstructor;
  const timeOrigin = performance.timeOrigin + skewMs;
  Object.defineProperty(performance, 'timeOrigin', { value: timeOrigin, configurable: true });
}
