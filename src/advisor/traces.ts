import { TraceBuilder, TraceError, type Trace } from './trace.ts';
import { mulberry32 } from '../util/random.ts';
export { mulberry32 };

/**
 * Seeded, pure generators of arrival traces with KNOWN delay distributions, so that tests can
 * check the analysis against the truth and the simulator against situations that matter:
 *
 *   normal           delay ~ Normal(800 ms, 200 ms), clamped at 0 (clamping touches < 1e-4 %)
 *   lognormal        delay = 400 ms · e^(0.6·Z): a long right tail
 *   pareto           delay = 100 ms · U^(−1/2) (α = 2): a heavy tail (P99.9 = 3.16 s)
 *   step             log-normal, median 1 s (σ 0.3) until `stepAt`, then median 5 s (σ 0.3)
 *   bursts           log-normal (median 300 ms, σ 0.5); every 60 s traffic runs 10× for 5 s
 *   gateway-offline  log-normal (median 300 ms, σ 0.5); the gateway of 10 % of the devices is
 *                    offline for 10 minutes, then flushes its backlog within 10 s
 *   clock-ahead      log-normal (median 300 ms, σ 0.5); one device's clock runs 365 days ahead
 *
 * Devices send every `periodMs` at a random phase; the trace is built in event order and sorted
 * by ingest time. Everything derives from `seed`: the same spec gives the same trace.
 */
export const TRACE_KINDS = ['normal', 'lognormal', 'pareto', 'step', 'bursts', 'gateway-offline', 'clock-ahead'] as const;
export type TraceKind = (typeof TRACE_KINDS)[number];

export interface TraceSpec {
  readonly kind: TraceKind;
  readonly readings: number;
  readonly devices?: number;
  readonly seed?: number;
  /** Each device's sending interval. */
  readonly periodMs?: number;
  /** Event time where the trace starts (epoch ms). */
  readonly start?: number;
}

export interface GeneratedTrace {
  readonly trace: Trace;
  readonly kind: TraceKind;
  /** The parameters the trace was drawn with (delays in ms, times in epoch ms). */
  readonly params: Readonly<Record<string, number>>;
  /**
   * The true q-quantile of the arrival delay of the trace's regular readings (the mixture for
   * `step`); the gateway backlog and the clock-ahead device are excluded, see `params`.
   */
  readonly delayQuantile: (q: number) => number;
  readonly description: string;
}

export const DEFAULT_TRACE_START = Date.UTC(2024, 0, 1);
const YEAR_MS = 365 * 24 * 3_600_000;

/** Standard normal deviates (Box–Muller, both values used). */
export function normalSource(random: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const u = 1 - random();
    const v = random();
    const radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
}

/** Φ⁻¹(p): Acklam's rational approximation (relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p === 0 ? Number.NEGATIVE_INFINITY : p === 1 ? Number.POSITIVE_INFINITY : Number.NaN;
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  let x: number;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    x = (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  } else if (p <= 1 - low) {
    const q = p - 0.5;
    const r = q * q;
    x = ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
      (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - p));
    x = -(((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  return x;
}

/** Φ(x), the standard normal CDF. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

/** Complementary error function (Numerical Recipes' erfcc, relative error < 1.2e-7). */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

const lognormalQuantile = (medianMs: number, sigma: number) => (q: number) => medianMs * Math.exp(sigma * normalQuantile(q));

export function generateTrace(spec: TraceSpec): GeneratedTrace {
  const readings = spec.readings;
  const deviceCount = spec.devices ?? 1000;
  const periodMs = spec.periodMs ?? 1000;
  const start = spec.start ?? DEFAULT_TRACE_START;
  if (!Number.isSafeInteger(readings) || readings < 1) throw new TraceError(`readings ${readings} must be a positive integer`);
  if (!Number.isSafeInteger(deviceCount) || deviceCount < 1) throw new TraceError(`devices ${deviceCount} must be a positive integer`);
  if (!(periodMs >= 1)) throw new TraceError(`periodMs ${periodMs} must be at least 1`);
  const random = mulberry32(spec.seed ?? 1);
  const gaussian = normalSource(random);
  const phase = new Float64Array(deviceCount);
  for (let d = 0; d < deviceCount; d++) phase[d] = Math.floor(random() * periodMs);
  const width = String(deviceCount - 1).length;
  const names = Array.from({ length: deviceCount }, (_, d) => `dev-${String(d).padStart(width, '0')}`);
  const columns = new TraceBuilder(readings);
  const duration = Math.ceil(readings / deviceCount) * periodMs;
  const base = { readings, devices: deviceCount, periodMs, start, durationMs: duration, seed: spec.seed ?? 1 };
  /** Event time of the k-th reading of a steady fleet: round-robin over devices. */
  const steadyEvent = (k: number): number => start + Math.floor(k / deviceCount) * periodMs + phase[k % deviceCount]!;
  const logNormal = (medianMs: number, sigma: number): number => medianMs * Math.exp(sigma * gaussian());

  switch (spec.kind) {
    case 'normal': {
      const meanMs = 800;
      const sdMs = 200;
      for (let k = 0; k < readings; k++) {
        const event = steadyEvent(k);
        columns.add(event, event + Math.max(0, Math.round(meanMs + sdMs * gaussian())), k % deviceCount);
      }
      return done('normal', { ...base, meanMs, sdMs }, (q) => Math.max(0, meanMs + sdMs * normalQuantile(q)), `Normal(${meanMs} ms, ${sdMs} ms) delays`);
    }
    case 'lognormal': {
      const medianMs = 400;
      const sigma = 0.6;
      for (let k = 0; k < readings; k++) {
        const event = steadyEvent(k);
        columns.add(event, event + Math.round(logNormal(medianMs, sigma)), k % deviceCount);
      }
      return done('lognormal', { ...base, medianMs, sigma }, lognormalQuantile(medianMs, sigma), `log-normal delays, median ${medianMs} ms, σ ${sigma}`);
    }
    case 'pareto': {
      const scaleMs = 100;
      const alpha = 2;
      for (let k = 0; k < readings; k++) {
        const event = steadyEvent(k);
        columns.add(event, event + Math.round(scaleMs * Math.pow(1 - random(), -1 / alpha)), k % deviceCount);
      }
      return done('pareto', { ...base, scaleMs, alpha }, (q) => scaleMs * Math.pow(1 - q, -1 / alpha), `Pareto delays, scale ${scaleMs} ms, α ${alpha}`);
    }
    case 'step': {
      const beforeMs = 1000;
      const afterMs = 5000;
      const sigma = 0.3;
      const stepAt = start + Math.floor(duration / 2);
      let before = 0;
      for (let k = 0; k < readings; k++) {
        const event = steadyEvent(k);
        const early = event < stepAt;
        if (early) before++;
        columns.add(event, event + Math.round(logNormal(early ? beforeMs : afterMs, sigma)), k % deviceCount);
      }
      const weight = before / readings;
      const cdf = (x: number): number =>
        x <= 0 ? 0 : weight * normalCdf(Math.log(x / beforeMs) / sigma) + (1 - weight) * normalCdf(Math.log(x / afterMs) / sigma);
      return done(
        'step',
        { ...base, beforeMedianMs: beforeMs, afterMedianMs: afterMs, sigma, stepAt, readingsBefore: before },
        (q) => invertCdf(cdf, q, 0, afterMs * 100),
        `log-normal delays (σ ${sigma}) whose median steps from ${beforeMs} ms to ${afterMs} ms halfway`,
      );
    }
    case 'bursts': {
      const medianMs = 300;
      const sigma = 0.5;
      const everyMs = 60_000;
      const burstMs = 5000;
      const factor = 10;
      const baseStep = periodMs / deviceCount;
      let t = start;
      for (let k = 0; k < readings; k++) {
        const inBurst = (t - start) % everyMs < burstMs;
        t += inBurst ? baseStep / factor : baseStep;
        const event = Math.floor(t);
        columns.add(event, event + Math.round(logNormal(medianMs, sigma)), k % deviceCount);
      }
      return done(
        'bursts',
        { ...base, medianMs, sigma, burstEveryMs: everyMs, burstMs, burstFactor: factor, durationMs: Math.ceil(t - start) },
        lognormalQuantile(medianMs, sigma),
        `log-normal delays; traffic ×${factor} for ${burstMs / 1000} s every ${everyMs / 1000} s`,
      );
    }
    case 'gateway-offline': {
      const medianMs = 300;
      const sigma = 0.5;
      const outageMs = 600_000;
      const flushMs = 10_000;
      if (duration < 2 * outageMs) {
        throw new TraceError(
          `gateway-offline needs at least ${(2 * outageMs) / 60_000} minutes of readings to show the outage and the flush; ` +
            `${readings} readings from ${deviceCount} devices every ${periodMs} ms last ${Math.round(duration / 60_000)} min: use more readings or fewer devices`,
        );
      }
      const gatewayDevices = Math.max(1, Math.floor(deviceCount / 10));
      const offlineAt = start + Math.floor(duration * 0.4);
      const onlineAt = offlineAt + outageMs;
      for (let d = 0; d < gatewayDevices; d++) names[d] = `gw-1/${names[d]!}`;
      let backlog = 0;
      for (let k = 0; k < readings; k++) {
        const event = steadyEvent(k);
        const device = k % deviceCount;
        let ingest = event + Math.round(logNormal(medianMs, sigma));
        if (device < gatewayDevices && event >= offlineAt && event < onlineAt) {
          // The gateway buffered it and drains its backlog in event order on reconnecting.
          ingest = onlineAt + Math.floor(((event - offlineAt) / outageMs) * flushMs) + Math.round(logNormal(medianMs, sigma));
          backlog++;
        }
        columns.add(event, ingest, device);
      }
      return done(
        'gateway-offline',
        { ...base, medianMs, sigma, gatewayDevices, offlineAt, onlineAt, outageMs, flushMs, backlogReadings: backlog },
        lognormalQuantile(medianMs, sigma),
        `log-normal delays; gateway gw-1 (${gatewayDevices} devices) offline ${outageMs / 60_000} min, then flushes in ${flushMs / 1000} s`,
      );
    }
    case 'clock-ahead': {
      const medianMs = 300;
      const sigma = 0.5;
      const aheadDevice = 0;
      names[aheadDevice] = 'dev-clock-ahead';
      for (let k = 0; k < readings; k++) {
        const event = steadyEvent(k);
        const device = k % deviceCount;
        const ingest = event + Math.round(logNormal(medianMs, sigma));
        columns.add(device === aheadDevice ? event + YEAR_MS : event, ingest, device);
      }
      return done(
        'clock-ahead',
        { ...base, medianMs, sigma, aheadDevice, aheadMs: YEAR_MS },
        lognormalQuantile(medianMs, sigma),
        `log-normal delays; device dev-clock-ahead's clock runs 365 days ahead`,
      );
    }
    default:
      throw new TraceError(`unknown trace kind '${String(spec.kind)}'; one of ${TRACE_KINDS.join(', ')}`);
  }

  function done(kind: TraceKind, params: Record<string, number>, delayQuantile: (q: number) => number, description: string): GeneratedTrace {
    // Entries carry device indexes into `names` (renamed above for some kinds); interning the
    // names in order, in the default tenant, gives device d the index d.
    for (const name of names) columns.deviceId(name);
    return { trace: columns.build(), kind, params, delayQuantile, description };
  }
}

/** The x with cdf(x) = q, by bisection over [low, high]. */
function invertCdf(cdf: (x: number) => number, q: number, low: number, high: number): number {
  let lo = low;
  let hi = high;
  for (let i = 0; i < 100 && hi - lo > 1e-6; i++) {
    const mid = (lo + hi) / 2;
    if (cdf(mid) < q) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
